"""pqaccel: a parameterized product-quantization accelerator generator."""

from .config import EngineConfig, LayerConfig, Widths, Parallelism, Requant, preset, PRESETS

__all__ = ["EngineConfig", "LayerConfig", "Widths", "Parallelism", "Requant", "preset", "PRESETS"]
__version__ = "0.1.0"
