"""The MAC engine's job: a layer's weight writes, input beats and expected ``x @ w``."""

import numpy as np

from ...config import LayerConfig
from ...jobs import Job, engine_of, random_requant
from ...payload import pack

__all__ = ["MacJob"]


class MacJob(Job):
    """One layer for the MAC baseline: weight writes, input beats, expected ``x @ w``."""

    def __init__(self, manifest, x, w, shift=None, relu=False):
        self.manifest = manifest
        self.cfg = cfg = engine_of(manifest)
        self.x, self.w = x, w
        n, d = x.shape
        self.layer = LayerConfig(d=d, m=w.shape[1], n=n)
        self.g = cfg.groups(self.layer)
        self.mt = cfg.m_steps(self.layer)
        self.m = self.layer.m
        self.shift, self.relu = shift, relu
        self.expected = cfg.forward(x, w, shift, relu)
        self.writes = cfg.address_map().weight_writes(w, shift=shift, relu=relu)
        padded = np.zeros((n, self.g * cfg.d_par), dtype=np.int64)
        padded[:, :d] = x
        beats = padded.reshape(n, self.g, cfg.d_par)
        xin = manifest["streams"]["i"]
        self.in_beats = [pack(xin, {"data": beats[r, g]}) for r in range(n) for g in range(self.g)]
        self.ideal_cycles_per_row = cfg.ideal_cycles_per_row(self.layer)

    @property
    def cycle_budget(self):
        return len(self.writes) + 20 * len(self.in_beats) * self.mt + 1000

    @classmethod
    def random(cls, manifest, layer, rng):
        """Full-range random weights and inputs, the largest product in every position of row 0."""
        cfg = engine_of(manifest)
        xl, xh = -(1 << (cfg.in_bits - 1)), (1 << (cfg.in_bits - 1)) - 1
        wl, wh = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1
        x = rng.integers(xl, xh + 1, size=(layer.n, layer.d), dtype=np.int64)
        w = rng.integers(wl, wh + 1, size=(layer.d, layer.m), dtype=np.int64)
        x[0, :] = xl
        w[:, 0] = wl
        return cls(manifest, x, w, **random_requant(cfg.requant, rng))
