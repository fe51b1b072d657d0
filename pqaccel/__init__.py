"""pqaccel: a parameterized product-quantization accelerator generator."""

from .engines.pq.config import EngineConfig
from .config import LayerConfig, Widths, Parallelism, Requant
from .presets import preset, PRESETS

__all__ = ["EngineConfig", "LayerConfig", "Widths", "Parallelism", "Requant", "preset", "PRESETS"]
__version__ = "0.1.0"
