"""Every engine pqaccel generates, one package each, and the one registry that every consumer asks.

An engine package (``pqaccel/engines/<kind>/``) holds

* ``config``: its configuration, an :class:`pqaccel.config.EngineBase` subclass (the protocol:
  limits, beats, ideal cycles, ``address_map()``, ``memories()``, ``pipeline()``, ``forward()``);
* ``model``: its golden model; ``addrmap``: its table port's address map (with ``layer_writes``
  and ``write_count`` for a converted network layer);
* ``job``: a layer's stimulus and checking (:class:`pqaccel.jobs.Job`);
* ``rtl``: its Amaranth top level (hardware layer, imported only by :func:`pqaccel.rtl.engine_rtl`);
* ``layer``: its network-layer hooks (studies layer: how a converted layer is made, runs on the
  golden model and in float, becomes arrays, table-port writes and cycles).

The registry entries name the higher-layer parts by dotted path (``load(part)`` imports them), so
this package sits in the definitions layer with the configurations and imports no Amaranth.
A new engine is a new package and one line in :data:`ENGINES`.
"""

from .base import Engine
from .mac import ENGINE as _MAC
from .pq import ENGINE as _PQ

__all__ = ["Engine", "ENGINES", "engine_entry", "engine_from_manifest", "engine_from_dict"]


#: Engine kind -> :class:`Engine`.
ENGINES = {e.kind: e for e in (_PQ, _MAC)}


def engine_entry(kind, what="engine kind"):
    """The registry entry of ``kind`` (or of the configuration ``kind``); :class:`ValueError`
    naming ``what``, the value and the valid kinds otherwise."""
    kind = getattr(kind, "kind", kind)
    if kind not in ENGINES:
        raise ValueError(f"{what} must be one of {', '.join(sorted(ENGINES))}, got {kind!r}")
    return ENGINES[kind]


def engine_from_dict(kind, d, base=None):
    """An engine configuration of ``kind`` from a nested dict, every value validated."""
    return engine_entry(kind).config.from_dict(d, base)


def engine_from_manifest(manifest):
    """The engine configuration a manifest was generated for, validated."""
    return engine_entry(manifest.get("kind", "pq"), "manifest kind").config.from_dict(
        manifest["engine"]
    )
