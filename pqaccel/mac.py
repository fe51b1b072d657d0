"""The conventional baseline: a multiply-accumulate engine for the same layers and streams.

Configuration, golden model (exact ``x @ w`` then the same requantization as the PQ engine) and
table-port address map.  The hardware is :class:`pqaccel.rtl.mac.MacEngine`.
"""

from dataclasses import dataclass, field

from . import fixedpoint as fx
from .addrmap import AddressMap
from .config import EngineBase, EngineConfig, LayerConfig, Requant, _check_int, config_from_dict, BITS_MIN, BITS_MAX
from .fixedpoint import field_bits

__all__ = ["MacConfig", "MacAddressMap", "mac_forward", "MAC_REGIONS"]

MAC_REGIONS = {"weights": 0, "weight_row": 1, "control": 2}
MAC_CONTROL_REGS = {"d": 0, "m": 1, "commit": 2, "requant": 3}


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
    def for_engine(cls, cfg: EngineConfig, *, d_par=9, m_par=16, w_bits=8, mult="dsp"):
        """The MAC counterpart of a PQ engine: same largest layer, input width, output format."""
        return cls(d_max=cfg.v * cfg.c_max, m_max=cfg.m_max, d_par=min(d_par, cfg.v * cfg.c_max),
                   m_par=min(m_par, cfg.m_max), in_bits=cfg.widths.in_bits, w_bits=w_bits,
                   out_bits=cfg.widths.out_bits, requant=cfg.requant, wide_port=cfg.wide_port, mult=mult)

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
        return MacAddressMap(self)

    def memories(self):
        return {"weights": {"count": self.m_par, "depth": 2 * self.g_max * self.mt_max,
                            "width": self.d_par * self.w_bits}}

    def min_logic_luts(self):
        """A lower bound of the logic (LUT4s): one per input bit of each adder of the
        accumulation trees (:mod:`pqaccel.capacity`); the multipliers may sit in DSPs."""
        return self.m_par * (self.d_par - 1) * self.in_bits

    def forward(self, x, w, shift=None, relu=False):
        return mac_forward(self, x, w, shift, relu)

    def multiplier_utilization(self, layer):
        """Useful multiplies over issued multiplier slots for ``layer``."""
        return (layer.d * layer.m) / (self.ideal_cycles_per_row(layer) * self.d_par * self.m_par)

    def derived(self):
        return {"product_bits": self.product_bits, "acc_bits": self.acc_bits,
                "result_bits": self.result_bits, "g_max": self.g_max, "mt_max": self.mt_max}


def mac_from_dict(d):
    """:meth:`MacConfig.from_dict`."""
    return MacConfig.from_dict(d)


def mac_forward(cfg: MacConfig, x, w, shift=None, relu=False):
    """Exact ``x @ w`` (``int64``), then the configured requantization (with ``requant.runtime``,
    the layer's ``shift`` and ``relu``)."""
    from .model import as_int_array
    x = as_int_array("x", x, 2)
    w = as_int_array("w", w, 2)
    for name, a, bits in (("x", x, cfg.in_bits), ("w", w, cfg.w_bits)):
        lo, hi = fx.signed_range(bits)
        if a.size and (a.min() < lo or a.max() > hi):
            raise ValueError(f"{name} must hold {bits}-bit signed integers in [{lo}, {hi}], "
                             f"got values in [{a.min()}, {a.max()}]")
    cfg.check_layer(LayerConfig(d=x.shape[1], m=w.shape[1], n=max(1, x.shape[0])))
    return fx.requantize_np(x @ w, cfg.requant, cfg.out_bits, shift, relu)


class MacAddressMap(AddressMap):
    """``weights`` (0): fields ``dl, ml, t, g``: weight ``W[g*d_par + dl, t*m_par + ml]``,
    ``w_bits`` two's complement.  ``control`` (2): ``reg`` 0 = ``d``, 1 = ``m``, 2 = commit."""

    regions = MAC_REGIONS
    control_regs = MAC_CONTROL_REGS

    def __init__(self, cfg: MacConfig):
        self.cfg = cfg
        layout = {
            "weights": [("dl", field_bits(cfg.d_par)), ("ml", field_bits(cfg.m_par)),
                        ("t", field_bits(cfg.mt_max)), ("g", field_bits(cfg.g_max))],
            "control": [("reg", 2)],
        }
        data_bits = max(cfg.w_bits, cfg.d_max.bit_length(), cfg.m_max.bit_length(),
                        self.requant_data_bits(cfg.requant))
        self.regions = {r: c for r, c in MAC_REGIONS.items() if r != "weight_row" or cfg.wide_port}
        if cfg.wide_port:
            layout["weight_row"] = [("t", field_bits(cfg.mt_max)), ("g", field_bits(cfg.g_max))]
            data_bits = max(data_bits, cfg.d_par * cfg.m_par * cfg.w_bits)
        super().__init__(layout, data_bits)

    def data_formats(self):
        b = self.cfg.w_bits
        return {"weights": {"elements": 1, "element_bits": b, "signed": True,
                            "packing": f"the weight at bits [{b - 1}:0], two's complement"},
                **({"weight_row": {"elements": self.cfg.d_par * self.cfg.m_par, "element_bits": b, "signed": True,
                                   "packing": f"weight (dl, ml) at bits [(ml*{self.cfg.d_par} + dl)*{b} +: {b}]"}}
                   if self.cfg.wide_port else {}),
                "control": {"packing": "d: inputs (1..d_max); m: outputs (1..m_max); commit: any value; "
                                       + self.requant_format(self.cfg.requant)}}

    def layer_writes(self, lq):
        """The writes of a converted network layer kept conventional (its weights with the bias rows)."""
        return self.weight_writes(lq.w, shift=lq.shift, relu=lq.relu)

    def weight_writes(self, w, commit=True, shift=None, relu=False):
        cfg = self.cfg
        d, m = w.shape
        wb = (1 << cfg.w_bits) - 1
        writes = [(self.address("control", reg=MAC_CONTROL_REGS["d"]), d),
                  (self.address("control", reg=MAC_CONTROL_REGS["m"]), m)]
        word = self.requant_word(cfg.requant, shift, relu)
        if cfg.requant.runtime:
            writes.append((self.address("control", reg=MAC_CONTROL_REGS["requant"]), word))
        if cfg.wide_port:
            for g in range(-(-d // cfg.d_par)):
                for t in range(-(-m // cfg.m_par)):
                    word = 0
                    for ml in range(cfg.m_par):
                        for dl in range(cfg.d_par):
                            di, mi = g * cfg.d_par + dl, t * cfg.m_par + ml
                            if di < d and mi < m:
                                word |= (int(w[di, mi]) & wb) << ((ml * cfg.d_par + dl) * cfg.w_bits)
                    writes.append((self.address("weight_row", t=t, g=g), word))
        else:
            for di in range(d):
                g, dl = divmod(di, cfg.d_par)
                for mi in range(m):
                    t, ml = divmod(mi, cfg.m_par)
                    writes.append((self.address("weights", dl=dl, ml=ml, t=t, g=g), int(w[di, mi]) & wb))
        if commit:
            writes.append((self.address("control", reg=MAC_CONTROL_REGS["commit"]), 1))
        return writes
