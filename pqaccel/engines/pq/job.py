"""The PQ engine's job: a layer's codebook and table writes, input beats and expected output."""

import numpy as np

from ...config import LayerConfig
from ...jobs import Job, engine_of, random_requant
from ...payload import pack
from . import model

__all__ = ["PQJob"]


class PQJob(Job):
    """One layer for the PQ engine: codebook and table writes, input beats, expected output."""

    def __init__(self, manifest, x, protos, lut, shift=None, relu=False):
        self.manifest = manifest
        self.cfg = cfg = engine_of(manifest)
        p = cfg.par
        self.x, self.protos, self.lut = x, protos, lut
        n, d = x.shape
        self.layer = LayerConfig(d=d, m=lut.shape[2], n=n)
        self.c = cfg.subspaces(self.layer)
        self.g = cfg.groups(self.layer)
        self.mt = cfg.m_steps(self.layer)
        self.m = self.layer.m
        self.shift, self.relu = shift, relu
        self.expected = cfg.forward(x, protos, lut, shift, relu)
        self.writes = cfg.address_map().table_writes(protos, lut, shift=shift, relu=relu)
        xin = manifest["streams"]["i"]
        padded = np.zeros((n, self.g * p.c_par * cfg.v), dtype=np.int64)
        padded[:, :d] = x
        groups = padded.reshape(n, self.g, p.c_par, cfg.v)
        self.in_beats = [pack(xin, {"data": groups[r, g]}) for r in range(n) for g in range(self.g)]
        self.ideal_cycles_per_row = cfg.ideal_cycles_per_row(self.layer)

    @property
    def cycle_budget(self):
        """Generous bound on the cycles the job may take, for time-outs."""
        return len(self.writes) + 20 * len(self.in_beats) * (self.cfg.k_steps + self.mt) + 1000

    @classmethod
    def random(cls, manifest, layer, rng):
        """Full-range random tables and inputs for ``layer``, with ties and near-ties made common
        (and, with ``requant.runtime``, a random shift and ReLU)."""
        cfg = engine_of(manifest)
        protos, lut = model.random_tables(cfg, layer, rng)
        x = model.random_inputs(cfg, layer, rng)
        # Make ties and near-ties common: copy some prototypes onto inputs and duplicate prototypes.
        if cfg.k > 1:
            protos[:, 1::2] = protos[:, 0:-1:2]
        c = cfg.subspaces(layer)
        for r in range(0, layer.n, 3):
            ci = int(rng.integers(0, c))
            seg = x[r, ci * cfg.v : (ci + 1) * cfg.v]
            lo, hi = -(1 << (cfg.widths.in_bits - 1)), (1 << (cfg.widths.in_bits - 1)) - 1
            seg[:] = np.clip(protos[ci, int(rng.integers(0, cfg.k)), : seg.size], lo, hi)
        return cls(manifest, x, protos, lut, **random_requant(cfg.requant, rng))
