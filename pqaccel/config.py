"""One configuration object, the source of truth for the golden model, the RTL and the tools.

An :class:`EngineConfig` is fixed when the hardware is generated; a :class:`LayerConfig` is set at
run time, so one engine runs every layer of a network that fits its maxima.  Every derived width
is computed here from the exact integer ranges (see :mod:`pqaccel.fixedpoint`), never guessed.
"""

import json
import operator
import tomllib
from dataclasses import dataclass, field, fields, asdict, replace

from . import fixedpoint as fx

__all__ = [
    "METRICS", "ROUNDINGS", "REQUANT_MODES",
    "Widths", "Parallelism", "Requant", "EngineConfig", "LayerConfig",
    "PRESETS", "preset", "load_config_file", "engine_from_dict", "EngineBase", "ENGINE_KINDS",
    "engine_from_manifest",
]

METRICS = ("l1", "l2", "chebyshev")
ROUNDINGS = ("floor", "half_up", "half_even")
REQUANT_MODES = ("raw", "shift")

BITS_MIN, BITS_MAX = 2, 16
V_MAX = 64
K_MAX = 256
C_MAX_MAX = 1024
M_MAX_MAX = 4096


def _check_int(name, value, lo, hi, what=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be {what or f'an integer from {lo} to {hi}'}, got {value!r}")


def _check_choice(name, value, choices):
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")


@dataclass(frozen=True)
class Widths:
    """Signed two's-complement widths of the stored and streamed numbers.

    ``in_bits``: input elements; ``proto_bits``: prototype elements; ``lut_bits``: lookup-table
    entries; ``out_bits``: requantized outputs (unused when requantization is ``raw``).
    """
    in_bits: int = 8
    proto_bits: int = 8
    lut_bits: int = 8
    out_bits: int = 16

    def __post_init__(self):
        for f in fields(self):
            _check_int(f.name, getattr(self, f.name), BITS_MIN, BITS_MAX)


@dataclass(frozen=True)
class Parallelism:
    """Hardware parallelism: subspaces, prototypes and output channels handled per cycle."""
    c_par: int = 1
    k_par: int = 1
    m_par: int = 1

    def __post_init__(self):
        for f in fields(self):
            _check_int(f.name, getattr(self, f.name), 1, 4096, "a positive integer")


@dataclass(frozen=True)
class Requant:
    """Output requantization.

    ``mode="raw"`` streams the exact accumulator.  ``mode="shift"`` divides by ``2**shift`` with the
    given ``rounding`` (``floor``, ``half_up`` = round half towards +inf, ``half_even``) and then either
    saturates (``saturate=True``) or wraps to ``out_bits``.

    ``runtime=True`` (with ``mode="shift"``) makes the shift and a ReLU per-layer settings: the
    control register ``requant`` of each table bank holds a shift from 0 to ``shift`` (reset:
    ``shift``) and a ReLU bit (reset: off); ReLU sets negative requantized outputs to 0.  That
    is what a network needs: every layer scales its outputs differently and only some are
    followed by a ReLU.
    """
    mode: str = "raw"
    shift: int = 0
    rounding: str = "half_up"
    saturate: bool = True
    runtime: bool = False

    def __post_init__(self):
        _check_choice("requant.mode", self.mode, REQUANT_MODES)
        _check_int("requant.shift", self.shift, 0, 40, "an integer from 0 to 40")
        _check_choice("requant.rounding", self.rounding, ROUNDINGS)
        if not isinstance(self.saturate, bool):
            raise TypeError(f"requant.saturate must be a boolean, got {self.saturate!r}")
        if not isinstance(self.runtime, bool):
            raise TypeError(f"requant.runtime must be a boolean, got {self.runtime!r}")
        if self.runtime and self.mode != "shift":
            raise ValueError(f"requant.runtime needs requant.mode='shift', got mode {self.mode!r}")

    @property
    def shift_bits(self):
        """Width of the run-time shift field (``runtime``): holds 0..``shift``."""
        return max(1, self.shift.bit_length())

    def check_layer_settings(self, shift, relu):
        """``(shift, relu)`` for one layer: ``shift=None`` means the configured one.  Raises unless
        run-time settings are enabled or the values are the fixed ones."""
        if shift is None:
            shift = self.shift
        try:
            if isinstance(shift, bool):
                raise TypeError
            shift = operator.index(shift)
        except TypeError:
            raise TypeError(f"shift must be an integer, got {shift!r}") from None
        if relu not in (False, True):
            raise TypeError(f"relu must be a boolean, got {relu!r}")
        relu = bool(relu)
        if not self.runtime:
            if shift != self.shift or relu:
                raise ValueError(f"a per-layer shift or relu needs requant.runtime=true "
                                 f"(this engine's shift is fixed at {self.shift}, no relu), got shift={shift}, relu={relu}")
        elif not 0 <= shift <= self.shift:
            raise ValueError(f"shift must be an integer from 0 to requant.shift={self.shift}, got {shift}")
        return shift, relu


@dataclass(frozen=True)
class LayerConfig:
    """The shape of one layer, set at run time: ``Y (n x m) = X (n x d) @ W (d x m)``."""
    d: int
    m: int
    n: int = 1

    def __post_init__(self):
        _check_int("d", self.d, 1, 1 << 30, "a positive integer")
        _check_int("m", self.m, 1, 1 << 30, "a positive integer")
        _check_int("n", self.n, 1, 1 << 40, "a positive integer")


class EngineBase:
    """What every engine configuration is and provides: the protocol the generator, the driver,
    the cycle model and the reports use instead of asking which engine they hold.

    A subclass (a frozen dataclass: :class:`EngineConfig`, :class:`pqaccel.mac.MacConfig`) sets
    ``kind`` (its name in manifests; subclasses register themselves in :data:`ENGINE_KINDS`) and
    ``ideal_formula``, and defines the hooks ``d_max``, ``m_max``, ``group_size`` (input
    elements per input beat), ``out_lanes`` (outputs per output beat), ``acc_bits``,
    ``steps_per_group(layer)``, ``d_limit_message()``, ``from_dict``, ``address_map()``,
    ``memories()``, ``rtl(checks=False)`` (the Amaranth component, imported lazily; ``checks``
    adds the simulation-only assertions) and ``forward()`` (its
    golden model).  Shared here: layer checks, groups, output steps, ideal cycles, the
    requantization check and (de)serialization.
    """

    kind = None
    ideal_formula = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind:
            ENGINE_KINDS[cls.kind] = cls

    # -- shared -----------------------------------------------------------------------------------
    def _check_requant(self):
        rq = self.requant
        if not isinstance(rq, Requant):
            raise TypeError(f"requant must be a Requant, got {rq!r}")
        if rq.mode == "shift" and rq.shift >= self.acc_bits:
            raise ValueError(f"requant.shift must be an integer from 0 to {self.acc_bits - 1} "
                             f"(accumulator width {self.acc_bits} bits), got {rq.shift!r}")

    @property
    def g_max(self):
        """Largest number of input beats (groups) per row."""
        return -(-self.d_max // self.group_size)

    @property
    def mt_max(self):
        """Largest number of output beats per row (``ceil(m_max / out_lanes)``)."""
        return -(-self.m_max // self.out_lanes)

    def check_layer(self, layer):
        """Raise :class:`ValueError` if ``layer`` does not fit this engine; return it otherwise."""
        if not isinstance(layer, LayerConfig):
            raise TypeError(f"layer must be a LayerConfig, got {layer!r}")
        if layer.d > self.d_max:
            raise ValueError(f"{self.d_limit_message()}, got {layer.d!r}")
        if layer.m > self.m_max:
            raise ValueError(f"m must be an integer from 1 to m_max={self.m_max}, got {layer.m!r}")
        return layer

    def groups(self, layer):
        """Input beats per row."""
        return -(-self.check_layer(layer).d // self.group_size)

    def m_steps(self, layer):
        """Output beats per row, ``ceil(m / out_lanes)``."""
        return -(-self.check_layer(layer).m // self.out_lanes)

    def ideal_cycles_per_row(self, layer):
        """Cycles per row with no stalls: ``groups * steps_per_group`` (:attr:`ideal_formula`)."""
        return self.groups(layer) * self.steps_per_group(layer)

    def to_dict(self):
        return asdict(self)

    def replace(self, **changes):
        return replace(self, **changes)


#: Engine configuration classes by manifest ``kind`` (filled by :class:`EngineBase` subclasses).
ENGINE_KINDS = {}


def engine_from_manifest(manifest):
    """The engine configuration a manifest was generated for, validated."""
    import importlib
    importlib.import_module(".mac", __package__)          # registers the MAC engine's kind
    kind = manifest.get("kind", "pq")
    if kind not in ENGINE_KINDS:
        raise ValueError(f"manifest kind must be one of {', '.join(sorted(ENGINE_KINDS))}, got {kind!r}")
    return ENGINE_KINDS[kind].from_dict(manifest["engine"])


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
            raise ValueError(f"c_par must be an integer from 1 to c_max={self.c_max}, got {p.c_par!r}")
        if self.k % p.k_par:
            divisors = [d for d in range(1, self.k + 1) if self.k % d == 0]
            raise ValueError(f"k_par must divide k={self.k} (one of {divisors}), got {p.k_par!r}")
        if p.m_par > self.m_max:
            raise ValueError(f"m_par must be an integer from 1 to m_max={self.m_max}, got {p.m_par!r}")
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

    def memories(self):
        """The engine's memories: count, depth (words, both banks) and width (bits)."""
        p = self.par
        return {
            "codebook": {"count": p.c_par, "depth": 2 * self.g_max * self.k_steps,
                         "width": p.k_par * self.v * self.widths.proto_bits},
            "lut": {"count": p.c_par * p.m_par, "depth": 2 * self.g_max * self.mt_max * self.k,
                    "width": self.widths.lut_bits},
        }

    def min_logic_luts(self):
        """A lower bound of the logic (LUT4s): one per bit of each element subtractor of the
        distance units and of each adder that sums the looked-up table entries
        (:mod:`pqaccel.capacity`)."""
        p = self.par
        return p.c_par * p.k_par * self.v * self.widths.in_bits + p.m_par * (p.c_par - 1) * self.widths.lut_bits

    def forward(self, x, protos, lut, shift=None, relu=False):
        """The golden model (:func:`pqaccel.model.forward`)."""
        from . import model
        return model.forward(self, x, protos, lut, shift, relu)

    # -- (de)serialization ------------------------------------------------------------------------
    def derived(self):
        return {
            "idx_bits": self.idx_bits, "dist_max": self.dist_max, "dist_bits": self.dist_bits,
            "acc_bits": self.acc_bits, "result_bits": self.result_bits, "k_steps": self.k_steps,
            "g_max": self.g_max, "mt_max": self.mt_max,
        }


_SECTIONS = {"par": Parallelism, "widths": Widths, "requant": Requant}


def engine_from_dict(d, base=None):
    """Build an :class:`EngineConfig` from a nested dict (as in TOML/JSON), over ``base``."""
    return config_from_dict(EngineConfig, d, base or EngineConfig(), "engine", _SECTIONS)


def config_from_dict(cls, d, base, what, sections):
    """``base`` with the values of the nested dict ``d``: unknown keys (top level or in one of
    the ``sections``, ``{key: dataclass}``) and non-table sections are refused by name; the
    dataclasses validate every value."""
    if not isinstance(d, dict):
        raise TypeError(f"{what} configuration must be a table/object, got {d!r}")
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise ValueError(f"unknown {what} parameter {unknown[0]!r}; valid: {', '.join(sorted(valid))}")
    changes = {}
    for key, value in d.items():
        if key in sections:
            if not isinstance(value, dict):
                raise TypeError(f"{key} must be a table/object, got {value!r}")
            section_valid = {f.name for f in fields(sections[key])}
            bad = sorted(set(value) - section_valid)
            if bad:
                raise ValueError(f"unknown {key} parameter {bad[0]!r}; valid: {', '.join(sorted(section_valid))}")
            changes[key] = replace(getattr(base, key), **value)
        else:
            changes[key] = value
    return replace(base, **changes)


def load_config_file(path):
    """Load ``(EngineConfig, LayerConfig or None)`` from a ``.toml`` or ``.json`` file.

    The file holds an ``[engine]`` table (optionally ``preset = "name"`` as the base) and an
    optional ``[layer]`` table with ``d``, ``m`` and ``n``.
    """
    path = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"config file {path!r} cannot be read: {e.strerror}") from None
    try:
        if path.endswith(".toml"):
            doc = tomllib.loads(raw.decode())
        elif path.endswith(".json"):
            doc = json.loads(raw)
        else:
            raise ValueError(f"config file {path!r} must end in .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"config file {path!r} is not valid: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"config file {path!r} must hold a table/object with 'engine' and "
                         f"optionally 'layer', got {doc!r}")
    unknown = sorted(set(doc) - {"engine", "layer"})
    if unknown:
        raise ValueError(f"unknown section {unknown[0]!r} in {path!r}; valid: 'engine', 'layer'")
    engine_doc = doc.get("engine", {})
    if not isinstance(engine_doc, dict):
        raise ValueError(f"engine in {path!r} must be a table/object of engine parameters, got {engine_doc!r}")
    engine_doc = dict(engine_doc)
    base = preset(engine_doc.pop("preset")) if "preset" in engine_doc else None
    engine = engine_from_dict(engine_doc, base)
    layer = None
    if "layer" in doc:
        ld = doc["layer"]
        if not isinstance(ld, dict) or set(ld) - {"d", "m", "n"} or not {"d", "m"} <= set(ld):
            raise ValueError(f"layer must be a table with keys 'd', 'm' and optionally 'n', got {ld!r}")
        layer = engine.check_layer(LayerConfig(**ld))
    return engine, layer


def _resnet20(k, lowbit=False):
    widths = Widths(in_bits=8, proto_bits=6 if lowbit else 8, lut_bits=5 if lowbit else 8, out_bits=16)
    return EngineConfig(v=9, k=k, c_max=64, m_max=64,
                        par=Parallelism(c_par=4, k_par=k, m_par=16),
                        widths=widths, metric="l1", requant=Requant(mode="raw"))


#: Named presets.  ResNet20 presets: every 3x3 convolution of ResNet20 (C_in, C_out <= 64, so
#: d = 9*C_in <= 576 -> C <= 64 subspaces of v=9) fits; ``c_par=4, k_par=k, m_par=16`` balances the
#: encoder (1 cycle per group) against the lookups (ceil(m/16) <= 4 cycles per group) and gives one
#: 18-kbit block RAM per table bank.  L1 distance: no multiplier anywhere (L2 at this parallelism
#: would need 4*k*9 = 288 or 576 multipliers, more than an ECP5-85F has).
PRESETS = {
    "default": EngineConfig(v=4, k=16, c_max=8, m_max=8,
                            par=Parallelism(c_par=2, k_par=4, m_par=2),
                            widths=Widths(in_bits=8, proto_bits=8, lut_bits=8, out_bits=12),
                            metric="l1", requant=Requant(mode="shift", shift=2, rounding="half_up")),
    "resnet20-v9k8": _resnet20(8),
    "resnet20-v9k16": _resnet20(16),
    "resnet20-v9k8-lowbit": _resnet20(8, lowbit=True),
    # For whole networks (``pqaccel net``): 8-bit activations in and out, every layer its own shift
    # (0..13: a 64-subspace sum of 8-bit entries is 14 bits) and ReLU.
    "net-v9k16": EngineConfig(v=9, k=16, c_max=64, m_max=64, par=Parallelism(c_par=4, k_par=16, m_par=16),
                              widths=Widths(8, 8, 8, 8), metric="l1",
                              requant=Requant(mode="shift", shift=13, rounding="half_up", saturate=True,
                                              runtime=True)),
}
#: ResNet20 for whole-network runs: the v9k8 engine with 8-bit outputs, per-layer shift and ReLU,
#: and the wide table port (a row of all 64 banks, 512 bits, per write).
PRESETS["resnet20-v9k8-net"] = PRESETS["resnet20-v9k8"].replace(
    widths=Widths(8, 8, 8, 8), requant=Requant(mode="shift", shift=13, rounding="half_up", saturate=True, runtime=True),
    wide_port=True)
#: The same with 6-bit tables: the low-bit point of the demo networks (``net-v3k32-lut6``).
PRESETS["resnet20-v9k8-net-lut6"] = PRESETS["resnet20-v9k8-net"].replace(
    widths=Widths(8, 8, 6, 8), requant=Requant(mode="shift", shift=11, rounding="half_up", saturate=True, runtime=True))
#: The demo networks' engine (``models/``: 16/32/64 channels, 3x3 convolutions): v=3 (a third
#: of a channel's patch), K=32, up to 64 channels in (192 subspaces) and out, wide table port.
#: 8-bit: within 0.2 points of the float network on digits (RTL run: 98.0 %).
PRESETS["net-v3k32"] = PRESETS["net-v9k16"].replace(v=3, k=32, c_max=192,
                                                    par=Parallelism(c_par=4, k_par=16, m_par=16), wide_port=True)
#: Its low-bit points: 6-bit tables (25 % less table memory), 8-bit activations and prototypes;
#: and every width 6 bits, which with the table refit (``net convert --refit``) stays within
#: 0.7 points of the float network on MNIST (96.7 % against 97.4 %).
PRESETS["net-v3k32-lut6"] = PRESETS["net-v3k32"].replace(widths=Widths(8, 8, 6, 8))
PRESETS["net-v3k32-6bit"] = PRESETS["net-v3k32"].replace(widths=Widths(6, 6, 6, 6))


def default_layer(engine, n=64):
    """The largest layer the engine takes, with ``n`` rows."""
    return LayerConfig(d=engine.v * engine.c_max, m=engine.m_max, n=n)


def preset(name):
    """Return the named preset :class:`EngineConfig`."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(repr(p) for p in PRESETS)}, got {name!r}")
    return PRESETS[name]
