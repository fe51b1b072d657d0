"""Named engine configurations and configuration files."""

import json
import tomllib

from .config import LayerConfig, Parallelism, Requant, Widths
from .engines.pq.config import EngineConfig, engine_from_dict

__all__ = ["PRESETS", "preset", "default_layer", "load_config_file"]


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
        raise ValueError(
            f"config file {path!r} must hold a table/object with 'engine' and "
            f"optionally 'layer', got {doc!r}"
        )
    unknown = sorted(set(doc) - {"engine", "layer"})
    if unknown:
        raise ValueError(f"unknown section {unknown[0]!r} in {path!r}; valid: 'engine', 'layer'")
    engine_doc = doc.get("engine", {})
    if not isinstance(engine_doc, dict):
        raise ValueError(
            f"engine in {path!r} must be a table/object of engine parameters, got {engine_doc!r}"
        )
    engine_doc = dict(engine_doc)
    base = preset(engine_doc.pop("preset")) if "preset" in engine_doc else None
    engine = engine_from_dict(engine_doc, base)
    layer = None
    if "layer" in doc:
        ld = doc["layer"]
        if not isinstance(ld, dict) or set(ld) - {"d", "m", "n"} or not {"d", "m"} <= set(ld):
            raise ValueError(
                f"layer must be a table with keys 'd', 'm' and optionally 'n', got {ld!r}"
            )
        layer = engine.check_layer(LayerConfig(**ld))
    return engine, layer


def _resnet20(k, lowbit=False):
    widths = Widths(
        in_bits=8, proto_bits=6 if lowbit else 8, lut_bits=5 if lowbit else 8, out_bits=16
    )
    return EngineConfig(
        v=9,
        k=k,
        c_max=64,
        m_max=64,
        par=Parallelism(c_par=4, k_par=k, m_par=16),
        widths=widths,
        metric="l1",
        requant=Requant(mode="raw"),
    )


#: Named presets.  ResNet20 presets: every 3x3 convolution of ResNet20 (C_in, C_out <= 64, so
#: d = 9*C_in <= 576 -> C <= 64 subspaces of v=9) fits; ``c_par=4, k_par=k, m_par=16`` balances the
#: encoder (1 cycle per group) against the lookups (ceil(m/16) <= 4 cycles per group) and gives one
#: 18-kbit block RAM per table bank.  L1 distance: no multiplier anywhere (L2 at this parallelism
#: would need 4*k*9 = 288 or 576 multipliers, more than an ECP5-85F has).
PRESETS = {
    "default": EngineConfig(
        v=4,
        k=16,
        c_max=8,
        m_max=8,
        par=Parallelism(c_par=2, k_par=4, m_par=2),
        widths=Widths(in_bits=8, proto_bits=8, lut_bits=8, out_bits=12),
        metric="l1",
        requant=Requant(mode="shift", shift=2, rounding="half_up"),
    ),
    "resnet20-v9k8": _resnet20(8),
    "resnet20-v9k16": _resnet20(16),
    "resnet20-v9k8-lowbit": _resnet20(8, lowbit=True),
    # For whole networks (``pqaccel net``): 8-bit activations in and out, every layer its own shift
    # (0..13: a 64-subspace sum of 8-bit entries is 14 bits) and ReLU.
    "net-v9k16": EngineConfig(
        v=9,
        k=16,
        c_max=64,
        m_max=64,
        par=Parallelism(c_par=4, k_par=16, m_par=16),
        widths=Widths(8, 8, 8, 8),
        metric="l1",
        requant=Requant(mode="shift", shift=13, rounding="half_up", saturate=True, runtime=True),
    ),
}
#: ResNet20 for whole-network runs: the v9k8 engine with 8-bit outputs, per-layer shift and ReLU,
#: and the wide table port (a row of all 64 banks, 512 bits, per write).
PRESETS["resnet20-v9k8-net"] = PRESETS["resnet20-v9k8"].replace(
    widths=Widths(8, 8, 8, 8),
    requant=Requant(mode="shift", shift=13, rounding="half_up", saturate=True, runtime=True),
    wide_port=True,
)
#: The same with 6-bit tables: the low-bit point of the demo networks (``net-v3k32-lut6``).
PRESETS["resnet20-v9k8-net-lut6"] = PRESETS["resnet20-v9k8-net"].replace(
    widths=Widths(8, 8, 6, 8),
    requant=Requant(mode="shift", shift=11, rounding="half_up", saturate=True, runtime=True),
)
#: The demo networks' engine (``models/``: 16/32/64 channels, 3x3 convolutions): v=3 (a third
#: of a channel's patch), K=32, up to 64 channels in (192 subspaces) and out, wide table port.
#: 8-bit: within 0.2 points of the float network on digits (RTL run: 98.0 %).
PRESETS["net-v3k32"] = PRESETS["net-v9k16"].replace(
    v=3, k=32, c_max=192, par=Parallelism(c_par=4, k_par=16, m_par=16), wide_port=True
)
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
        raise ValueError(
            f"preset must be one of {', '.join(repr(p) for p in PRESETS)}, got {name!r}"
        )
    return PRESETS[name]
