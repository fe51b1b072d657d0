"""The engine shell's components on their own, in the Amaranth simulator: the table port, the
row issuer and the credit FIFO."""

import numpy as np
import pytest
from amaranth.lib import data
from amaranth.sim import Simulator

from pqaccel.engines.pq.addrmap import CONTROL_REGS, PQAddressMap
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import Parallelism, Requant, Widths
from pqaccel.rtl.control import busy_bits_for
from pqaccel.rtl.shell import CreditFIFO, RowIssuer, TablePort, count_register, requant_register


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


CFG = EngineConfig(
    v=2,
    k=8,
    c_max=10,
    m_max=7,
    par=Parallelism(3, 2, 2),
    widths=Widths(4, 4, 6, 8),
    requant=Requant("shift", 5, "half_up", True, runtime=True),
)


def table_port(cfg=CFG):
    amap = PQAddressMap(cfg)
    regs = [
        count_register(CONTROL_REGS["c"], "last_g", cfg.c_max, cfg.par.c_par),
        count_register(CONTROL_REGS["m"], "last_mt", cfg.m_max, cfg.par.m_par),
        requant_register(CONTROL_REGS["requant"], cfg.requant),
    ]
    return amap, TablePort(amap, CONTROL_REGS["commit"], regs, busy_bits_for(3), checks=True)


async def write(ctx, port, addr, value):
    """One write; returns after the cycle that accepted it."""
    ctx.set(port.wr.en, 1)
    ctx.set(port.wr.addr, addr)
    ctx.set(port.wr.data, value)
    await ctx.tick().until(port.wr.ready)
    ctx.set(port.wr.en, 0)


def test_table_port_decodes_what_the_address_map_packs():
    """Every region's fields, packed by the address map in Python, come out of the port's decode
    one cycle after the write is accepted, with the data and the region's strobe only."""
    amap, port = table_port()
    rng = np.random.default_rng(3)
    cases = []
    for region in ("codebook", "lut"):
        for _ in range(20):
            vals = {
                n: int(rng.integers(0, 1 << w)) if w else 0
                for n, (_, w) in amap.slices(region).items()
            }
            cases.append((region, vals, int(rng.integers(0, 1 << amap.data_bits))))
    seen = []

    async def bench(ctx):
        strobes = {r: port.region(r) for r in ("codebook", "lut", "control")}
        for region, vals, value in cases:
            await write(ctx, port, amap.address(region, **vals), value)
            hit = {r: ctx.get(s) for r, (s, _) in strobes.items()}
            fields = {n: ctx.get(getattr(strobes[region][1], n)) for n in vals}
            seen.append((hit, fields, ctx.get(port.w_data)))

    simulate(port, bench)
    for (region, vals, value), (hit, fields, got) in zip(cases, seen):
        assert hit == {r: int(r == region) for r in hit}
        assert fields == vals and got == value


def test_table_port_shape_registers_and_commit():
    """Shape and requant writes land in the shadow bank (out-of-range values ignored), a commit
    makes it active at the next row boundary, and ``ready`` is low while the commit is pending."""
    amap, port = table_port()
    ctl = lambda reg: amap.address("control", reg=CONTROL_REGS[reg])  # noqa: E731
    log = {}

    async def bench(ctx):
        ctx.set(port.rows.start, 0)
        assert ctx.get(port.active) == 0 and ctx.get(port.shadow) == 1
        reset = ctx.get(port.shape[0])
        log["reset"] = (
            reset.last_g,
            reset.rem if hasattr(reset, "rem") else None,
            reset.last_mt,
            reset.shift,
        )
        await write(ctx, port, ctl("c"), 7)  # 7 subspaces, 3 a group: last_g = 2
        await write(ctx, port, ctl("m"), 0)  # out of range: ignored
        await write(ctx, port, ctl("m"), 5)  # 5 outputs, 2 a beat: last_mt = 2
        await write(ctx, port, ctl("requant"), 3 | (1 << CFG.requant.shift_bits))
        await write(ctx, port, ctl("requant"), 6)  # shift beyond 5: ignored
        await ctx.tick().repeat(3)  # a shape write lands five cycles after its acceptance
        s1, s0 = ctx.get(port.shape[1]), ctx.get(port.shape[0])
        log["shadow"] = (s1.last_g, s1.last_mt, s1.shift, s1.relu)
        log["active_untouched"] = (s0.last_g, s0.last_mt, s0.shift, s0.relu)
        await write(ctx, port, ctl("commit"), 1)
        log["ready_pending"] = [ctx.get(port.wr.ready) for _ in range(1)]
        await ctx.tick().repeat(3)
        log["before_boundary"] = ctx.get(port.active)
        ctx.set(port.rows.start, 1)
        await ctx.tick()
        log["after_boundary"] = (ctx.get(port.active), ctx.get(port.wr.ready))

    simulate(port, bench)
    assert (
        log["reset"][0] == 3 and log["reset"][2] == 3 and log["reset"][3] == 5
    )  # c_max 10, m_max 7
    assert log["shadow"] == (2, 2, 3, 1)
    assert log["active_untouched"] == (3, 3, 5, 0)
    assert log["ready_pending"] == [0]
    assert log["before_boundary"] == 0
    assert log["after_boundary"] == (1, 1)


