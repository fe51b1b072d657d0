"""The conventional multiply-accumulate engine, the baseline the PQ engine is compared with."""

import math

from amaranth.hdl import Cat, Module, Mux, signed, unsigned
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In

from ... import pipeline
from .addrmap import MacAddressMap, MAC_CONTROL_REGS
from ...rtl.accumulator import Accumulator
from ...rtl.banked import BankedMemory
from ...rtl.multiplier import Multiplier
from ...rtl.control import busy_bits_for, check_bank_use, check_rows_out, engine_signature
from ...rtl.shell import (
    CreditFIFO,
    RowIssuer,
    TablePort,
    count_register,
    credit_gate,
    requant_register,
)
from ...rtl.util import delay, field_bits, fields_eq, replica_tree

__all__ = ["MacEngine", "WeightMemory"]


class WeightMemory(BankedMemory):
    """One block RAM per output lane ``ml``; word :meth:`word_addr` ``(bank, g, t)`` holds the
    ``d_par`` weights ``W[g*d_par + dl, t*m_par + ml]``, written one weight at a time.

    Read: a request on ``rd`` (address and the caller's ``tag``) comes back on ``rd_out``
    :attr:`latency` (:data:`pqaccel.pipeline.MEMORY_READ`) cycles later: the address is registered
    (one copy per memory, so that its fan-out to the block RAMs stays local and off the issue
    logic's path), then read, then the data registered twice after the block RAM.  Writes reach the
    memory :func:`pqaccel.pipeline.write_stages` + 1 clock edges later (registered per part of
    ``ceil(sqrt(m_par))`` memories, per memory, and per memory again).  With ``cfg.wide_port``,
    ``wr_all`` writes the whole word ``wr_row[ml]`` of every memory at ``wr_addr``.  The shared
    scaffolding: :class:`pqaccel.rtl.banked.BankedMemory`.
    """

    def __init__(self, cfg, tag=0):
        self.cfg = cfg
        wvec = data.ArrayLayout(signed(cfg.w_bits), cfg.d_par)
        super().__init__(
            pipeline.weight_depth(cfg),
            data.ArrayLayout(wvec, cfg.m_par),
            tag,
            lambda addr_bits: {
                "wr_dl": In(max(1, field_bits(cfg.d_par))),
                "wr_ml": In(max(1, field_bits(cfg.m_par))),
                "wr_addr": In(addr_bits),
                "wr_data": In(signed(cfg.w_bits)),
                **(
                    {"wr_all": In(1), "wr_row": In(data.ArrayLayout(wvec, cfg.m_par))}
                    if cfg.wide_port
                    else {}
                ),
            },
        )

    @staticmethod
    def word_addr(cfg, bank, g, t):
        """Word of input group ``g`` and output beat ``t`` in ``bank``."""
        return (bank * cfg.g_max + g) * cfg.mt_max + t

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        wide = cfg.wide_port
        # the read address and the write port registered per part of ceil(sqrt(m_par))
        # memories, then per memory (the write port then per memory again:
        # BankedMemory.last_stage): a tree, not one register driving every memory's copy, and
        # each memory's wide-port select its own
        size = math.isqrt(cfg.m_par - 1) + 1 if cfg.m_par > 1 else 1
        addrs = self.read_addresses(
            m, [str(ml) for ml in range(cfg.m_par)], parent=lambda g: f"q{int(g) // size}"
        )
        parts = [self.write_port(m, f"q{q}") for q in range(-(-cfg.m_par // size))]
        for ml in range(cfg.m_par):
            w = parts[ml // size]
            g = self.group_port(m, w, str(ml))
            if wide:
                (w_row,) = self.registered(m, str(ml), w_row=w.wr_row[ml])
            data_in = g.wr_data.replicate(cfg.d_par)
            if wide:
                data_in = Mux(g.wr_all, w_row.as_value(), data_in)
            en = Cat(
                g.wr_en & ((g.wr_all | one) if wide else one)
                for one in ((g.wr_ml == ml) & (g.wr_dl == dl) for dl in range(cfg.d_par))
            )
            en, m_addr, data_in = self.last_stage(m, f"mem{ml}", en, g.wr_addr, data_in)
            wr, rd = self.memory(
                m,
                f"mem{ml}",
                unsigned(cfg.d_par * cfg.w_bits),
                addrs[ml],
                m_addr,
                granularity=cfg.w_bits,
            )
            m.d.comb += [wr.data.eq(data_in), wr.en.eq(en)]
            self.read_data(m, self.rd_out.payload.data[ml], rd, f"rd_data{ml}")
        self.respond(m)
        return m


class MacEngine(wiring.Component):
    """``Y = X @ W`` with ``d_par x m_par`` multipliers (mapped to DSP blocks).

    Streams and table port work as in :class:`pqaccel.rtl.top.PQEngine`: ``i`` carries
    ``d_par`` input elements per beat (``ceil(d/d_par)`` beats a row, zero padding past ``d``);
    each beat is used for ``ceil(m/m_par)`` cycles, one per output beat; weights and the layer
    shape load into the shadow bank and a commit swaps banks at a row boundary.  Products are
    exact; the accumulator (:class:`pqaccel.rtl.accumulator.Accumulator`) is exact, then
    requantized as configured.
    """

    #: Submodules whose memories never see a read and a write of one word in a cycle.
    collision_free = ("weights",)

    def __init__(self, cfg, checks=False, family=None):
        self.cfg = cfg
        self.checks = checks
        # ``family``: the FPGA family synthesized for (None: the portable form); its multiplier
        # primitive where it takes these operands (:mod:`pqaccel.rtl.multiplier`)
        self.primitive = Multiplier.primitive_for(family, cfg.mult, cfg.in_bits, cfg.w_bits)
        self.amap = MacAddressMap(cfg)
        self.pipeline = cfg.pipeline()
        self.in_layout = data.ArrayLayout(signed(cfg.in_bits), cfg.d_par)
        self.out_layout = data.StructLayout(
            {"data": data.ArrayLayout(signed(cfg.result_bits), cfg.m_par), "last": 1}
        )
        super().__init__(engine_signature(self.in_layout, self.out_layout, self.amap))

    def latency_info(self):
        """Pipeline depth and FIFO size, for the manifest."""
        return {k: self.pipeline[k] for k in ("lookup_stages", "out_fifo_depth")}

    def elaborate(self, platform):
        m = Module()
        cfg, pl = self.cfg, self.pipeline

        # -- shell: table port, layer-shape registers, bank control -----------------------------
        m.submodules.port = port = TablePort(
            self.amap,
            MAC_CONTROL_REGS["commit"],
            [
                count_register(MAC_CONTROL_REGS["d"], "last_g", cfg.d_max, cfg.d_par),
                count_register(MAC_CONTROL_REGS["m"], "last_mt", cfg.m_max, cfg.m_par),
                requant_register(MAC_CONTROL_REGS["requant"], cfg.requant),
            ],
            busy_bits_for(pl["rows_in_flight"]),
            checks=self.checks,
        )
        wiring.connect(m, wiring.flipped(self.wr), port.wr)
        m.d.comb += self.active_bank.eq(port.active)
        shape, shadow = port.shape, port.shadow

        m.submodules.accumulator = acc = Accumulator(
            lanes=cfg.d_par,
            outs=cfg.m_par,
            entry_shape=signed(cfg.product_bits),
            acc_bits=cfg.acc_bits,
            steps=cfg.mt_max,
            requant=cfg.requant,
            out_bits=cfg.out_bits,
            masked=False,
        )
        m.submodules.weights = wm = WeightMemory(
            cfg, tag=data.StructLayout({"x": self.in_layout, "acc": acc.in_layout})
        )
        m.submodules.out_fifo = ofifo = CreditFIFO(
            self.out_layout, pl["out_fifo_depth"], self.checks, "output FIFO"
        )

        # -- table writes ------------------------------------------------------------------------
        for_w, f = port.region("weights")
        m.d.comb += [
            wm.wr_en.eq(for_w),
            wm.wr_dl.eq(f.dl),
            wm.wr_ml.eq(f.ml),
            wm.wr_addr.eq(WeightMemory.word_addr(cfg, shadow, f.g, f.t)),
            wm.wr_data.eq(port.w_data[: cfg.w_bits]),
        ]
        if cfg.wide_port:
            for_row, f = port.region("weight_row")
            with m.If(for_row):
                m.d.comb += [
                    wm.wr_en.eq(1),
                    wm.wr_all.eq(1),
                    wm.wr_addr.eq(WeightMemory.word_addr(cfg, shadow, f.g, f.t)),
                ]
            m.d.comb += wm.wr_row.eq(port.w_data[: cfg.d_par * cfg.m_par * cfg.w_bits])

        # -- issue: each input beat is used for ceil(M/m_par) cycles, one per output beat ------
        m.submodules.issue = iss = RowIssuer(cfg.mt_max, cfg.g_max)
        wiring.connect(m, iss.rows, port.rows)
        m.d.comb += [
            iss.valid.eq(self.i.valid),
            iss.room.eq(
                credit_gate(m, ofifo, iss.issue, iss.at_last_outer)
            ),  # outputs in a row's last group
            self.i.ready.eq(iss.issue & iss.at_last_inner),
        ]
        for b in range(2):
            m.d.comb += [
                iss.last_inner[b].eq(shape[b].last_mt),
                iss.last_outer[b].eq(shape[b].last_g),
            ]
        m.d.sync += [
            port.row_done.eq(iss.issue & iss.at_last_outer & iss.at_last_inner),
            port.done_bank.eq(iss.bank),
        ]
        beat = {
            "first": iss.outer == 0,
            "last": iss.at_last_outer,
            "row_end": iss.at_last_inner,
            "last_t": shape[iss.bank].last_mt,
        }
        if cfg.requant.runtime:  # the row's requantization travels with its products
            beat.update(shift=shape[iss.bank].shift, relu=shape[iss.bank].relu)
        m.d.comb += [
            wm.rd.valid.eq(iss.issue),
            wm.rd.payload.addr.eq(WeightMemory.word_addr(cfg, iss.bank, iss.outer, iss.inner)),
            *fields_eq(wm.rd.payload.tag, {"x": self.i.payload, "acc": beat}),
        ]

        # -- multipliers (operands and product registered), accumulator, output FIFO ----------
        got = wm.rd_out.payload
        # Each output lane gets its own copy of the inputs, in step with the weights' two
        # registers after the block RAM, from a tree of copies (a copy per group of lanes, then
        # per lane: one register drove the 16 lanes' copies over the DSP columns, the ECP5
        # critical path); every multiplier registers its operands (inside the DSP block with a
        # primitive), so each copy's bits reach one multiplier.
        early = wm.early_tag(m, short=2)
        x_lanes = replica_tree(m, early.x, "x", cfg.m_par)
        for ml in range(cfg.m_par):
            x_lane = x_lanes[ml]
            for dl in range(cfg.d_par):
                mul = Multiplier(cfg.in_bits, cfg.w_bits, cfg.mult, self.primitive)
                m.submodules[f"mul{dl}_{ml}"] = mul
                m.d.comb += [
                    mul.a.eq(x_lane[dl]),
                    mul.b.eq(got.data[ml][dl]),
                    acc.entries[dl][ml].eq(mul.p),
                ]
        m.d.comb += [
            acc.i.valid.eq(delay(m, wm.rd_out.valid, Multiplier.latency, "mul_valid")),
            acc.i.payload.eq(delay(m, got.tag.acc, Multiplier.latency, "mul_beat")),
        ]
        wiring.connect(m, acc.o, ofifo.w)
        wiring.connect(m, ofifo.r, wiring.flipped(self.o))

        # -- simulation- and formal-only checks -------------------------------------------------
        begin = iss.issue & iss.row_start
        end = iss.issue & iss.at_last_outer & iss.at_last_inner
        check_bank_use(
            m,
            port.active,
            self.checks,
            rows=pl["rows_in_flight"],
            begin=begin,
            begin_bank=iss.bank,
            end=end,
            end_bank=iss.bank,
            issue=iss.issue,
            row_start=iss.row_start,
            reads=[(iss.issue, iss.bank)],
            writes=[wm.write_event(m, shadow)],
        )
        check_rows_out(
            m,
            self.o,
            self.checks,
            begin=begin,
            beats_max=cfg.mt_max,
            rows=pl["rows_in_flight"] + pl["lookup_stages"] + pl["out_fifo_depth"],
        )
        return m
