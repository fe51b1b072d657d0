"""cocotb soak testbench: many layers with table reloads, random gaps and backpressure, and
synchronous resets at random times, every output checked against the golden model.

Configuration (JSON file named by ``PQ_COSIM``): ``{"manifest", "seed", "rows": total rows to
check, "rows_per_job": [lo, hi], "in_gap", "out_stall", "reset_prob": probability that a job
is interrupted by a reset, "result"}``.

Jobs (a random layer shape, random tables, ``rows_per_job`` rows) run back to back as in
:mod:`pqaccel.sim.pq_tb`: the next job's tables load while the current one computes.  A job
picked for a reset gets ``rst`` high for 1-3 cycles at a random cycle while it runs (tables
half written, rows in flight, outputs pending).  After a reset the engine must accept a fresh
configuration: the interrupted job and the ones after it are run again from their first
table write, and their outputs must be exactly the golden model's.  Nothing from before the
reset may leak out: an output beat before the first input beat after a reset is an error, and
each job's output count must match (no row lost or repeated).
"""

import json

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from pqaccel.config import LayerConfig
from pqaccel.engines import engine_from_manifest
from pqaccel.jobs import make_job

from .tbutil import Traffic, clock_cycle, load_config, next_write, reset


async def pulse_reset(dut, cycles):
    """Synchronous reset for ``cycles`` clock edges, every valid/enable low; returns on a
    falling edge with reset released."""
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.wr__en.value = 0
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


@cocotb.test()
async def soak(dut):
    cfg, manifest = load_config()
    engine = engine_from_manifest(manifest)
    rng = np.random.default_rng(cfg["seed"])
    lo, hi = cfg["rows_per_job"]
    d_max = engine.d_max
    stats = {
        "rows_checked": 0,
        "jobs": 0,
        "reloads": 0,
        "resets": 0,
        "mismatches": 0,
        "leaks": 0,
        "rerun_jobs": 0,
        "first_mismatches": [],
    }
    seed = cfg["seed"] * 1000

    def new_job():
        nonlocal seed
        seed += 1
        layer = LayerConfig(
            d=int(rng.integers(1, d_max + 1)),
            m=int(rng.integers(1, engine.m_max + 1)),
            n=int(rng.integers(lo, hi + 1)),
        )
        return make_job(manifest, layer, seed)

    await reset(dut)
    pending = []  # jobs not yet completed, in order (the first may be running)
    cycle = 0
    while stats["rows_checked"] < cfg["rows"]:
        while len(pending) < 3:
            pending.append(new_job())
        jobs = list(pending)
        # this epoch runs ``jobs`` until they complete or a reset interrupts job ``reset_job``
        reset_job = int(rng.integers(0, len(jobs))) if rng.random() < cfg["reset_prob"] else None
        reset_at = None
        wj = wi = fj = fi = cj = 0
        committed = [False] * len(jobs)
        fed = [False] * len(jobs)
        outputs = [[] for _ in jobs]
        any_input = False
        traffic = Traffic(rng)
        limit = cycle + sum(j.cycle_budget for j in jobs) + 10000
        writes = [j.writes for j in jobs]
        interrupted = False
        while cj < len(jobs):
            cycle += 1
            assert cycle < limit, "timeout: the engine stopped making progress"
            if reset_job is not None and reset_at is None and wj >= reset_job:
                # somewhere inside job reset_job's life: during its loads or its rows
                span = (
                    len(jobs[reset_job].writes) + len(jobs[reset_job].in_beats) * jobs[reset_job].mt
                )
                reset_at = cycle + int(rng.integers(0, max(2, span)))
            if reset_at is not None and cycle >= reset_at:
                await pulse_reset(dut, int(rng.integers(1, 4)))
                stats["resets"] += 1
                interrupted = True
                break
            wr_item = next_write(writes, wj, wi, fed)
            beat = (
                traffic.offer(jobs[fj].in_beats[fi]) if fj < len(jobs) and committed[fj] else None
            )
            wr_fire, in_fire, payload = await clock_cycle(dut, wr_item, beat, traffic.ready())
            if wr_fire:
                wi += 1
                if wi == len(jobs[wj].writes):
                    committed[wj] = True
                    stats["reloads"] += 1
                    wj, wi = wj + 1, 0
            if in_fire:
                any_input = True
                fi += 1
                if fi == len(jobs[fj].in_beats):
                    fed[fj] = True
                    fj, fi = fj + 1, 0
                else:
                    traffic.input_taken(cfg["in_gap"])
            if payload is not None:
                if not any_input:
                    stats["leaks"] += 1  # an output nobody asked for since the reset
                    continue
                outputs[cj].append(payload)
                if len(outputs[cj]) == jobs[cj].out_beats:
                    bad = jobs[cj].check(outputs[cj])
                    stats["mismatches"] += len(bad)
                    stats["first_mismatches"] += bad[:3]
                    stats["rows_checked"] += jobs[cj].layer.n
                    stats["jobs"] += 1
                    cj += 1
                    pending.pop(0)
                else:
                    traffic.output_taken(cfg["out_stall"])
        if interrupted:
            stats["rerun_jobs"] += len(pending)
    stats["cycles"] = cycle
    with open(cfg["result"], "w") as f:
        json.dump(stats, f, indent=2)
    assert stats["mismatches"] == 0, stats["first_mismatches"]
    assert stats["leaks"] == 0, f"{stats['leaks']} output beats came out of a reset"
