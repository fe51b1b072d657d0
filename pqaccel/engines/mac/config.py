"""The conventional baseline's configuration: a multiply-accumulate engine for the same layers
and streams as the PQ engine (golden model :mod:`.model`, table port :mod:`.addrmap`, hardware
:mod:`.rtl`)."""

from dataclasses import dataclass, field

from ... import fixedpoint as fx, pipeline
from ...config import EngineBase, Requant, _check_int, config_from_dict, BITS_MIN, BITS_MAX

__all__ = ["MacConfig"]


@dataclass(frozen=True)
class MacConfig(EngineBase):
    """``d_par`` input elements times ``m_par`` outputs per cycle (``d_par*m_par`` multipliers),
    ``in_bits`` inputs, ``w_bits`` weights, layers up to ``d_max`` x ``m_max``; one row takes
    ``ceil(d/d_par) * ceil(m/m_par)`` cycles.  ``wide_port``: the table port also takes all
    ``d_par * m_par`` weights of one memory row per write (region ``weight_row``)."""

    d_max: int = 576
    m_max: int = 64
    d_par: int = 9
    m_par: int = 16
    in_bits: int = 8
    w_bits: int = 8
    out_bits: int = 16
    requant: Requant = field(default_factory=Requant)
    wide_port: bool = False
    #: ``dsp`` or ``lut`` (:data:`pqaccel.fixedpoint.MULTIPLIERS`): DSP blocks, or multipliers
    #: built from logic only (the PQA paper's "no DSPs" budget for the baseline too)
    mult: str = "dsp"

    kind = "mac"
    ideal_formula = "ceil(D/d_par) * ceil(M/m_par)"

    def __post_init__(self):
        if not isinstance(self.wide_port, bool):
            raise TypeError(f"wide_port must be a boolean, got {self.wide_port!r}")
        if self.mult not in fx.MULTIPLIERS:
            raise ValueError(f"mult must be one of {', '.join(fx.MULTIPLIERS)}, got {self.mult!r}")
        _check_int("d_max", self.d_max, 1, 1 << 16)
        _check_int("m_max", self.m_max, 1, 4096)
        _check_int("d_par", self.d_par, 1, self.d_max, f"an integer from 1 to d_max={self.d_max}")
        _check_int("m_par", self.m_par, 1, self.m_max, f"an integer from 1 to m_max={self.m_max}")
        for name in ("in_bits", "w_bits", "out_bits"):
            _check_int(name, getattr(self, name), BITS_MIN, BITS_MAX)
        self._check_requant()

    @classmethod
    def for_engine(
        cls,
        cfg,
        *,
        d_max=None,
        m_max=None,
        d_par=9,
        m_par=16,
        w_bits=8,
        mult="dsp",
        wide_port=None,
        shift_max=None,
    ):
        """The MAC engine that runs what the engine ``cfg`` runs -- the one rule every comparison,
        network conversion and network run uses: layers up to ``d_max x m_max`` (default ``cfg``'s),
        ``cfg``'s input and output widths and table-port shape (``wide_port`` overrides it),
        ``min(d_par, d_max) x min(m_par, m_max)`` multipliers of ``w_bits``-bit weights.  The
        requantization is ``cfg``'s; with ``shift_max`` it is a run-time shift of up to
        ``min(shift_max, acc_bits - 1)`` with ``cfg``'s rounding and saturation (a converted
        network's conventional layers: int8 x int8 sums need more shift than the PQ engine's)."""
        d_max = cfg.d_max if d_max is None else d_max
        m_max = cfg.m_max if m_max is None else m_max
        rq = cfg.requant
        base = cls(
            d_max=d_max,
            m_max=m_max,
            d_par=min(d_par, d_max),
            m_par=min(m_par, m_max),
            in_bits=cfg.in_bits,
            w_bits=w_bits,
            out_bits=cfg.out_bits,
            requant=rq
            if shift_max is None
            else Requant("shift", 0, rq.rounding, rq.saturate, runtime=True),
            wide_port=cfg.wide_port if wide_port is None else wide_port,
            mult=mult,
        )
        if shift_max is None:
            return base
        return base.replace(
            requant=Requant(
                "shift", min(shift_max, base.acc_bits - 1), rq.rounding, rq.saturate, runtime=True
            )
        )

    @property
    def product_range(self):
        xl, xh = fx.signed_range(self.in_bits)
        wl, wh = fx.signed_range(self.w_bits)
        prods = [xl * wl, xl * wh, xh * wl, xh * wh]
        return min(prods), max(prods)

    @property
    def product_bits(self):
        return fx.signed_bits_for(*self.product_range)

    @property
    def acc_bits(self):
        lo, hi = self.product_range
        return fx.signed_bits_for(self.d_max * lo, self.d_max * hi)

    @property
    def result_bits(self):
        return fx.requant_bits(self.requant, self.acc_bits, self.out_bits)

    # -- engine protocol (EngineBase) ------------------------------------------------------------
    @property
    def group_size(self):
        return self.d_par

    @property
    def out_lanes(self):
        return self.m_par

    def d_limit_message(self):
        return f"d must be an integer from 1 to d_max={self.d_max}"

    def steps_per_group(self, layer):
        """One cycle per output beat: ``ceil(M/m_par)``."""
        return self.m_steps(layer)

    @classmethod
    def from_dict(cls, d, base=None):
        """A :class:`MacConfig` from a nested dict (as in a manifest), every value validated."""
        return config_from_dict(cls, d, base or cls(), "MAC engine", {"requant": Requant})

    def address_map(self):
        from .addrmap import MacAddressMap

        return MacAddressMap(self)

    def row_latency(self, layer):
        """Cycles from a layer's last row issued to its last output beat (:mod:`pqaccel.net.perf`):
        weight read, multiply, accumulator, the output FIFO hand-over (2) and the row's output
        beats after the first."""
        return self.pipeline()["lookup_stages"] + 2 + self.m_steps(layer) - 1

    # -- resource model hooks (:mod:`pqaccel.estimate`) ----------------------------------------
    def memory_list(self, family=None):
        """Every memory of the hardware: the weight banks and the output FIFO."""
        out_w = self.m_par * self.result_bits + 1
        return [
            {
                "name": "weights",
                "block": "weights",
                "count": self.m_par,
                "depth": pipeline.weight_depth(self),
                "width": self.d_par * self.w_bits,
                "granularity": self.w_bits,
            },
            {
                "name": "out_fifo",
                "block": "fifos",
                "count": 1,
                "depth": self.pipeline()["out_fifo_depth"] - 1,
                "width": out_w,
                "granularity": out_w,
            },
        ]

    def dsp_multipliers(self, rule):
        """``(block, count)``: DSP blocks of the multipliers (none with ``mult="lut"`` or when a
        product is narrower than the family's ``min_y``)."""
        a, b = self.in_bits, self.w_bits
        if self.mult != "dsp" or a + b < rule["min_y"]:
            return "multiply", 0
        return "multiply", self.d_par * self.m_par * -(-a // rule["max_a"]) * -(-b // rule["max_a"])

    def logic_features(self):
        """``{block: {feature: count}}``: what each block's logic scales with."""
        prod = self.product_bits
        shift_levels = fx.field_bits(self.requant.shift + 1) if self.requant.runtime else 0
        return {
            "multiply": {
                "lut_mult": self.d_par * self.m_par * self.in_bits * self.w_bits
                if self.mult == "lut"
                else 0,
                "products": self.d_par * self.m_par * prod,
            },
            "weights": {
                "enables": self.m_par * self.d_par,
                "wide": self.d_par * self.m_par * self.w_bits if self.wide_port else 0,
            },
            "accumulate": {
                "tree": self.m_par * max(0, self.d_par - 1) * (prod + fx.tree_levels(self.d_par)),
                "sums": self.m_par * self.mt_max * self.acc_bits,
                "requant": self.m_par * self.acc_bits * (1 + shift_levels),
            },
            "control": {"const": 1, "port": self.address_map().data_bits},
        }

    def min_logic_luts(self):
        """A lower bound of the logic (LUT4s): one per input bit of each adder of the
        accumulation trees (:mod:`pqaccel.capacity`); the multipliers may sit in DSPs."""
        return self.m_par * (self.d_par - 1) * self.in_bits

    def forward(self, x, w, shift=None, relu=False):
        """The golden model (:func:`pqaccel.engines.mac.model.mac_forward`)."""
        from .model import mac_forward

        return mac_forward(self, x, w, shift, relu)

    def pipeline(self):
        """Weight read, multiply, accumulator; the output FIFO; rows in flight (the issuing
        row and the one whose start is counted a cycle late)."""
        lookup = (
            pipeline.MEMORY_READ
            + pipeline.MULTIPLY
            + pipeline.accumulator(self.d_par, self.requant)
        )
        return {
            "lookup_stages": lookup,
            "out_fifo_depth": lookup + pipeline.CREDIT_ROUND_TRIP,
            "rows_in_flight": 2,
        }

    def multiplier_utilization(self, layer):
        """Useful multiplies over issued multiplier slots for ``layer``."""
        return (layer.d * layer.m) / (self.ideal_cycles_per_row(layer) * self.d_par * self.m_par)

    def derived(self):
        return {
            "product_bits": self.product_bits,
            "acc_bits": self.acc_bits,
            "result_bits": self.result_bits,
            "g_max": self.g_max,
            "mt_max": self.mt_max,
        }
