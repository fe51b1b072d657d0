"""Turn layers into stream beats and table writes, and check output beats against the model.

Used by the Amaranth-simulator tests, the cocotb testbenches and the CLI alike; it works from a
manifest (see :mod:`pqaccel.payload`), so nothing here knows a bit position.
"""

import numpy as np

from . import model
from .config import LayerConfig, engine_from_manifest
from .payload import pack, unpack

__all__ = ["Job", "MacJob", "make_job", "JOBS"]


def _engine(manifest):
    """The manifest's engine configuration, checked against the manifest's address map."""
    cfg = engine_from_manifest(manifest)
    if cfg.address_map().to_dict() != manifest["address_map"]:
        raise ValueError("manifest address map does not match its engine parameters")
    return cfg


class Job:
    """One layer to run: table writes, input beats, and the expected output of every beat."""

    def __init__(self, manifest, x, protos, lut, shift=None, relu=False):
        self.manifest = manifest
        self.cfg = cfg = _engine(manifest)
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
    def out_beats(self):
        return self.layer.n * self.mt

    @property
    def cycle_budget(self):
        """Generous bound on the cycles the job may take, for time-outs."""
        return len(self.writes) + 20 * len(self.in_beats) * (self.cfg.k_steps + self.mt) + 1000

    @classmethod
    def random(cls, manifest, layer, rng):
        """Full-range random tables and inputs for ``layer``, with ties and near-ties made common
        (and, with ``requant.runtime``, a random shift and ReLU)."""
        cfg = engine_from_manifest(manifest)
        protos, lut = model.random_tables(cfg, layer, rng)
        x = model.random_inputs(cfg, layer, rng)
        # Make ties and near-ties common: copy some prototypes onto inputs and duplicate prototypes.
        if cfg.k > 1:
            protos[:, 1::2] = protos[:, 0:-1:2]
        c = cfg.subspaces(layer)
        for r in range(0, layer.n, 3):
            ci = int(rng.integers(0, c))
            seg = x[r, ci * cfg.v:(ci + 1) * cfg.v]
            lo, hi = -(1 << (cfg.widths.in_bits - 1)), (1 << (cfg.widths.in_bits - 1)) - 1
            seg[:] = np.clip(protos[ci, int(rng.integers(0, cfg.k)), :seg.size], lo, hi)
        return cls(manifest, x, protos, lut, **_random_requant(cfg.requant, rng))

    def check(self, beats):
        """Compare output payloads (ints, in order) with the model; return the mismatches, each a
        dict ``{"what": "count"|"last"|"value", "row", "beat", "output", "got", "expected"}``."""
        desc = self.manifest["streams"]["o"]
        m_par = self.manifest["streams"]["o"]["fields"][0]["dims"][0]
        bad = []
        if len(beats) != self.out_beats:
            bad.append({"what": "count", "got": len(beats), "expected": self.out_beats})
        for idx, word in enumerate(beats[:self.out_beats]):
            row, t = divmod(idx, self.mt)
            got = unpack(desc, word)
            want_last = int(t == self.mt - 1)
            if got["last"] != want_last:
                bad.append({"what": "last", "row": row, "beat": t, "got": int(got["last"]),
                            "expected": want_last})
            for ml in range(m_par):
                mi = t * m_par + ml
                if mi < self.m and got["data"][ml] != self.expected[row, mi]:
                    bad.append({"what": "value", "row": row, "beat": t, "output": mi,
                                "got": int(got["data"][ml]), "expected": int(self.expected[row, mi])})
        return bad


class MacJob(Job):
    """One layer for the MAC baseline: weight writes, input beats, expected ``x @ w``."""

    def __init__(self, manifest, x, w, shift=None, relu=False):
        self.manifest = manifest
        self.cfg = cfg = _engine(manifest)
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
        cfg = engine_from_manifest(manifest)
        xl, xh = -(1 << (cfg.in_bits - 1)), (1 << (cfg.in_bits - 1)) - 1
        wl, wh = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1
        x = rng.integers(xl, xh + 1, size=(layer.n, layer.d), dtype=np.int64)
        w = rng.integers(wl, wh + 1, size=(layer.d, layer.m), dtype=np.int64)
        x[0, :] = xl
        w[:, 0] = wl
        return cls(manifest, x, w, **_random_requant(cfg.requant, rng))



def _random_requant(requant, rng):
    """A layer's random run-time requantization (``requant.runtime``), else the fixed one."""
    if not requant.runtime:
        return {}
    return {"shift": int(rng.integers(0, requant.shift + 1)), "relu": bool(rng.random() < 0.5)}


def make_job(manifest, layer, seed):
    """A random job for the engine of ``manifest`` (see each job class's ``random``)."""
    kind = manifest.get("kind", "pq")
    if kind not in JOBS:
        raise ValueError(f"manifest kind must be one of {', '.join(sorted(JOBS))}, got {kind!r}")
    return JOBS[kind].random(manifest, layer, np.random.default_rng(seed))


#: The job class of each engine kind.
JOBS = {"pq": Job, "mac": MacJob}
