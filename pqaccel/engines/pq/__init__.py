"""The PQ engine: parallel distance units and argmin trees over per-subspace codebooks, then
table lookups and an adder tree (``docs/design.md``)."""

from ..base import Engine
from .config import EngineConfig

ENGINE = Engine(
    "pq",
    EngineConfig,
    job="pqaccel.engines.pq.job:PQJob",
    rtl="pqaccel.engines.pq.rtl:PQEngine",
    layer="pqaccel.engines.pq.layer:PQLayer",
    description="product quantization: nearest prototype per subspace, table lookups, adder tree",
)
