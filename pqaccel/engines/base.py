"""The registry entry of an engine (:data:`pqaccel.engines.ENGINES`)."""

import importlib
from dataclasses import dataclass

__all__ = ["Engine"]


@dataclass(frozen=True)
class Engine:
    """One engine: ``kind`` (its name in manifests, bundles and the CLI), its configuration
    class, and ``module:name`` paths of its parts in higher layers: ``job`` (stimulus and
    checking), ``rtl`` (the top-level Component), ``layer`` (the converted network layer)."""

    kind: str
    config: type
    job: str
    rtl: str
    layer: str
    description: str

    def load(self, part):
        """The object a part's path names (imported on first use)."""
        module, name = getattr(self, part).split(":")
        return getattr(importlib.import_module(module), name)
