"""Amaranth blocks of the engines, one per file; each engine's top level is in its package
(``pqaccel.engines.<kind>.rtl``).

:func:`engine_rtl` builds the top level of any engine configuration from the registry; the
configurations (the definitions layer) import no Amaranth.
"""

__all__ = ["engine_rtl"]


def engine_rtl(cfg, checks=False, family=None):
    """The top-level Amaranth component of the engine ``cfg`` (with simulation ``checks``;
    ``family``: the FPGA family it is built for, None for the portable form:
    :func:`pqaccel.export.make_engine`)."""
    from ..engines import engine_entry

    return engine_entry(cfg).load("rtl")(cfg, checks=checks, family=family)
