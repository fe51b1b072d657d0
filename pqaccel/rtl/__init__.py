"""Amaranth blocks of the engines, one per file: :class:`pqaccel.rtl.top.PQEngine` ties the PQ
engine's, :class:`pqaccel.rtl.mac.MacEngine` is the MAC baseline.

:func:`engine_rtl` is the one place that maps an engine configuration (its ``kind``) to its
hardware; the configurations (the definitions layer) import no Amaranth.
"""

import importlib

__all__ = ["ENGINE_RTL", "engine_rtl"]

#: Engine kind -> (module, component class) of its top level.
ENGINE_RTL = {"pq": ("pqaccel.rtl.top", "PQEngine"), "mac": ("pqaccel.rtl.mac", "MacEngine")}


def engine_rtl(cfg, checks=False):
    """The top-level Amaranth component of the engine ``cfg`` (with simulation ``checks``)."""
    if cfg.kind not in ENGINE_RTL:
        raise ValueError(f"engine kind must be one of {', '.join(sorted(ENGINE_RTL))}, got {cfg.kind!r}")
    module, name = ENGINE_RTL[cfg.kind]
    return getattr(importlib.import_module(module), name)(cfg, checks=checks)