@pytest.mark.parametrize("last_inner, last_outer", [(0, 0), (2, 1), (1, 3)])
def test_row_issuer_steps_rows_and_keeps_their_bank(last_inner, last_outer):
    """Steps come in row order with ``room`` and ``valid`` gating them; a bank swap requested
    inside a row waits for its end (the row keeps the bank it started on)."""
    iss = RowIssuer(4, 4)
    rng = np.random.default_rng(last_inner * 7 + last_outer)
    steps = []

    async def bench(ctx):
        ctx.set(iss.last_inner, [last_inner, last_inner])
        ctx.set(iss.last_outer, [last_outer, last_outer])
        active = 0
        for cyc in range(200):
            valid, room = int(rng.random() < 0.8), int(rng.random() < 0.8)
            pending = int(rng.random() < 0.2)
            ctx.set(iss.valid, valid)
            ctx.set(iss.room, room)
            ctx.set(iss.rows.pending, pending)
            ctx.set(iss.rows.active, active)
            if ctx.get(iss.issue):
                steps.append(
                    (
                        ctx.get(iss.outer),
                        ctx.get(iss.inner),
                        ctx.get(iss.bank),
                        ctx.get(iss.row_start),
                        ctx.get(iss.at_last_inner),
                        ctx.get(iss.at_last_outer),
                    )
                )
            else:
                assert not (valid and room and not (pending and ctx.get(iss.row_start)))
            if pending and ctx.get(iss.row_start):
                active ^= 1  # what the bank control does at a row boundary
            await ctx.tick()

    simulate(iss, bench)
    per_row = (last_inner + 1) * (last_outer + 1)
    order = [(o, i) for o in range(last_outer + 1) for i in range(last_inner + 1)]
    assert len(steps) > 2 * per_row
    for n, (o, i, bank, start, li, lo) in enumerate(steps):
        assert (o, i) == order[n % per_row]
        assert start == (n % per_row == 0) and li == (i == last_inner) and lo == (o == last_outer)
        assert bank == steps[n - n % per_row][2]  # the bank of the row's first step


def produce(ctx, dut, pipe, sent, wants, last):
    """One cycle of a producer in front of a :class:`CreditFIFO`: it issues (a credit taken)
    when it ``wants`` and a credit is free, and writes what issued ``len(pipe)`` cycles ago,
    values counting up from 0 (mod 256) with ``last(value)``.  Returns the new count issued."""
    take = int(ctx.get(dut.room) and wants)
    ctx.set(dut.take, take)
    head = pipe.pop()
    ctx.set(dut.w.valid, head is not None)
    if head is not None:
        ctx.set(dut.w.payload, {"value": head, "last": last(head)})
    pipe.insert(0, sent % 256 if take else None)
    return sent + take


@pytest.mark.parametrize("depth, credits, fails", [(6, 6, False), (3, 6, True)])
def test_credit_fifo(depth, credits, fails):
    """Entries come out in order under random backpressure when the producer issues only with
    a credit; a FIFO shallower than its credits is caught by its write-while-full check."""
    layout = data.StructLayout({"value": 8, "last": 1})
    dut = CreditFIFO(layout, depth, checks=True, name="test FIFO", credits=credits)
    latency = 3  # the producer's pipeline
    rng = np.random.default_rng(depth)
    out = []

    async def bench(ctx):
        pipe = [None] * latency
        sent = 0
        for _ in range(300):
            sent = produce(ctx, dut, pipe, sent, rng.random() < 0.9, lambda v: v % 4 == 3)
            ctx.set(dut.r.ready, int(rng.random() < 0.3))
            if ctx.get(dut.r.valid) and ctx.get(dut.r.ready):
                out.append(ctx.get(dut.r.payload).value)
            await ctx.tick()

    if fails:
        with pytest.raises(AssertionError, match="test FIFO: write while full"):
            simulate(dut, bench)
        return
    simulate(dut, bench)
    assert len(out) > 50 and out == [n % 256 for n in range(len(out))]


def test_credit_fifo_select_copies_the_head_bits():
    """With ``select`` the head's selected bits come from flip-flops too (``r_select``), equal
    to the memory's head at every valid cycle, while a consumer whose ready depends on them
    (here: hold entries with ``last`` set for a cycle more) drains the FIFO in order."""
    from amaranth.hdl import Cat

    layout = data.StructLayout({"value": 8, "last": 1})
    dut = CreditFIFO(
        layout, 5, checks=True, name="select FIFO", select=lambda p: Cat(p.last, p.value[0])
    )
    rng = np.random.default_rng(3)
    out, compared = [], []

    async def bench(ctx):
        pipe = [None] * 2
        sent, held = 0, False
        for _ in range(400):
            sent = produce(ctx, dut, pipe, sent, rng.random() < 0.8, lambda v: v % 3 == 0)
            ready = 0
            if ctx.get(dut.r.valid):
                p = ctx.get(dut.r.payload)
                sel = ctx.get(dut.r_select)
                compared.append(sel == (p.last | (p.value & 1) << 1))
                last = sel & 1  # the copy, not the memory, decides
                ready = int(rng.random() < 0.7 and (not last or held))
                held = bool(last) and not ready
                if ready:
                    out.append(p.value)
            ctx.set(dut.r.ready, ready)
            await ctx.tick()

    simulate(dut, bench)
    assert len(compared) > 100 and all(compared)
    assert len(out) > 50 and out == [n % 256 for n in range(len(out))]
