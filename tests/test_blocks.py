"""Each block against the golden model in the Amaranth simulator."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from pqaccel import fixedpoint as fx
from pqaccel.engines.pq import model
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import Parallelism, Requant, Widths, METRICS, ROUNDINGS
from pqaccel.rtl.accumulator import Accumulator
from pqaccel.rtl.argmin import ArgminTree
from pqaccel.rtl.codebook import CodebookMemory
from pqaccel.rtl.distance import DistanceUnit
from pqaccel.rtl.encoder import Encoder
from pqaccel.rtl.tables import TableBanks


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8, if_exists=True)
    sim.add_testbench(bench)
    sim.run()


def pipelined(dut, stages, inputs, apply, read):
    """Present one input per cycle; collect the output ``stages`` cycles after each."""
    got = []

    async def bench(ctx):
        # after the tick of cycle n, the output belongs to the input of cycle n - stages + 1
        for n in range(len(inputs) + stages - 1):
            if n < len(inputs):
                apply(ctx, inputs[n])
            await ctx.tick()
            if n >= stages - 1:
                got.append(read(ctx))

    if stages == 0:

        async def bench(ctx):  # noqa: F811
            for item in inputs:
                apply(ctx, item)
                got.append(read(ctx))

    simulate(dut, bench)
    return got


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    "v, in_bits, proto_bits", [(1, 2, 2), (3, 5, 8), (4, 16, 16), (9, 8, 6), (9, 6, 6), (2, 7, 3)]
)
def test_distance_unit(metric, v, in_bits, proto_bits):
    rng = np.random.default_rng(v * 100 + in_bits)
    dut = DistanceUnit(metric=metric, v=v, in_bits=in_bits, proto_bits=proto_bits)
    xlo, xhi = fx.signed_range(in_bits)
    plo, phi = fx.signed_range(proto_bits)
    xs = rng.integers(xlo, xhi + 1, size=(40, v))
    ps = rng.integers(plo, phi + 1, size=(40, v))
    xs[:4] = xlo
    ps[:4] = phi  # the largest distance
    xs[4:8] = xhi
    ps[4:8] = plo
    pairs = list(zip(xs.tolist(), ps.tolist()))

    def apply(ctx, item):
        ctx.set(dut.x, item[0])
        ctx.set(dut.p, item[1])

    got = pipelined(dut, dut.latency, pairs, apply, lambda ctx: ctx.get(dut.dist))
    want = fx.distance_np(metric, xs, ps).tolist()
    assert got == want
    assert max(want) <= dut.dist_max < (1 << dut.dist_bits)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 64, 256])
def test_argmin_tree(n):
    rng = np.random.default_rng(n)
    dut = ArgminTree(n=n, dist_bits=6)
    cases = rng.integers(0, 8, size=(30, n)).tolist()  # few values: many ties
    cases.append([5] * n)
    got = pipelined(
        dut,
        dut.latency,
        cases,
        lambda ctx, c: ctx.set(dut.dist, c),
        lambda ctx: (ctx.get(dut.min_idx), ctx.get(dut.min_dist)),
    )
    assert got == [(int(np.argmin(c)), min(c)) for c in cases]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k, k_par, c_par", [(2, 1, 1), (8, 2, 3), (16, 16, 2), (64, 8, 1)])
@pytest.mark.parametrize("gaps", [False, True], ids=["dense", "gaps"])
def test_encoder(metric, k, k_par, c_par, gaps):
    cfg = EngineConfig(
        v=3,
        k=k,
        c_max=c_par,
        m_max=1,
        metric=metric,
        par=Parallelism(c_par=c_par, k_par=k_par, m_par=1),
        widths=Widths(in_bits=4, proto_bits=3, lut_bits=4, out_bits=4),
    )
    rng = np.random.default_rng(k + c_par)
    n = 12
    xs = rng.integers(-8, 8, size=(n, c_par, 3))
    protos = rng.integers(-4, 4, size=(c_par, k, 3))
    protos[:, -1] = protos[:, 0]  # duplicate prototypes: ties across steps
    dut = Encoder(cfg, tag=8)  # the tag travels with each subvector: here its row number
    steps = cfg.k_steps
    # one (row, step) a cycle, or idle cycles between beats (within a row too) with ``gaps``
    beats = []
    for r in range(n):
        for s in range(steps):
            beats += [None] * (int(rng.integers(0, 3)) if gaps else 0) + [(r, s)]
    beats += [None] * (dut.latency + 2)
    got, tags, cycles = [], [], []

    async def bench(ctx):
        for cyc, beat in enumerate(beats):
            if beat is not None:
                r, s = beat
                ctx.set(dut.i.valid, 1)
                ctx.set(
                    dut.i.payload,
                    {
                        "last": s == steps - 1,
                        "step": s,
                        "x": xs[r].tolist(),
                        "tag": 100 + r,
                    },
                )
                ctx.set(dut.protos, protos[:, s * k_par : (s + 1) * k_par].tolist())
            else:  # an idle beat carries garbage that must not count
                ctx.set(dut.i.valid, 0)
                ctx.set(dut.i.payload.step, int(rng.integers(0, steps)))
                ctx.set(dut.i.payload.x, rng.integers(-8, 8, size=(c_par, 3)).tolist())
                ctx.set(dut.protos, rng.integers(-4, 4, size=(c_par, k_par, 3)).tolist())
            await ctx.tick()
            if ctx.get(dut.o.valid):
                got.append(list(ctx.get(dut.o.payload.codes)))
                tags.append(ctx.get(dut.o.payload.tag))
                cycles.append(cyc)

    simulate(dut, bench)
    assert got == model.encode(cfg, xs, protos).tolist()
    assert tags == [100 + r for r in range(n)]
    # the codes of row r appear ``latency`` cycles after its last step was presented
    last_beats = [cyc for cyc, b in enumerate(beats) if b is not None and b[1] == steps - 1]
    assert cycles == [cyc + dut.latency - 1 for cyc in last_beats]


@pytest.mark.parametrize(
    "c_par, m_par, rq",
    [
        (1, 1, Requant(mode="raw")),
        (3, 2, Requant(mode="shift", shift=3, rounding="half_even", saturate=True)),
        (4, 3, Requant(mode="shift", shift=2, rounding="half_up", saturate=False)),
        (5, 1, Requant(mode="shift", shift=0, rounding="floor", saturate=True)),
    ],
)
def test_accumulator(c_par, m_par, rq):
    cfg = EngineConfig(
        v=1,
        k=2,
        c_max=4 * c_par,
        m_max=3 * m_par,
        par=Parallelism(c_par, 1, m_par),
        widths=Widths(in_bits=4, proto_bits=4, lut_bits=6, out_bits=5),
        requant=rq,
    )
    rng = np.random.default_rng(c_par)
    dut = Accumulator.for_engine(cfg)
    rows, groups, mt = 4, 3, 2
    # entries[row, g, t, cl, ml]; lanes >= 2 masked off in the last group
    entries = rng.integers(-32, 32, size=(rows, groups, mt, c_par, m_par))
    valid_lanes = min(2, c_par)
    mask = np.ones((groups, c_par), dtype=bool)
    mask[-1, valid_lanes:] = False
    got = []

    cycles, lasts = [], []

    async def bench(ctx):
        seq = [(r, g, t) for r in range(rows) for g in range(groups) for t in range(mt)]
        for n in range(len(seq) + dut.latency + 1):
            if n < len(seq):
                r, g, t = seq[n]
                ctx.set(dut.i.valid, 1)
                ctx.set(
                    dut.i.payload,
                    {
                        "first": g == 0,
                        "last": g == groups - 1,
                        "row_end": t == mt - 1,
                        "last_t": mt - 1,
                        "mask": int(sum(1 << cl for cl in range(c_par) if mask[g, cl])),
                    },
                )
                ctx.set(dut.entries, entries[r, g, t].tolist())
                if g == groups - 1:
                    lasts.append(n)
            else:
                ctx.set(dut.i.valid, 0)
            await ctx.tick()
            if ctx.get(dut.o.valid):
                got.append((list(ctx.get(dut.o.payload.data)), ctx.get(dut.o.payload.last)))
                cycles.append(n)

    simulate(dut, bench)
    assert cycles == [n + dut.latency - 1 for n in lasts]  # the latency it declares
    acc = (entries * mask[None, :, None, :, None]).sum(axis=(1, 3))  # rows x mt x m_par
    want = [
        (model.requantize(cfg, acc[r, t]).tolist(), int(t == mt - 1))
        for r in range(rows)
        for t in range(mt)
    ]
    assert got == want


@pytest.mark.parametrize(
    "rq",
    [Requant("shift", s, r, sat) for s in (0, 1, 3) for r in ROUNDINGS for sat in (True, False)]
    + [Requant("raw")],
)
def test_requantize_hdl_exhaustive(rq):
    acc_bits, out_bits = 8, 4
    m = Module()
    acc = Signal(signed(acc_bits))
    out = Signal(signed(fx.requant_bits(rq, acc_bits, out_bits)))
    m.d.comb += out.eq(fx.requantize_hdl(acc, rq, out_bits))
    values = list(range(-128, 128))
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(acc, v)
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == fx.requantize_np(np.array(values), rq, out_bits).tolist()


def test_memories_write_then_read():
    cfg = EngineConfig(
        v=2,
        k=4,
        c_max=4,
        m_max=4,
        par=Parallelism(2, 2, 2),
        widths=Widths(proto_bits=5, lut_bits=7),
    )
    cb, luts = CodebookMemory(cfg), TableBanks(cfg, tag=8)
    m = Module()
    m.submodules.cb, m.submodules.luts = cb, luts
    rng = np.random.default_rng(1)
    cb_words = rng.integers(-16, 16, size=(cb.depth, 2, 2, 2))  # addr, lane, slot, elem
    lut_words = rng.integers(-64, 64, size=(luts.depth, 2, 2))  # addr, cl, ml
    got_cb, got_lut = [], []

    async def bench(ctx):
        for a in range(cb.depth):
            for lane in range(2):
                for slot in range(2):
                    ctx.set(cb.wr_en, 1)
                    ctx.set(cb.wr_lane, lane)
                    ctx.set(cb.wr_slot, slot)
                    ctx.set(cb.wr_addr, a)
                    ctx.set(cb.wr_data, cb_words[a, lane, slot].tolist())
                    await ctx.tick()
        ctx.set(cb.wr_en, 0)
        for a in range(luts.depth):
            for cl in range(2):
                for ml in range(2):
                    ctx.set(luts.wr_en, 1)
                    ctx.set(luts.wr_cl, cl)
                    ctx.set(luts.wr_ml, ml)
                    ctx.set(luts.wr_addr, a)
                    ctx.set(luts.wr_data, int(lut_words[a, cl, ml]))
                    await ctx.tick()
        ctx.set(luts.wr_en, 0)
        for a in range(cb.depth):
            ctx.set(cb.rd.payload.addr, a)
            ctx.set(cb.rd.valid, 1)
            await ctx.tick()
            ctx.set(cb.rd.valid, 0)
            await ctx.tick().repeat(cb.latency - 1)
            assert ctx.get(cb.rd_out.valid)
            got_cb.append(ctx.get(cb.rd_out.payload.data))
        for a in range(luts.depth):
            ctx.set(luts.rd.payload, {"addr": [a, (a + 1) % luts.depth], "tag": a})
            ctx.set(luts.rd.valid, 1)
            await ctx.tick()
            ctx.set(luts.rd.valid, 0)
            await ctx.tick().repeat(luts.latency - 1)
            assert ctx.get(luts.rd_out.valid) and ctx.get(luts.rd_out.payload.tag) == a
            got_lut.append(ctx.get(luts.rd_out.payload.data))

    simulate(m, bench)
    assert [list(map(lambda s: [list(e) for e in s], w)) for w in got_cb] == cb_words.tolist()
    want_lut = [
        [lut_words[a, 0].tolist(), lut_words[(a + 1) % luts.depth, 1].tolist()]
        for a in range(luts.depth)
    ]
    assert [[list(ly) for ly in w] for w in got_lut] == want_lut


@pytest.mark.parametrize("acc_bits, out_bits", [(8, 4), (3, 5)])
@pytest.mark.parametrize(
    "rq",
    [
        Requant("shift", s, r, sat, runtime=True)
        for s in (0, 1, 4)
        for r in ROUNDINGS
        for sat in (True, False)
    ],
)
def test_requantize_runtime_hdl_exhaustive(rq, acc_bits, out_bits):
    """Every accumulator value, every run-time shift 0..rq.shift, ReLU on and off; also with
    an accumulator narrower than the output (a small layer's exact sum)."""
    m = Module()
    acc = Signal(signed(acc_bits))
    shift = Signal(rq.shift_bits)
    relu = Signal()
    out = Signal(signed(out_bits))
    m.d.comb += out.eq(fx.requantize_runtime_hdl(acc, rq, out_bits, shift, relu))
    values = list(range(-(1 << (acc_bits - 1)), 1 << (acc_bits - 1)))
    got, want = [], []

    async def bench(ctx):
        for s in range(rq.shift + 1):
            for r in (False, True):
                ctx.set(shift, s)
                ctx.set(relu, r)
                for v in values:
                    ctx.set(acc, v)
                    got.append(ctx.get(out))
                want.extend(fx.requantize_np(np.array(values), rq, out_bits, s, r).tolist())

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == want
    assert min(want) < 0 and 0 in want  # the cases cover negative outputs and ReLU


def test_requant_settings_need_runtime():
    fixed = Requant("shift", 3)
    with pytest.raises(ValueError, match=r"^a per-layer shift or relu needs requant.runtime=true "):
        fx.requantize_np(np.array([5]), fixed, 8, relu=True)
    rt = Requant("shift", 3, runtime=True)
    with pytest.raises(
        ValueError, match=r"^shift must be an integer from 0 to requant.shift=3, got 4$"
    ):
        fx.requantize_np(np.array([5]), rt, 8, shift=4)
    with pytest.raises(
        ValueError, match=r"^requant.runtime needs requant.mode='shift', got mode 'raw'$"
    ):
        Requant("raw", runtime=True)
    # ReLU: negatives become 0 after the shift
    assert fx.requantize_np(np.array([-9, 9]), rt, 8, shift=1, relu=True).tolist() == [0, 5]


@pytest.mark.parametrize("a_bits, b_bits", [(6, 5), (3, 2), (5, 7)])
def test_lut_multiplier_is_exact(a_bits, b_bits):
    """fixedpoint.multiply_hdl(kind="lut"), shift-and-add partial products, against a * b for
    every pair of signed operands."""
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator
    from pqaccel.fixedpoint import multiply_hdl

    a, b = Signal(signed(a_bits)), Signal(signed(b_bits))
    p = Signal(signed(a_bits + b_bits))
    m = Module()
    m.d.comb += p.eq(multiply_hdl(a, b, "lut"))
    sim = Simulator(m)
    bad = []

    async def bench(ctx):
        for x in range(-(1 << (a_bits - 1)), 1 << (a_bits - 1)):
            for y in range(-(1 << (b_bits - 1)), 1 << (b_bits - 1)):
                ctx.set(a, x)
                ctx.set(b, y)
                if ctx.get(p) != x * y:
                    bad.append((x, y, ctx.get(p)))

    sim.add_testbench(bench)
    sim.run()
    assert not bad, bad[:5]


@pytest.mark.parametrize("kind", ["dsp", "lut"])
@pytest.mark.parametrize("a_bits, b_bits", [(6, 5), (4, 1), (3, 2), (4, 7)])
def test_multiplier_is_exact_after_its_latency(kind, a_bits, b_bits):
    """rtl.Multiplier (from logic: operands, two partial sums, their sum; else the ``*``
    operator) gives a * b of the operands of Multiplier.latency clock edges earlier, every pair
    of signed operands streamed one a cycle."""
    from amaranth.sim import Simulator
    from pqaccel.rtl.multiplier import Multiplier

    dut = Multiplier(a_bits, b_bits, kind)
    pairs = [
        (x, y)
        for x in range(-(1 << (a_bits - 1)), 1 << (a_bits - 1))
        for y in range(-(1 << (b_bits - 1)), 1 << (b_bits - 1))
    ]
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    bad = []

    async def bench(ctx):
        for i in range(len(pairs) + dut.latency):
            if i < len(pairs):
                ctx.set(dut.a, pairs[i][0])
                ctx.set(dut.b, pairs[i][1])
            if i >= dut.latency:
                x, y = pairs[i - dut.latency]
                if ctx.get(dut.p) != x * y:
                    bad.append((x, y, ctx.get(dut.p)))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    assert not bad, bad[:5]


@pytest.mark.parametrize("max_value, par", [(1, 1), (2, 3), (13, 4), (576, 9)])
def test_const_table_in_two_stages_matches_its_function(max_value, par):
    """rtl.util.ConstTable: registered (two stages: tables of the index's low half, then a
    select by the high half) gives func(value) two clock edges after value, for every value in
    range streamed one a cycle; as a value it gives the same at once."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator
    from pqaccel.rtl.util import const_function

    func = lambda n: max(0, -(-n // par) - 1)  # noqa: E731  (a count's last index)
    value = Signal(12)
    m = Module()
    table = const_function(value, func, max_value)
    now = Signal(table.shape())
    m.d.comb += now.eq(table)
    later = table.registered(m, "later")
    sim = Simulator(m)
    sim.add_clock(1e-6)
    bad = []

    async def bench(ctx):
        for i in range(max_value + 3):
            if i <= max_value:
                ctx.set(value, i)
                if ctx.get(now) != func(i):
                    bad.append(("now", i, ctx.get(now)))
            if i >= 2 and ctx.get(later) != func(i - 2):
                bad.append(("later", i - 2, ctx.get(later)))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    assert not bad, bad[:5]
