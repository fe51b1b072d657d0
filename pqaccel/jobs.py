"""Turn layers into stream beats and table writes, and check output beats against the model.

Used by the Amaranth-simulator tests, the cocotb testbenches and the CLI alike; it works from a
manifest (see :mod:`pqaccel.payload`), so nothing here knows a bit position.  Each engine's job
class is in its package (``pqaccel.engines.<kind>.job``); :func:`make_job` asks the registry.
"""

import numpy as np

from .engines import engine_entry, engine_from_manifest
from .payload import unpack

__all__ = ["Job", "make_job", "engine_of", "random_requant"]


def engine_of(manifest):
    """The manifest's engine configuration, checked against the manifest's address map."""
    cfg = engine_from_manifest(manifest)
    if cfg.address_map().to_dict() != manifest["address_map"]:
        raise ValueError("manifest address map does not match its engine parameters")
    return cfg


class Job:
    """One layer to run on an engine: ``writes`` (table port), ``in_beats`` (packed input
    payloads), ``expected`` (the golden model's ``n x M`` output), ``layer``, ``mt`` (output
    beats per row), ``ideal_cycles_per_row`` and ``cycle_budget``; each engine's job class
    (its package's ``job`` module) builds them, ``random(manifest, layer, rng)`` makes one, and
    :meth:`check` compares output payloads with the model for all of them."""

    @property
    def out_beats(self):
        return self.layer.n * self.mt

    def check(self, beats):
        """Compare output payloads (ints, in order) with the model; return the mismatches, each a
        dict ``{"what": "count"|"last"|"value", "row", "beat", "output", "got", "expected"}``."""
        desc = self.manifest["streams"]["o"]
        m_par = self.manifest["streams"]["o"]["fields"][0]["dims"][0]
        bad = []
        if len(beats) != self.out_beats:
            bad.append({"what": "count", "got": len(beats), "expected": self.out_beats})
        for idx, word in enumerate(beats[: self.out_beats]):
            row, t = divmod(idx, self.mt)
            got = unpack(desc, word)
            want_last = int(t == self.mt - 1)
            if got["last"] != want_last:
                bad.append(
                    {
                        "what": "last",
                        "row": row,
                        "beat": t,
                        "got": int(got["last"]),
                        "expected": want_last,
                    }
                )
            for ml in range(m_par):
                mi = t * m_par + ml
                if mi < self.m and got["data"][ml] != self.expected[row, mi]:
                    bad.append(
                        {
                            "what": "value",
                            "row": row,
                            "beat": t,
                            "output": mi,
                            "got": int(got["data"][ml]),
                            "expected": int(self.expected[row, mi]),
                        }
                    )
        return bad


def random_requant(requant, rng):
    """A layer's random run-time requantization (``requant.runtime``), else the fixed one."""
    if not requant.runtime:
        return {}
    return {"shift": int(rng.integers(0, requant.shift + 1)), "relu": bool(rng.random() < 0.5)}


def make_job(manifest, layer, seed):
    """A random job for the engine of ``manifest`` (see each job class's ``random``)."""
    job = engine_entry(manifest.get("kind", "pq"), "manifest kind").load("job")
    return job.random(manifest, layer, np.random.default_rng(seed))
