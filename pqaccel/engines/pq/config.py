"""The PQ engine's configuration: everything fixed in hardware, every derived width computed from
the exact integer ranges (:mod:`pqaccel.fixedpoint`), never guessed."""

from dataclasses import dataclass, field

from ... import fixedpoint as fx, pipeline
from ...config import (
    C_MAX_MAX,
    K_MAX,
    M_MAX_MAX,
    METRICS,
    V_MAX,
    EngineBase,
    Parallelism,
    Requant,
    Widths,
    _check_choice,
    _check_int,
    config_from_dict,
)

__all__ = ["EngineConfig", "engine_from_dict"]


@dataclass(frozen=True)
class EngineConfig(EngineBase):
    """Everything fixed in hardware.

    ``v``: subvector length; ``k``: prototypes per subspace; ``c_max``, ``m_max``: the largest
    number of subspaces and output channels a layer may have; ``par``: :class:`Parallelism`;
    ``widths``: :class:`Widths`; ``metric``: ``l1``, ``l2`` or ``chebyshev``; ``requant``:
    :class:`Requant`.

    Raises :class:`TypeError` or :class:`ValueError` naming the parameter, its value and what is
    valid.
    """

    v: int = 4
    k: int = 16
    c_max: int = 8
    m_max: int = 8
    par: Parallelism = field(default_factory=Parallelism)
    widths: Widths = field(default_factory=Widths)
    metric: str = "l1"
    requant: Requant = field(default_factory=Requant)
    wide_port: bool = False

    kind = "pq"
    ideal_formula = "ceil(C/c_par) * max(k/k_par, ceil(M/m_par))"

    def __post_init__(self):
        if not isinstance(self.wide_port, bool):
            raise TypeError(f"wide_port must be a boolean, got {self.wide_port!r}")
        _check_int("v", self.v, 1, V_MAX)
        _check_int("k", self.k, 2, K_MAX)
        _check_int("c_max", self.c_max, 1, C_MAX_MAX)
        _check_int("m_max", self.m_max, 1, M_MAX_MAX)
        for name, cls in (("par", Parallelism), ("widths", Widths), ("requant", Requant)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, got {getattr(self, name)!r}")
        _check_choice("metric", self.metric, METRICS)
        p = self.par
        if p.c_par > self.c_max:
            raise ValueError(
                f"c_par must be an integer from 1 to c_max={self.c_max}, got {p.c_par!r}"
            )
        if self.k % p.k_par:
            divisors = [d for d in range(1, self.k + 1) if self.k % d == 0]
            raise ValueError(f"k_par must divide k={self.k} (one of {divisors}), got {p.k_par!r}")
        if p.m_par > self.m_max:
            raise ValueError(
                f"m_par must be an integer from 1 to m_max={self.m_max}, got {p.m_par!r}"
            )
        self._check_requant()

    # -- derived widths ---------------------------------------------------------------------------
    @property
    def idx_bits(self):
        """Width of a prototype index."""
        return max(1, (self.k - 1).bit_length())

    @property
    def diff_max(self):
        """Largest ``|x - p|`` over all inputs and prototypes in range."""
        return fx.diff_abs_max(self.widths.in_bits, self.widths.proto_bits)

    @property
    def dist_max(self):
        """Largest distance over all inputs and prototypes in range."""
        return fx.dist_max(self.metric, self.v, self.widths.in_bits, self.widths.proto_bits)

    @property
    def dist_bits(self):
        """Width of an (unsigned) distance; exact, never wraps."""
        return max(1, self.dist_max.bit_length())

    @property
    def acc_range(self):
        lo, hi = fx.signed_range(self.widths.lut_bits)
        return self.c_max * lo, self.c_max * hi

    @property
    def acc_bits(self):
        """Signed width of the exact accumulator of ``c_max`` table entries; never wraps."""
        return fx.signed_bits_for(*self.acc_range)

    @property
    def result_bits(self):
        """Signed width of a streamed output: ``out_bits`` when requantized, else ``acc_bits``."""
        return self.widths.out_bits if self.requant.mode == "shift" else self.acc_bits

    @property
    def k_steps(self):
        """Cycles the encoder spends per subspace group (``k / k_par``)."""
        return self.k // self.par.k_par

    # -- engine protocol (EngineBase) ------------------------------------------------------------
    @property
    def d_max(self):
        """Largest layer input width: ``v * c_max``."""
        return self.v * self.c_max

    @property
    def in_bits(self):
        """Width of an input element."""
        return self.widths.in_bits

    @property
    def out_bits(self):
        """Width of an output element (before requantization: ``result_bits``)."""
        return self.widths.out_bits

    @property
    def group_size(self):
        """Input elements per input beat: ``c_par`` subvectors of ``v``."""
        return self.v * self.par.c_par

    @property
    def out_lanes(self):
        return self.par.m_par

    def d_limit_message(self):
        return f"d must be at most v*c_max={self.d_max} (C = ceil(d/v) <= c_max={self.c_max})"

    def steps_per_group(self, layer):
        """``max(k/k_par, ceil(M/m_par))``: the encoder's steps or the output beats."""
        return max(self.k_steps, self.m_steps(layer))

    def subspaces(self, layer):
        """``C = ceil(d / v)``."""
        return -(-self.check_layer(layer).d // self.v)

    @classmethod
    def from_dict(cls, d, base=None):
        return engine_from_dict(d, base)

    def address_map(self):
        from .addrmap import PQAddressMap

        return PQAddressMap(self)

    def row_latency(self, layer):
        """Cycles from a layer's last row issued to its last output beat, for the cycle model
        (:mod:`pqaccel.net.perf`): the encoder and lookup pipelines, the hand-over through the
        two buffered FIFOs (4) and ``min(ceil(M/m_par), k/k_par) - k/k_par`` (the last group's
        lookups against its encoder steps)."""
        pl = self.pipeline()
        return (
            pl["encode_stages"]
            + pl["lookup_stages"]
            + 4
            + min(self.m_steps(layer), self.k_steps)
            - self.k_steps
        )

    # -- resource model hooks (:mod:`pqaccel.estimate`) ----------------------------------------
    def memory_list(self, family=None):
        """``[{"name", "block", "count", "depth", "width", "granularity"}]``: every memory of the
        hardware as built for ``family`` (None: the portable form; ``SyncFIFOBuffered`` keeps
        ``depth - 1`` words in memory, its head in a register)."""
        p, pl = self.par, self.pipeline()
        g_bits = max(1, fx.field_bits(self.g_max))
        code_w = p.c_par * self.idx_bits + g_bits + 2  # codes, tag {g, last_group, bank}
        out_w = p.m_par * self.result_bits + 1  # data, last
        vec = self.v * self.widths.proto_bits
        # LUT-RAM codebooks: one memory per (lane, slot), or per (lane, slot, element) where the
        # family splits them (pipeline.codebook_split); block RAM: one per lane
        slots = 1 if pipeline.codebook_lutram(self) else p.k_par
        elems = self.v if pipeline.codebook_split(self, family) else 1
        return [
            {
                "name": "codebook",
                "block": "codebook",
                "count": p.c_par * p.k_par // slots * elems,
                "depth": pipeline.codebook_depth(self),
                "width": slots * vec // elems,
                "granularity": vec // elems,
            },
            {
                "name": "lut",
                "block": "tables",
                "count": p.c_par * p.m_par,
                "depth": pipeline.table_depth(self),
                "width": self.widths.lut_bits,
                "granularity": self.widths.lut_bits,
            },
            {
                "name": "code_fifo",
                "block": "fifos",
                "count": 1,
                "depth": pl["code_fifo_depth"] - 1,
                "width": code_w,
                "granularity": code_w,
            },
            {
                "name": "out_fifo",
                "block": "fifos",
                "count": 1,
                "depth": pl["out_fifo_depth"] - 1,
                "width": out_w,
                "granularity": out_w,
            },
        ]

    def dsp_multipliers(self, rule):
        """``(block, count)``: L2 distance units whose squares are too wide for a table use a
        multiplier each, a DSP block where the product reaches the family's ``min_y``."""
        if self.metric == "l2":
            db = self.diff_max.bit_length()
            if db > pipeline.SQUARE_TABLE_MAX_BITS and 2 * db >= rule["min_y"]:
                return "distance", self.par.c_par * self.par.k_par * self.v
        return "distance", 0

    def logic_features(self):
        """``{block: {feature: count}}``: what each block's logic scales with."""
        p, w = self.par, self.widths
        du = p.c_par * p.k_par  # distance units
        db = self.diff_max.bit_length()  # |x - p|
        dist = self.dist_bits
        l2 = self.metric == "l2"
        sq_table = l2 and db <= pipeline.SQUARE_TABLE_MAX_BITS
        shift_levels = fx.field_bits(self.requant.shift + 1) if self.requant.runtime else 0
        return {
            "distance": {
                "abs": du * self.v * db,  # |x - p| per element
                "add": du * (self.v - 1) * dist,  # the adder tree
                "square_table": du * self.v * 2 * db * 2 ** max(0, db - 4) if sq_table else 0,
                "square_dsp": du * self.v * 2 * db if l2 and not sq_table else 0,
            },
            "argmin": {"compare": du * (dist + self.idx_bits)},  # comparators and muxes
            "codebook": {"enables": du},
            "tables": {
                "enables": p.c_par * p.m_par,
                "wide": p.c_par * p.m_par * w.lut_bits if self.wide_port else 0,
            },
            "accumulate": {
                "tree": p.m_par * max(0, p.c_par - 1) * (w.lut_bits + fx.tree_levels(p.c_par)),
                # running sums: a register per output beat and lane, read through a mux
                "sums": p.m_par * self.mt_max * self.acc_bits,
                "requant": p.m_par * self.acc_bits * (1 + shift_levels),
            },
            "control": {"const": 1, "port": self.address_map().data_bits},
        }

    def min_logic_luts(self):
        """A lower bound of the logic (LUT4s): one per bit of each element subtractor of the
        distance units and of each adder that sums the looked-up table entries
        (:mod:`pqaccel.capacity`)."""
        p = self.par
        return (
            p.c_par * p.k_par * self.v * self.widths.in_bits
            + p.m_par * (p.c_par - 1) * self.widths.lut_bits
        )

    def forward(self, x, protos, lut, shift=None, relu=False):
        """The golden model (:func:`pqaccel.engines.pq.model.forward`)."""
        from . import model

        return model.forward(self, x, protos, lut, shift, relu)

    def pipeline(self):
        """The pipeline: ``encode_stages`` (codebook read + encoder), ``lookup_stages`` (table
        read + accumulator), the code and output FIFO depths that cover each credit loop, and
        ``rows_in_flight`` (the most rows between first issue and last table read: the encoder
        pipeline, the code FIFO and the lookup issue each hold at least one group of a row)."""
        encode = pipeline.codebook(self) + pipeline.encoder(self)
        lookup = pipeline.MEMORY_READ + pipeline.accumulator(self.par.c_par, self.requant)
        code_depth = encode + pipeline.CREDIT_ROUND_TRIP
        return {
            "encode_stages": encode,
            "lookup_stages": lookup,
            "code_fifo_depth": code_depth,
            "out_fifo_depth": lookup + pipeline.CREDIT_ROUND_TRIP,
            "rows_in_flight": encode + code_depth + 3,
        }

    # -- (de)serialization ------------------------------------------------------------------------
    def derived(self):
        return {
            "idx_bits": self.idx_bits,
            "dist_max": self.dist_max,
            "dist_bits": self.dist_bits,
            "acc_bits": self.acc_bits,
            "result_bits": self.result_bits,
            "k_steps": self.k_steps,
            "g_max": self.g_max,
            "mt_max": self.mt_max,
        }


_SECTIONS = {"par": Parallelism, "widths": Widths, "requant": Requant}


def engine_from_dict(d, base=None):
    """Build an :class:`EngineConfig` from a nested dict (as in TOML/JSON), over ``base``."""
    return config_from_dict(EngineConfig, d, base or EngineConfig(), "engine", _SECTIONS)
