"""The conventional baseline: a multiply-accumulate engine for the same layers and streams as
the PQ engine, its multipliers in DSP blocks or in logic (``mult``)."""

from ..base import Engine
from .config import MacConfig

ENGINE = Engine(
    "mac",
    MacConfig,
    job="pqaccel.engines.mac.job:MacJob",
    rtl="pqaccel.engines.mac.rtl:MacEngine",
    layer="pqaccel.engines.mac.layer:MacLayer",
    description="multiply-accumulate: d_par x m_par multipliers, adder trees",
)
