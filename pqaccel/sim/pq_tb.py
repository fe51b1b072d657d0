"""cocotb testbench: the emitted engine against the golden model, driven through the manifest.

Configuration comes from the JSON file named by ``PQ_COSIM``:
``{"manifest": path, "seed": int, "layers": [{"d", "m", "n", "in_gap", "out_stall"}], "result": path}``.
Layers run back to back; the tables of layer ``j+1`` are written while layer ``j`` computes, and
committed once layer ``j``'s last input beat is accepted.  Inputs get random valid gaps
(probability ``in_gap`` per beat) and outputs random backpressure (``out_stall``).  The result
file receives the mismatches and the measured cycles per row of each layer (steady state: over
the second half of its rows).

All signals are driven on the falling clock edge and sampled (``ReadOnly``) before the next
rising edge, so a transfer is exactly a cycle where valid and ready are both seen high.
"""

import json

import cocotb
import numpy as np

from pqaccel.config import LayerConfig
from pqaccel.driver import make_job

from .tbutil import Traffic, clock_cycle, load_config, next_write, reset


def port(dut, name):
    return getattr(dut, name)


@cocotb.test()
async def pq_engine(dut):
    cfg, manifest = load_config()
    names = {p["name"] for p in manifest["ports"]}
    for needed in ("clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
                   "o__payload", "wr__en", "wr__addr", "wr__data", "wr__ready"):
        assert needed in names, f"manifest lacks port {needed}"
    layers = cfg["layers"]
    jobs = [make_job(manifest, LayerConfig(d=l["d"], m=l["m"], n=l["n"]), cfg["seed"] + j)
            for j, l in enumerate(layers)]
    rng = np.random.default_rng(cfg["seed"] + 1000)

    await reset(dut)

    wj, wi = 0, 0                 # writer: job, write index
    fj, fi = 0, 0                 # feeder: job, beat index
    cj = 0                        # consumer: job
    committed = [False] * len(jobs)
    fed = [False] * len(jobs)
    outputs = [[] for _ in jobs]
    out_cycles = [[] for _ in jobs]
    in_cycles = [[] for _ in jobs]
    traffic = Traffic(rng)
    cycle = 0
    limit = sum(j.cycle_budget for j in jobs) + 10000
    writes = [j.writes for j in jobs]
    while cj < len(jobs):
        cycle += 1
        assert cycle < limit, "timeout: the engine stopped making progress"
        wr_item = next_write(writes, wj, wi, fed)
        beat = traffic.offer(jobs[fj].in_beats[fi]) if fj < len(jobs) and committed[fj] else None
        wr_fire, in_fire, payload = await clock_cycle(dut, wr_item, beat, traffic.ready())
        out_fire = payload is not None
        if wr_fire:
            wi += 1
            if wi == len(jobs[wj].writes):
                committed[wj] = True
                wj, wi = wj + 1, 0
        if in_fire:
            in_cycles[fj].append(cycle)
            fi += 1
            if fi == len(jobs[fj].in_beats):
                fed[fj] = True
                fj, fi = fj + 1, 0
            else:
                traffic.input_taken(layers[fj]["in_gap"])
        if out_fire:
            outputs[cj].append(payload)
            out_cycles[cj].append(cycle)
            if len(outputs[cj]) == jobs[cj].out_beats:
                cj += 1
            else:
                traffic.output_taken(layers[cj]["out_stall"])

    result = {"layers": []}
    for j, job in enumerate(jobs):
        bad = job.check(outputs[j])
        # Steady state: from the middle row's last beat to the final row's, so that the drain
        # of the previous layer (whose outputs may have been held back) does not count.
        ends = out_cycles[j][job.mt - 1::job.mt]
        half = len(ends) // 2
        cpr = (ends[-1] - ends[half - 1]) / (len(ends) - half) if len(ends) > 1 else None
        result["layers"].append({
            "d": job.layer.d, "m": job.layer.m, "n": job.layer.n,
            "in_gap": layers[j]["in_gap"], "out_stall": layers[j]["out_stall"],
            "mismatches": len(bad), "first_mismatches": bad[:5],
            "cycles_per_row": cpr, "ideal_cycles_per_row": job.ideal_cycles_per_row,
            "latency_first_row": (out_cycles[j][job.mt - 1] - in_cycles[j][job.g - 1])
            if out_cycles[j] else None,
        })
    result["cycles"] = cycle
    with open(cfg["result"], "w") as f:
        json.dump(result, f, indent=2)
    total = sum(l["mismatches"] for l in result["layers"])
    assert total == 0, f"{total} mismatches: {result['layers']}"
