"""What every engine configuration shares: the validators, the configuration sections
(:class:`Widths`, :class:`Parallelism`, :class:`Requant`), the run-time :class:`LayerConfig`, the
engine protocol :class:`EngineBase` and the loader of nested dicts (TOML, JSON, manifests).

An engine configuration is fixed when the hardware is generated; a :class:`LayerConfig` is set at
run time, so one engine runs every layer of a network that fits its maxima.  The engines
themselves live in :mod:`pqaccel.engines` (one package each, one registry); presets and
configuration files in :mod:`pqaccel.presets`.
"""

import operator
from dataclasses import dataclass, fields, asdict, replace

__all__ = [
    "METRICS",
    "ROUNDINGS",
    "REQUANT_MODES",
    "Widths",
    "Parallelism",
    "Requant",
    "LayerConfig",
    "EngineBase",
    "config_from_dict",
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
    given ``rounding`` (``floor``, ``half_up`` = round half towards +inf, ``half_even``) and then
    either
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
                raise ValueError(
                    f"a per-layer shift or relu needs requant.runtime=true "
                    f"(this engine's shift is fixed at {self.shift}, no relu), got shift={shift}, "
                    f"relu={relu}"
                )
        elif not 0 <= shift <= self.shift:
            raise ValueError(
                f"shift must be an integer from 0 to requant.shift={self.shift}, got {shift}"
            )
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

    A subclass (a frozen dataclass: :class:`pqaccel.engines.pq.config.EngineConfig`,
    :class:`pqaccel.engines.mac.config.MacConfig`) sets ``kind`` (its name in manifests and in
    the registry :data:`pqaccel.engines.ENGINES`) and
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

    # -- shared -----------------------------------------------------------------------------------
    def _check_requant(self):
        rq = self.requant
        if not isinstance(rq, Requant):
            raise TypeError(f"requant must be a Requant, got {rq!r}")
        if rq.mode == "shift" and rq.shift >= self.acc_bits:
            raise ValueError(
                f"requant.shift must be an integer from 0 to {self.acc_bits - 1} "
                f"(accumulator width {self.acc_bits} bits), got {rq.shift!r}"
            )

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

    def memories(self):
        """The engine's memories as the manifest lists them: count, depth (words, both banks)
        and width (bits) of every table memory in ``memory_list()`` (the FIFOs left out)."""
        return {
            m["name"]: {k: m[k] for k in ("count", "depth", "width")}
            for m in self.memory_list()
            if m["block"] != "fifos"
        }

    def to_dict(self):
        return asdict(self)

    def replace(self, **changes):
        return replace(self, **changes)


def config_from_dict(cls, d, base, what, sections):
    """``base`` with the values of the nested dict ``d``: unknown keys (top level or in one of
    the ``sections``, ``{key: dataclass}``) and non-table sections are refused by name; the
    dataclasses validate every value."""
    if not isinstance(d, dict):
        raise TypeError(f"{what} configuration must be a table/object, got {d!r}")
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise ValueError(
            f"unknown {what} parameter {unknown[0]!r}; valid: {', '.join(sorted(valid))}"
        )
    changes = {}
    for key, value in d.items():
        if key in sections:
            if not isinstance(value, dict):
                raise TypeError(f"{key} must be a table/object, got {value!r}")
            section_valid = {f.name for f in fields(sections[key])}
            bad = sorted(set(value) - section_valid)
            if bad:
                raise ValueError(
                    f"unknown {key} parameter {bad[0]!r}; valid: {', '.join(sorted(section_valid))}"
                )
            changes[key] = replace(getattr(base, key), **value)
        else:
            changes[key] = value
    return replace(base, **changes)
