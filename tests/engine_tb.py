"""Amaranth-simulator harness for the whole engine: several layers back to back, table reloads
overlapping compute, random input gaps and random output backpressure."""

import numpy as np
from amaranth.sim import Simulator

from pqaccel.jobs import make_job
from pqaccel.export import build_manifest, make_engine
from pqaccel.sim.schedule import Schedule


async def stream_put(ctx, stream, payload):
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload.as_value(), payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload.as_value()).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def run_engine(cfg, layers, seed=0, in_gap=0.0, out_stall=0.0, vcd=None, family=None):
    """Run ``layers`` (LayerConfig list) back to back; return ``(jobs, outputs, stats)``
    (``family``: the engine as built for that FPGA family, :func:`make_engine`)."""
    # the simulation-only assertions are on
    engine = make_engine(cfg, checks=True, family=family)
    manifest = build_manifest(cfg, engine, "pq_engine")
    jobs = [make_job(manifest, layer, seed + i) for i, layer in enumerate(layers)]
    sched = Schedule(jobs)
    rng = np.random.default_rng(seed + 1000)
    outputs = [[] for _ in jobs]
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
            while not sched.may_commit(j):
                await ctx.tick()
            addr, value = job.writes[-1]  # commit only after the previous layer's rows
            ctx.set(engine.wr.en, 1)
            ctx.set(engine.wr.addr, addr)
            ctx.set(engine.wr.data, value)
            await ctx.tick().until(engine.wr.ready)
            ctx.set(engine.wr.en, 0)
            sched.committed(j)

    async def feeder(ctx):
        for j, job in enumerate(jobs):
            while not sched.may_feed(j):
                await ctx.tick()
            for beat in job.in_beats:
                if in_gap and rng.random() < in_gap:
                    await ctx.tick().repeat(int(rng.integers(1, 4)))
                await stream_put(ctx, engine.i, beat)
                if stats["first_in"] is None:
                    stats["first_in"] = cycle[0]
            sched.fed(j)

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
        sim.run_until(1e-8 * sched.cycle_budget(slack=0))
    return jobs, outputs, stats


def shallow_output_fifo(depth):
    """A :class:`CreditFIFO` whose output FIFO is ``depth`` deep but hands out the credits the
    engine sized it for (a FIFO shallower than its credit loop)."""
    from pqaccel.rtl.shell import CreditFIFO

    def make(layout, credits, checks=False, name="FIFO", **kwargs):
        return CreditFIFO(
            layout,
            depth if name == "output FIFO" else credits,
            checks,
            name,
            credits=credits,
            **kwargs,
        )

    return make
