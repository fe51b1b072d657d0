"""Formal proofs (Yosys SAT, :mod:`pqaccel.formal`): each property proven, and each proof shown
able to fail on a deliberately broken block."""

import os

import pytest
from amaranth.hdl import Module

from pqaccel import formal
from pqaccel.config import METRICS, Parallelism, Requant, Widths
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.engines.mac.config import MacConfig


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
    r = formal.prove(
        formal.DistanceSpec(metric=metric, v=v, in_bits=in_bits, proto_bits=proto_bits)
    )
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


# Small engines and depths at which whole rows come out (first output beat: cycle 19 for "pq",
# 15 for "mac", 24 for "pq-wide-runtime"; the proofs start with the reset cycle).
ENGINES = {
    "pq": lambda: EngineConfig(
        v=1,
        k=2,
        c_max=1,
        m_max=2,
        par=Parallelism(1, 2, 1),
        widths=Widths(2, 2, 2, 4),
        requant=Requant("raw"),
    ),
    "pq-wide-runtime": lambda: EngineConfig(
        v=2,
        k=4,
        c_max=2,
        m_max=3,
        par=Parallelism(2, 4, 2),
        widths=Widths(2, 2, 2, 2),
        requant=Requant("shift", 1, runtime=True),
        wide_port=True,
    ),
    "mac": lambda: MacConfig(d_max=3, m_max=3, d_par=2, m_par=2, in_bits=2, w_bits=2, out_bits=4),
}


#: ``PQACCEL_MATRIX=large`` proves the wide-port engine through two whole rows (depth 29, about
#: two minutes on one core); the default suite through one (depth 27, 40 s).
LARGE = os.environ.get("PQACCEL_MATRIX") == "large"
ROWS = {"pq": 2, "mac": 2, "pq-wide-runtime": 2 if LARGE else 1}
DEPTHS = {"pq": 24, "mac": 21, "pq-wide-runtime": 29 if LARGE else 27}


def first_output_cycle(cfg):
    """The cycle of the first output beat with rows offered from reset and no backpressure."""
    from amaranth.sim import Simulator
    from pqaccel.rtl import engine_rtl

    dut = engine_rtl(cfg)
    seen = []

    async def bench(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 1)
        for c in range(1, 40):
            await ctx.tick()
            if ctx.get(dut.o.valid) and not seen:
                seen.append(c)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen[0]


@pytest.mark.parametrize("name", list(ENGINES))
def test_proof_depths_reach_whole_output_rows(name):
    """The output properties are not vacuous: each proof is deep enough for its rows' beats
    (``ROWS``, ``mt_max`` = 2 beats each) to come out after the reset cycle."""
    cfg = ENGINES[name]()
    assert 1 + first_output_cycle(cfg) + ROWS[name] * cfg.mt_max <= DEPTHS[name]


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_checks_and_output_handshake_proven(name):
    """For every input sequence after a reset (rows, table writes, backpressure, more resets) up
    to 16 cycles: the FIFOs are never written when full, credit and busy counters never wrap,
    no commit arrives while one is pending, no write lands in a bank a row in flight uses, the
    banks swap only between rows, ``last`` comes once per row, and ``o`` keeps valid and
    payload until ready."""
    r = formal.prove(formal.EngineSpec(ENGINES[name](), depth=DEPTHS[name]))
    assert r["proven"], r["log"][-2000:]


def test_engine_proof_catches_a_fifo_too_shallow(monkeypatch):
    from pqaccel.engines.pq import rtl
    from engine_tb import shallow_output_fifo

    monkeypatch.setattr(rtl, "CreditFIFO", shallow_output_fifo(2))
    r = formal.prove(formal.EngineSpec(ENGINES["pq"](), depth=DEPTHS["pq"]))
    assert not r["proven"] and "proof did fail" in r["log"]


def _failed(r):
    """The solver found a counterexample (Yosys's log does not name the assertion it breaks;
    each broken block below breaks one property)."""
    return not r["proven"] and "proof did fail" in r["log"]


def test_engine_proof_catches_writes_into_a_bank_in_use(monkeypatch):
    """A bank control that lets the host write the shadow bank while rows still read it (no
    wait for the busy count) is caught."""
    from pqaccel.rtl import control, shell

    class Eager(control.BankControl):
        def elaborate(self, platform):
            m = super().elaborate(platform)
            m.d.comb += self.wr_ready.eq(~self.pending)  # overrides the busy test
            return m

    monkeypatch.setattr(shell, "BankControl", Eager)
    r = formal.prove(formal.EngineSpec(ENGINES["pq"](), depth=DEPTHS["pq"]))
    assert _failed(r)


def test_engine_proof_catches_a_swap_inside_a_row(monkeypatch):
    from pqaccel.rtl import control, shell

    class Hasty(control.BankControl):
        def elaborate(self, platform):
            m = super().elaborate(platform)
            with m.If(self.pending):  # swaps without waiting for row_start
                m.d.sync += [self.active.eq(~self.active), self.pending.eq(0)]
            return m

    monkeypatch.setattr(shell, "BankControl", Hasty)
    # rows of two groups of two steps each, so that a row has an inside
    cfg = EngineConfig(
        v=1,
        k=2,
        c_max=2,
        m_max=1,
        par=Parallelism(1, 1, 1),
        widths=Widths(2, 2, 2, 4),
        requant=Requant("raw"),
    )
    r = formal.prove(formal.EngineSpec(cfg, depth=12))
    assert _failed(r)


def test_engine_proof_catches_last_on_every_beat(monkeypatch):
    """Two output beats a row (m_max = 2, m_par = 1); an accumulator that flags every beat as
    the row's last is caught."""
    from pqaccel.engines.pq import rtl
    from pqaccel.rtl.accumulator import Accumulator

    class EveryBeatLast(Accumulator):
        def elaborate(self, platform):
            m = Module()
            m.submodules.real = real = Accumulator(
                lanes=self.lanes,
                outs=self.outs,
                entry_shape=self.entry_shape,
                acc_bits=self.acc_bits,
                steps=self.steps,
                requant=self.requant,
                out_bits=self.out_bits,
                masked=self.masked,
            )
            m.d.comb += [
                real.i.valid.eq(self.i.valid),
                real.i.payload.eq(self.i.payload),
                real.entries.eq(self.entries),
                self.o.valid.eq(real.o.valid),
                self.o.payload.data.eq(real.o.payload.data),
                self.o.payload.last.eq(real.o.valid),
            ]
            return m

    monkeypatch.setattr(rtl, "Accumulator", EveryBeatLast)
    r = formal.prove(formal.EngineSpec(ENGINES["pq"](), depth=DEPTHS["pq"]))
    assert _failed(r)
