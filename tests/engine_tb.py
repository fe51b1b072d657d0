"""Amaranth-simulator harness for the whole engine: several layers back to back, table reloads
overlapping compute, random input gaps and random output backpressure."""

import numpy as np
from amaranth.sim import Simulator

from pqaccel.config import LayerConfig
from pqaccel.driver import make_job
from pqaccel.export import build_manifest, make_engine


async def stream_put(ctx, stream, payload):
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload.as_value(), payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload.as_value()).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def run_engine(cfg, layers, seed=0, in_gap=0.0, out_stall=0.0, vcd=None):
    """Run ``layers`` (LayerConfig list) back to back; return ``(jobs, outputs, stats)``."""
    engine = make_engine(cfg, checks=True)      # the simulation-only assertions are on
    manifest = build_manifest(cfg, engine, "pq_engine")
    jobs = [make_job(manifest, layer, seed + i) for i, layer in enumerate(layers)]
    rng = np.random.default_rng(seed + 1000)
    outputs = [[] for _ in jobs]
    committed = [False] * len(jobs)
    fed = [False] * len(jobs)
    cycle = [0]
    stats = {"first_in": None, "out_cycles": [[] for _ in jobs]}

    async def clock_counter(ctx):
        async for _ in ctx.tick():
            cycle[0] += 1

    async def writer(ctx):
        for j, job in enumerate(jobs):
            for addr, value in job.writes[:-1]:
                ctx.set(engine.wr.en, 1)
                ctx.set(engine.wr.addr, addr)
                ctx.set(engine.wr.data, value)
                await ctx.tick().until(engine.wr.ready)
            ctx.set(engine.wr.en, 0)
            while j > 0 and not fed[j - 1]:
                await ctx.tick()
            addr, value = job.writes[-1]          # commit only after the previous layer's rows
            ctx.set(engine.wr.en, 1)
            ctx.set(engine.wr.addr, addr)
            ctx.set(engine.wr.data, value)
            await ctx.tick().until(engine.wr.ready)
            ctx.set(engine.wr.en, 0)
            committed[j] = True

    async def feeder(ctx):
        for j, job in enumerate(jobs):
            while not committed[j]:
                await ctx.tick()
            for beat in job.in_beats:
                if in_gap and rng.random() < in_gap:
                    await ctx.tick().repeat(int(rng.integers(1, 4)))
                await stream_put(ctx, engine.i, beat)
                if stats["first_in"] is None:
                    stats["first_in"] = cycle[0]
            fed[j] = True

    async def consumer(ctx):
        for j, job in enumerate(jobs):
            for _ in range(job.out_beats):
                if out_stall and rng.random() < out_stall:
                    await ctx.tick().repeat(int(rng.integers(1, 5)))
                outputs[j].append(await stream_get(ctx, engine.o))
                stats["out_cycles"][j].append(cycle[0])

    sim = Simulator(engine)
    sim.add_clock(1e-8)
    sim.add_process(clock_counter)
    sim.add_testbench(writer)
    sim.add_testbench(feeder)
    sim.add_testbench(consumer)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run_until(1e-8 * 200000)
    else:
        budget = sum(j.cycle_budget for j in jobs)
        sim.run_until(1e-8 * budget)
    return jobs, outputs, stats


def steady_cycles_per_row(job, out_cycles):
    """Cycles per row between the first and last row's final output beat."""
    ends = out_cycles[job.mt - 1::job.mt]
    if len(ends) < 2:
        return None
    return (ends[-1] - ends[0]) / (len(ends) - 1)
