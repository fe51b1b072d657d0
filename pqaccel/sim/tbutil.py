"""Pieces the cocotb testbenches share: reset, the table-port commit rule (of
:mod:`pqaccel.sim.schedule`) for those that step cycle by cycle, and one clock cycle of driving
and sampling the engine's three interfaces.

Signals are driven on the falling clock edge and sampled (``ReadOnly``) before the next rising
edge, so a transfer is exactly a cycle where valid and ready are both seen high.
"""

import json
import os

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from .schedule import may_commit

__all__ = ["load_config", "reset", "next_write", "clock_cycle", "Traffic"]


def load_config():
    """``(config, manifest)``: the testbench's JSON configuration (the file named by
    ``PQ_COSIM``, written by :func:`pqaccel.sim.runner.run_testbench`) and the manifest it names."""
    with open(os.environ["PQ_COSIM"]) as f:
        cfg = json.load(f)
    with open(cfg["manifest"]) as f:
        return cfg, json.load(f)


async def reset(dut):
    """Start the clock and hold reset for three cycles, every valid/enable low; return on a
    falling edge with reset released."""
    import cocotb

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.wr__en.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def next_write(writes, wj, wi, fed):
    """The table-port write to offer now, or None: job ``wj``'s write ``wi``, except that a job's
    last write (its commit) waits until the job before has been fed completely."""
    if wj >= len(writes):
        return None
    if wi == len(writes[wj]) - 1 and not may_commit(wj, fed):
        return None
    return writes[wj][wi]


async def clock_cycle(dut, wr_item, beat, out_ready):
    """Drive one cycle (a write, an input beat, output ready; None for none) and sample it.
    Returns ``(wr_fire, in_fire, out_payload)``; ``out_payload`` is None when no output beat
    was taken.  Returns on the next falling edge."""
    dut.wr__en.value = int(wr_item is not None)
    if wr_item is not None:
        dut.wr__addr.value, dut.wr__data.value = wr_item
    dut.i__valid.value = int(beat is not None)
    if beat is not None:
        dut.i__payload.value = beat
    dut.o__ready.value = int(out_ready)
    await ReadOnly()
    wr_fire = wr_item is not None and dut.wr__ready.value == 1
    in_fire = beat is not None and dut.i__ready.value == 1
    payload = dut.o__payload.value.to_unsigned() if out_ready and dut.o__valid.value == 1 else None
    await FallingEdge(dut.clk)
    return wr_fire, in_fire, payload


class Traffic:
    """Random input gaps and output backpressure, decided cycle by cycle (seeded ``rng``).

    Per cycle: :meth:`offer` the next input beat (None while a gap runs) and drive output ready
    from :meth:`ready`; after a transfer call :meth:`input_taken` / :meth:`output_taken` with
    the probability that a gap (1-3 cycles) or backpressure (1-4 cycles) follows."""

    def __init__(self, rng):
        self.rng = rng
        self.gap = 0
        self.stall = 0

    def offer(self, beat):
        if self.gap:
            self.gap -= 1
            return None
        return beat

    def ready(self):
        if self.stall:
            self.stall -= 1
        return self.stall == 0

    def input_taken(self, p_gap):
        if p_gap and self.rng.random() < p_gap:
            self.gap = int(self.rng.integers(1, 4))

    def output_taken(self, p_stall):
        if p_stall and self.rng.random() < p_stall:
            self.stall = int(self.rng.integers(1, 5))
