"""The PQ engine: streams in, streams out, a table write port, double-buffered tables."""

from amaranth.hdl import Array, Assert, Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring, data, fifo

from ..addrmap import PQAddressMap, REGIONS, CONTROL_REGS
from .codebook import CodebookMemory
from .encoder import Encoder
from .lut import LutBanks
from .accumulator import Accumulator
from .control import (BankControl, WritePortSignature, accept_writes, addr_field, attach_output,
                      busy_bits_for, check_bank_use, check_credits, check_fifo, check_rows_out, in_range, last_index,
                      last_index_registers, requant_registers, sequence_rows, engine_signature)
from .util import const_function, delay, field_bits

__all__ = ["PQEngine", "WritePortSignature"]


class PQEngine(wiring.Component):
    """The whole engine for one :class:`pqaccel.config.EngineConfig`.

    Members:

    * ``i`` (In stream): one beat per subspace group, ``c_par`` subvectors of ``v`` elements
      (subspace ``c = g*c_par + lane``); a row is ``ceil(C/c_par)`` beats, ``g = 0`` first.
      Lanes past ``C`` in the last group are ignored; padding columns past ``d`` must be zero.
    * ``o`` (Out stream): ``ceil(M/m_par)`` beats per row, beat ``t`` carrying outputs
      ``t*m_par .. t*m_par + m_par - 1`` in ``data`` (lanes past ``M`` are meaningless) and
      ``last`` on the row's final beat.
    * ``wr`` (In): the table write port (see :mod:`pqaccel.addrmap`).
    * ``active_bank`` (Out): the bank new rows use.

    Flow control is credit based: the encoder and lookup pipelines never stall; a pipeline issues
    work only when the FIFO after it has room for the result, so backpressure on ``o`` stops
    issue without losing or repeating anything, and with no backpressure the initiation interval
    is one: ``max(k_steps, ceil(M/m_par))`` cycles per subspace group.
    """

    def __init__(self, cfg, checks=False):
        self.cfg = cfg
        self.checks = checks
        p, w = cfg.par, cfg.widths
        self.amap = PQAddressMap(cfg)
        self.in_layout = data.ArrayLayout(data.ArrayLayout(signed(w.in_bits), cfg.v), p.c_par)
        self.out_layout = data.StructLayout({
            "data": data.ArrayLayout(signed(cfg.result_bits), p.m_par), "last": 1})
        self.encode_stages = CodebookMemory.latency(cfg) + Encoder.latency(cfg)
        self.lookup_stages = LutBanks.stages + Accumulator.latency(cfg.par.c_par, cfg.requant)
        # Credit loops: issue -> FIFO write (pipeline depth), write -> readable (2 cycles: both
        # FIFOs are buffered, their heads are registers), pop -> credit back (1): the FIFOs cover
        # the round trip so that credits never throttle an unstalled stream.  The code FIFO's
        # head being a register keeps the lookup issue logic (head -> row counters -> pop) a
        # register-to-register path instead of a loop through the FIFO's read multiplexer.
        self.code_depth = self.encode_stages + 4
        self.out_depth = self.lookup_stages + 4
        super().__init__(engine_signature(self.in_layout, self.out_layout, self.amap))

    def latency_info(self):
        """Pipeline depths and FIFO sizes, for the manifest."""
        return {"encode_stages": self.encode_stages, "lookup_stages": self.lookup_stages,
                "code_fifo_depth": self.code_depth, "out_fifo_depth": self.out_depth}

    def elaborate(self, platform):
        m = Module()
        cfg, p, amap = self.cfg, self.cfg.par, self.amap
        m.submodules.codebook = cb = CodebookMemory(cfg)
        m.submodules.encoder = enc = Encoder(cfg)
        m.submodules.luts = luts = LutBanks(cfg)
        m.submodules.accumulator = acc = Accumulator.for_engine(cfg)

        # -- layer shape, one copy per bank ---------------------------------------------------
        last_rem = cfg.c_max - (cfg.g_max - 1) * p.c_par
        last_g = last_index_registers("last_g", cfg.g_max)
        rem = Array(Signal(range(p.c_par + 1), init=last_rem, name=f"rem{b}") for b in range(2))
        last_mt = last_index_registers("last_mt", cfg.mt_max)
        # Rows in flight (first issue to last table read): the encoder pipeline, the code FIFO and
        # the lookup issue hold at least one group of a row each.
        rows_in_flight = self.encode_stages + self.code_depth + 3
        m.submodules.banks = banks = BankControl(busy_bits_for(rows_in_flight), checks=self.checks)
        active = banks.active
        shadow = ~active
        m.d.comb += self.active_bank.eq(active)

        # -- table write port -------------------------------------------------------------------
        w_valid, w_addr, w_data = accept_writes(m, self.wr, banks, amap, CONTROL_REGS["commit"])
        region = w_addr[amap.body_bits:]

        def field(reg, name):
            return addr_field(amap, w_addr, reg, name)

        m.d.comb += [
            cb.wr_en.eq(w_valid & (region == REGIONS["codebook"])),
            cb.wr_lane.eq(field("codebook", "cl")),
            cb.wr_slot.eq(field("codebook", "slot")),
            cb.wr_addr.eq((shadow * cfg.g_max + field("codebook", "g")) * cfg.k_steps
                          + field("codebook", "step")),
            cb.wr_data.eq(w_data[:cb.wr_data.shape().size]),
            luts.wr_en.eq(w_valid & (region == REGIONS["lut"])),
            luts.wr_cl.eq(field("lut", "cl")),
            luts.wr_ml.eq(field("lut", "ml")),
            luts.wr_addr.eq(((shadow * cfg.g_max + field("lut", "g")) * cfg.mt_max + field("lut", "t"))
                            * cfg.k + field("lut", "k")),
            luts.wr_data.eq(w_data[:cfg.widths.lut_bits]),
        ]
        if cfg.wide_port:
            row = w_valid & (region == REGIONS["lut_row"])
            with m.If(row):
                m.d.comb += [
                    luts.wr_en.eq(1), luts.wr_all.eq(1),
                    luts.wr_addr.eq(((shadow * cfg.g_max + field("lut_row", "g")) * cfg.mt_max
                                     + field("lut_row", "t")) * cfg.k + field("lut_row", "k")),
                ]
            m.d.comb += luts.wr_row.eq(w_data[:p.c_par * p.m_par * cfg.widths.lut_bits])
        reg = field("control", "reg")
        with m.If(w_valid & (region == REGIONS["control"])):
            with m.If((reg == CONTROL_REGS["c"]) & in_range(w_data, 1, cfg.c_max)):
                m.d.sync += [
                    last_g[shadow].eq(last_index(w_data, cfg.c_max, p.c_par)),
                    rem[shadow].eq(const_function(w_data, lambda c: (c - 1) % p.c_par + 1, cfg.c_max)),
                ]
            with m.If((reg == CONTROL_REGS["m"]) & in_range(w_data, 1, cfg.m_max)):
                m.d.sync += last_mt[shadow].eq(last_index(w_data, cfg.m_max, p.m_par))
        rq_write = w_valid & (region == REGIONS["control"]) & (reg == CONTROL_REGS["requant"])
        rq_shift, rq_relu = requant_registers(m, cfg.requant, lambda b: rq_write & (shadow == b), w_data)

        # -- stage A: codebook read and encoder ------------------------------------------------
        step = Signal(max(1, field_bits(cfg.k_steps)), name="step")
        ga = Signal(max(1, field_bits(cfg.g_max)), name="ga")
        code_res = Signal(range(self.code_depth + 1))
        issue_a, bank_a, last_step, last_group_a, row_start = sequence_rows(
            m, banks, self.i.valid, inner=step, outer=ga, last_inner=cfg.k_steps - 1, last_outer=last_g,
            room=lambda last_step, _: ~last_step | (code_res < self.code_depth), name="issue_a")
        m.d.comb += [
            self.i.ready.eq(issue_a & last_step),
            cb.rd_addr.eq((bank_a * cfg.g_max + ga) * cfg.k_steps + step),
        ]

        code_layout = data.StructLayout({
            "codes": data.ArrayLayout(cfg.idx_bits, p.c_par),
            "g": max(1, field_bits(cfg.g_max)), "last_group": 1, "bank": 1})
        # What the encoder needs with the prototypes, delayed by the codebook's read latency.
        issue_rec = Signal(data.StructLayout({
            "valid": 1, "first": 1, "last": 1, "step": enc.step.shape(), "x": self.in_layout,
            "g": code_layout["g"].shape, "last_group": 1, "bank": 1}))
        m.d.comb += [
            issue_rec.valid.eq(issue_a), issue_rec.first.eq(step == 0), issue_rec.last.eq(last_step),
            issue_rec.step.eq(step), issue_rec.x.eq(self.i.payload),
            issue_rec.g.eq(ga), issue_rec.last_group.eq(last_group_a), issue_rec.bank.eq(bank_a),
        ]
        rec = delay(m, issue_rec, cb.stages, "rec_a")
        m.d.comb += [
            enc.valid.eq(rec.valid), enc.first.eq(rec.first), enc.last.eq(rec.last),
            enc.step.eq(rec.step), enc.x.eq(rec.x), enc.protos.eq(cb.rd_data),
        ]
        tag = Signal(data.StructLayout({"g": code_layout["g"].shape, "last_group": 1, "bank": 1}))
        m.d.comb += [tag.g.eq(rec.g), tag.last_group.eq(rec.last_group), tag.bank.eq(rec.bank)]
        tag_enc = delay(m, tag, enc.stages, "tag_enc")

        m.submodules.code_fifo = cfifo = fifo.SyncFIFOBuffered(width=code_layout.size, depth=self.code_depth)
        w_code = Signal(code_layout)
        m.d.comb += [
            w_code.codes.eq(enc.codes), w_code.g.eq(tag_enc.g),
            w_code.last_group.eq(tag_enc.last_group), w_code.bank.eq(tag_enc.bank),
            cfifo.w_data.eq(w_code), cfifo.w_en.eq(enc.out_valid),
        ]
        check_fifo(m, "code FIFO", cfifo, self.checks)

        # -- stage B: table lookups and accumulation -------------------------------------------
        head = data.View(code_layout, cfifo.r_data)
        t = Signal(max(1, field_bits(cfg.mt_max)), name="t")
        last_t = t == last_mt[head.bank]
        out_res = Signal(range(self.out_depth + 1))
        issue_b = Signal()
        m.d.comb += [
            issue_b.eq(cfifo.r_rdy & (~head.last_group | (out_res < self.out_depth))),
            cfifo.r_en.eq(issue_b & last_t),
        ]
        for cl in range(p.c_par):
            m.d.comb += luts.rd_addr[cl].eq(
                ((head.bank * cfg.g_max + head.g) * cfg.mt_max + t) * cfg.k + head.codes[cl])
        with m.If(issue_b):
            m.d.sync += t.eq(Mux(last_t, 0, t + 1))
        row_done = Signal()
        done_bank = Signal()
        mask = Cat((head.g != last_g[head.bank]) | (cl < rem[head.bank]) for cl in range(p.c_par))
        # The bank's last read of a row is done once its address has been sampled.
        m.d.sync += [row_done.eq(issue_b & head.last_group & last_t), done_bank.eq(head.bank)]
        m.d.comb += [banks.row_done.eq(row_done), banks.done_bank.eq(done_bank)]
        rq = {"shift": cfg.requant.shift_bits, "relu": 1} if cfg.requant.runtime else {}
        lookup_rec = Signal(data.StructLayout({
            "valid": 1, "first": 1, "last": 1, "row_end": 1, "t": acc.t.shape(), "mask": p.c_par, **rq}))
        m.d.comb += [
            lookup_rec.valid.eq(issue_b), lookup_rec.first.eq(head.g == 0),
            lookup_rec.last.eq(head.last_group), lookup_rec.row_end.eq(last_t),
            lookup_rec.t.eq(t), lookup_rec.mask.eq(mask),
        ]
        if rq:          # the row's requantization travels with its lookups
            m.d.comb += [lookup_rec.shift.eq(rq_shift[head.bank]), lookup_rec.relu.eq(rq_relu[head.bank])]
        rec_b = delay(m, lookup_rec, luts.stages, "rec_b")
        m.d.comb += [
            acc.valid.eq(rec_b.valid), acc.first.eq(rec_b.first), acc.last.eq(rec_b.last),
            acc.row_end.eq(rec_b.row_end), acc.t.eq(rec_b.t), acc.mask.eq(rec_b.mask),
            acc.entries.eq(luts.rd_data),
        ]
        if rq:
            m.d.comb += [acc.shift.eq(rec_b.shift), acc.relu.eq(rec_b.relu)]

        out_pop = attach_output(m, self.o, self.out_layout, acc, self.out_depth, self.checks)

        # -- credits ---------------------------------------------------------------------------
        m.d.sync += [
            code_res.eq(code_res + (issue_a & last_step) - cfifo.r_en),
            out_res.eq(out_res + (issue_b & head.last_group) - out_pop),
        ]
        check_credits(m, "code FIFO", code_res, self.code_depth, self.checks)
        begin = issue_a & row_start
        check_bank_use(m, banks, self.checks, rows=rows_in_flight, begin=begin, begin_bank=bank_a,
                       end=issue_b & head.last_group & last_t, end_bank=head.bank, issue=issue_a,
                       row_start=row_start, reads=[(issue_a, bank_a), (issue_b, head.bank)],
                       writes=[(cb.wr_en, shadow), (luts.wr_en, shadow)])
        check_rows_out(m, self.o, self.checks, begin=begin, beats_max=cfg.mt_max,
                       rows=rows_in_flight + self.lookup_stages + self.out_depth)
        if self.checks:         # the codes of a row carry one bank from its first group to its last
            b_bank = Signal(name="chk_b_bank")
            with m.If(issue_b & (head.g == 0)):
                m.d.sync += b_bank.eq(head.bank)
            m.d.sync += Assert(~issue_b | (head.g == 0) | (head.bank == b_bank), "a row's groups on two banks")
        check_credits(m, "output FIFO", out_res, self.out_depth, self.checks)
        return m
