"""cocotb testbench: the emitted engine against the golden model, driven through the manifest.

Configuration comes from the JSON file named by ``PQ_COSIM``:
``{"manifest": path, "seed": int, "layers": [{"d", "m", "n", "in_gap", "out_stall"}], "result":
path}``.
Layers run back to back under the commit rule of :mod:`pqaccel.sim.schedule` (the tables of
layer ``j+1`` are written while layer ``j`` computes).  Three concurrent coroutines, as in the
Amaranth-simulator harness: a writer (table port), a feeder (input rows, random valid gaps with
probability ``in_gap`` per beat) and a consumer (output beats, random backpressure with
probability ``out_stall``).  The result file receives the mismatches and the measured cycles per
row of each layer (:func:`pqaccel.sim.schedule.steady_cycles_per_row`).

Every coroutine drives on the falling clock edge and samples (``ReadOnly``) before the next
rising edge, so a transfer is exactly a cycle where valid and ready are both seen high.
"""

import json

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from pqaccel.config import LayerConfig
from pqaccel.jobs import make_job

from .schedule import Schedule, first_row_latency, steady_cycles_per_row
from .tbutil import load_config, reset

REQUIRED_PORTS = (
    "clk",
    "rst",
    "i__valid",
    "i__ready",
    "i__payload",
    "o__valid",
    "o__ready",
    "o__payload",
    "wr__en",
    "wr__addr",
    "wr__data",
    "wr__ready",
)


class CycleCounter:
    """Rising edges since reset; ``check()`` fails a run that exceeds its budget."""

    def __init__(self, dut, limit):
        self.dut, self.limit, self.now = dut, limit, 0

    async def count(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.now += 1

    def check(self):
        assert self.now < self.limit, "timeout: the engine stopped making progress"


async def put(dut, clock, valid, ready, fields):
    """Offer one transfer (``fields``: signal -> value) from a falling edge until ``ready``;
    returns on the falling edge after the cycle that took it, with ``valid`` low again."""
    valid.value = 1
    for sig, value in fields.items():
        sig.value = value
    while True:
        await ReadOnly()
        taken = ready.value == 1
        await FallingEdge(dut.clk)
        if taken:
            break
        clock.check()
    valid.value = 0


async def pause(dut, cycles):
    for _ in range(cycles):
        await FallingEdge(dut.clk)


async def writer(dut, clock, sched):
    for j, job in enumerate(sched.jobs):
        for n, (addr, value) in enumerate(job.writes):
            if n == len(job.writes) - 1:  # the commit
                while not sched.may_commit(j):
                    await FallingEdge(dut.clk)
                    clock.check()
            await put(
                dut, clock, dut.wr__en, dut.wr__ready, {dut.wr__addr: addr, dut.wr__data: value}
            )
        sched.committed(j)


async def feeder(dut, clock, sched, layers, rng, in_cycles):
    for j, job in enumerate(sched.jobs):
        while not sched.may_feed(j):
            await FallingEdge(dut.clk)
            clock.check()
        for n, beat in enumerate(job.in_beats):
            if n and layers[j]["in_gap"] and rng.random() < layers[j]["in_gap"]:
                await pause(dut, int(rng.integers(1, 4)))
            await put(dut, clock, dut.i__valid, dut.i__ready, {dut.i__payload: beat})
            in_cycles[j].append(clock.now)
        sched.fed(j)


async def consumer(dut, clock, sched, layers, rng, outputs, out_cycles):
    for j, job in enumerate(sched.jobs):
        for n in range(job.out_beats):
            if n and layers[j]["out_stall"] and rng.random() < layers[j]["out_stall"]:
                await pause(dut, int(rng.integers(1, 5)))
            dut.o__ready.value = 1
            while True:
                await ReadOnly()
                payload = dut.o__payload.value.to_unsigned() if dut.o__valid.value == 1 else None
                await FallingEdge(dut.clk)
                if payload is not None:
                    break
                clock.check()
            dut.o__ready.value = 0
            outputs[j].append(payload)
            out_cycles[j].append(clock.now)


@cocotb.test()
async def pq_engine(dut):
    cfg, manifest = load_config()
    names = {p["name"] for p in manifest["ports"]}
    for needed in REQUIRED_PORTS:
        assert needed in names, f"manifest lacks port {needed}"
    layers = cfg["layers"]
    jobs = [
        make_job(manifest, LayerConfig(d=ly["d"], m=ly["m"], n=ly["n"]), cfg["seed"] + j)
        for j, ly in enumerate(layers)
    ]
    sched = Schedule(jobs)
    outputs, out_cycles, in_cycles = ([[] for _ in jobs] for _ in range(3))

    await reset(dut)
    clock = CycleCounter(dut, sched.cycle_budget())
    cocotb.start_soon(clock.count())
    cocotb.start_soon(writer(dut, clock, sched))
    cocotb.start_soon(
        feeder(dut, clock, sched, layers, np.random.default_rng(cfg["seed"] + 1000), in_cycles)
    )
    await consumer(
        dut, clock, sched, layers, np.random.default_rng(cfg["seed"] + 2000), outputs, out_cycles
    )

    result = {"layers": []}
    for j, job in enumerate(jobs):
        bad = job.check(outputs[j])
        result["layers"].append(
            {
                "d": job.layer.d,
                "m": job.layer.m,
                "n": job.layer.n,
                "in_gap": layers[j]["in_gap"],
                "out_stall": layers[j]["out_stall"],
                "mismatches": len(bad),
                "first_mismatches": bad[:5],
                "cycles_per_row": steady_cycles_per_row(job, out_cycles[j]),
                "ideal_cycles_per_row": job.ideal_cycles_per_row,
                "latency_first_row": first_row_latency(job, in_cycles[j], out_cycles[j]),
            }
        )
    result["cycles"] = clock.now
    with open(cfg["result"], "w") as f:
        json.dump(result, f, indent=2)
    total = sum(ly["mismatches"] for ly in result["layers"])
    assert total == 0, f"{total} mismatches: {result['layers']}"
