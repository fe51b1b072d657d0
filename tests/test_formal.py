"""Formal proofs (Yosys SAT, :mod:`pqaccel.formal`): each property proven, and each proof shown
able to fail on a deliberately broken block."""

import pytest

from pqaccel import formal
from pqaccel.config import METRICS, EngineConfig, Parallelism, Requant, Widths
from pqaccel.mac import MacConfig


@pytest.mark.parametrize("n, bits", [(1, 3), (2, 4), (5, 4), (8, 3), (16, 6), (64, 5)])
def test_argmin_tree_proven(n, bits):
    """Lowest index wins, the result is a minimum and it is the value at the returned index."""
    r = formal.prove(formal.ArgminSpec(n=n, dist_bits=bits))
    assert r["proven"], r["log"][-2000:]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("v, in_bits, proto_bits", [(1, 2, 2), (3, 4, 3), (4, 3, 5), (2, 6, 6)])
def test_distance_unit_proven(metric, v, in_bits, proto_bits):
    """The distance unit equals |x - p| summed (L1), squared and summed (L2) or maxed
    (Chebyshev), computed wide, for every input."""
    r = formal.prove(formal.DistanceSpec(metric=metric, v=v, in_bits=in_bits, proto_bits=proto_bits))
    assert r["proven"], r["log"][-2000:]


def test_argmin_proof_catches_a_tie_broken_the_wrong_way(monkeypatch):
    """A tree whose nodes take the higher index on a tie violates 'lowest index wins'."""
    from pqaccel.rtl import argmin
    real = argmin.Mux
    calls = []

    def mux(sel, a, b):
        # the tree calls Mux(take_b, db, da), then Mux(take_b, ib, ia): both take b on a tie
        if len(calls) % 2 == 0:
            tie = a == b
        else:
            tie = calls[-1]
        calls.append(tie)
        return real(sel | tie, a, b)

    monkeypatch.setattr(argmin, "Mux", mux)
    r = formal.prove(formal.ArgminSpec(n=4, dist_bits=3))
    assert not r["proven"] and "proof did fail" in r["log"]


def test_distance_proof_catches_a_narrow_difference(monkeypatch):
    """|x - p| one bit too narrow (the defect class fixed earlier) wraps and is caught."""
    from pqaccel.rtl import distance
    real = distance.fx.diff_abs_max
    monkeypatch.setattr(distance.fx, "diff_abs_max", lambda a, b: real(a, b) // 2)
    r = formal.prove(formal.DistanceSpec(metric="l1", v=2, in_bits=3, proto_bits=3))
    assert not r["proven"]


ENGINES = {
    "pq": lambda: EngineConfig(v=1, k=2, c_max=2, m_max=2, par=Parallelism(1, 1, 1), widths=Widths(2, 2, 2, 4),
                               requant=Requant("raw")),
    "pq-wide-runtime": lambda: EngineConfig(v=2, k=4, c_max=3, m_max=3, par=Parallelism(2, 2, 2),
                                            widths=Widths(2, 2, 2, 2), requant=Requant("shift", 1, runtime=True),
                                            wide_port=True),
    "mac": lambda: MacConfig(d_max=3, m_max=3, d_par=2, m_par=2, in_bits=2, w_bits=2, out_bits=4),
}


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_checks_and_output_handshake_proven(name):
    """For every input sequence after a reset (rows, table writes, backpressure, more resets) up
    to 16 cycles: the FIFOs are never written when full, credit and busy counters never wrap,
    no commit arrives while one is pending, and ``o`` keeps valid and payload until ready."""
    r = formal.prove(formal.EngineSpec(ENGINES[name](), depth=16))
    assert r["proven"], r["log"][-2000:]


def test_engine_proof_catches_a_fifo_too_shallow(monkeypatch):
    from pqaccel.rtl import top
    real = top.attach_output
    monkeypatch.setattr(top, "attach_output", lambda m, o, lay, acc, depth, checks: real(m, o, lay, acc, 1, checks))
    r = formal.prove(formal.EngineSpec(ENGINES["pq"](), depth=20))
    assert not r["proven"] and "proof did fail" in r["log"]
