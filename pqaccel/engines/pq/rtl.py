"""The PQ engine: streams in, streams out, a table write port, double-buffered tables."""

from amaranth.hdl import Assert, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring, data

from .addrmap import PQAddressMap, CONTROL_REGS
from ...rtl.codebook import CodebookMemory
from ...rtl.encoder import Encoder
from ...rtl.tables import TableBanks
from ...rtl.accumulator import Accumulator
from ...rtl.control import busy_bits_for, check_bank_use, check_rows_out, engine_signature
from ...rtl.shell import (
    CreditFIFO,
    RowIssuer,
    TablePort,
    count_register,
    credit_gate,
    requant_register,
)
from ...rtl.util import const_function, field_bits, fields_eq, replica

__all__ = ["PQEngine"]


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

    Structure: the shell (:mod:`pqaccel.rtl.shell`: table port, two row issuers, two credit
    FIFOs) around the datapath, every stage a stream that never stalls: stage A issues the
    ``k_steps`` codebook reads of each input beat -> codebook -> encoder -> code FIFO; stage B
    issues the ``ceil(M/m_par)`` table reads of each code beat -> tables -> accumulator ->
    output FIFO -> ``o``.  A stage issues work only when the FIFO after it has a credit for the
    result, so backpressure on ``o`` stops issue without losing or repeating anything, and with
    no backpressure the initiation interval is one: ``max(k_steps, ceil(M/m_par))`` cycles per
    subspace group.  Latencies and FIFO depths: :meth:`EngineConfig.pipeline`.
    """

    #: Submodules whose memories never see a read and a write of one word in a cycle.
    collision_free = ("codebook", "tables")

    def __init__(self, cfg, checks=False, family=None):
        # ``family``: the FPGA family synthesized for (None: the portable form); it decides how
        # a LUT-RAM codebook splits into memories (:class:`CodebookMemory`)
        self.family = family
        self.cfg = cfg
        self.checks = checks
        p, w = cfg.par, cfg.widths
        self.amap = PQAddressMap(cfg)
        self.pipeline = cfg.pipeline()
        self.in_layout = data.ArrayLayout(data.ArrayLayout(signed(w.in_bits), cfg.v), p.c_par)
        self.out_layout = data.StructLayout(
            {"data": data.ArrayLayout(signed(cfg.result_bits), p.m_par), "last": 1}
        )
        super().__init__(engine_signature(self.in_layout, self.out_layout, self.amap))

    def latency_info(self):
        """Pipeline depths and FIFO sizes, for the manifest."""
        return {
            k: self.pipeline[k]
            for k in ("encode_stages", "lookup_stages", "code_fifo_depth", "out_fifo_depth")
        }

    def elaborate(self, platform):
        m = Module()
        cfg, p, pl = self.cfg, self.cfg.par, self.pipeline
        g_bits = max(1, field_bits(cfg.g_max))

        # -- shell: table port, layer-shape registers, bank control -----------------------------
        rem_field = {
            "rem": (
                unsigned(field_bits(p.c_par + 1)),
                cfg.c_max - (cfg.g_max - 1) * p.c_par,
                lambda d: const_function(d, lambda c: (c - 1) % p.c_par + 1, cfg.c_max),
            )
        }
        m.submodules.port = port = TablePort(
            self.amap,
            CONTROL_REGS["commit"],
            [
                count_register(CONTROL_REGS["c"], "last_g", cfg.c_max, p.c_par, extra=rem_field),
                count_register(CONTROL_REGS["m"], "last_mt", cfg.m_max, p.m_par),
                requant_register(CONTROL_REGS["requant"], cfg.requant),
            ],
            busy_bits_for(pl["rows_in_flight"]),
            checks=self.checks,
        )
        wiring.connect(m, wiring.flipped(self.wr), port.wr)
        m.d.comb += self.active_bank.eq(port.active)
        shape, shadow = port.shape, port.shadow

        # -- datapath blocks: what travels with a beat is each block's tag ---------------------
        code_tag = data.StructLayout({"g": g_bits, "last_group": 1, "bank": 1})
        m.submodules.encoder = enc = Encoder(cfg, tag=code_tag, x_copies=True)
        m.submodules.codebook = cb = CodebookMemory(cfg, tag=enc.in_layout, family=self.family)
        m.submodules.accumulator = acc = Accumulator.for_engine(cfg)
        m.submodules.tables = tables = TableBanks(cfg, tag=acc.in_layout, family=self.family)
        m.submodules.code_fifo = cfifo = CreditFIFO(
            enc.out_layout,
            pl["code_fifo_depth"],
            self.checks,
            "code FIFO",
            select=lambda beat: Cat(beat.tag.last_group, beat.tag.bank),
        )
        m.submodules.out_fifo = ofifo = CreditFIFO(
            self.out_layout, pl["out_fifo_depth"], self.checks, "output FIFO"
        )

        # -- table writes ------------------------------------------------------------------------
        for_cb, f = port.region("codebook")
        m.d.comb += [
            cb.wr_en.eq(for_cb),
            cb.wr_lane.eq(f.cl),
            cb.wr_slot.eq(f.slot),
            cb.wr_addr.eq(CodebookMemory.word_addr(cfg, shadow, f.g, f.step)),
            cb.wr_data.eq(port.w_data[: cb.wr_data.shape().size]),
        ]
        for_lut, f = port.region("lut")
        m.d.comb += [
            tables.wr_en.eq(for_lut),
            tables.wr_cl.eq(f.cl),
            tables.wr_ml.eq(f.ml),
            tables.wr_addr.eq(TableBanks.word_addr(cfg, shadow, f.g, f.t, f.k)),
            tables.wr_data.eq(port.w_data[: cfg.widths.lut_bits]),
        ]
        if cfg.wide_port:
            for_row, f = port.region("lut_row")
            with m.If(for_row):
                m.d.comb += [
                    tables.wr_en.eq(1),
                    tables.wr_all.eq(1),
                    tables.wr_addr.eq(TableBanks.word_addr(cfg, shadow, f.g, f.t, f.k)),
                ]
            m.d.comb += tables.wr_row.eq(port.w_data[: p.c_par * p.m_par * cfg.widths.lut_bits])

        # -- stage A: codebook reads of every input beat, encoder, code FIFO -------------------
        m.submodules.issue_a = ia = RowIssuer(cfg.k_steps, cfg.g_max)
        wiring.connect(m, ia.rows, port.rows)
        m.d.comb += [
            ia.valid.eq(self.i.valid),
            ia.room.eq(
                credit_gate(m, cfifo, ia.issue, ia.at_last_inner)
            ),  # a code beat per input beat
            self.i.ready.eq(ia.issue & ia.at_last_inner),
        ]
        for b in range(2):
            m.d.comb += [ia.last_inner[b].eq(cfg.k_steps - 1), ia.last_outer[b].eq(shape[b].last_g)]
        m.d.comb += [
            cb.rd.valid.eq(ia.issue),
            cb.rd.payload.addr.eq(CodebookMemory.word_addr(cfg, ia.bank, ia.outer, ia.inner)),
            *fields_eq(
                cb.rd.payload.tag,
                {
                    "last": ia.at_last_inner,
                    "step": ia.inner,
                    "x": self.i.payload,
                    "tag": {"g": ia.outer, "last_group": ia.at_last_outer, "bank": ia.bank},
                },
            ),
        ]
        early = cb.early_tag(m, short=1).x
        m.d.comb += [
            enc.i.valid.eq(cb.rd_out.valid),
            enc.i.payload.eq(cb.rd_out.payload.tag),
            enc.protos.eq(cb.rd_out.payload.data),
            # every distance unit its own copy of its lane's subvector, in step with rd_out
            *[
                enc.xs[lane][kp].eq(replica(m, early[lane], f"x{lane}_{kp}"))
                for lane in range(p.c_par)
                for kp in range(p.k_par)
            ],
        ]
        wiring.connect(m, enc.o, cfifo.w)

        # -- stage B: table reads of every code beat, accumulator, output FIFO -----------------
        head = cfifo.r.payload
        code = head.tag
        # The issue control starts at registers: the head's flip-flop copy of its last-group and
        # bank bits, and t's compare with each bank's last step, registered (computed for the
        # next t, the issue only selects).  Behind the block RAM's output and t's compares this
        # was the iCE40 critical path into the FIFO's read.  A compare lags a shape write by a
        # cycle; no beat of that bank reaches stage B so soon (the bank was the shadow; with
        # checks the simulator and the proofs assert the compares).
        head_last_group, head_bank = cfifo.r_select[0], cfifo.r_select[1]
        t = Signal(max(1, field_bits(cfg.mt_max)), name="t")
        t_at_last = [Signal(name=f"t_at_last{b}") for b in range(2)]
        last_t = Mux(head_bank, t_at_last[1], t_at_last[0])
        issue_b = Signal()
        m.d.comb += [
            issue_b.eq(
                cfifo.r.valid & credit_gate(m, ofifo, issue_b, head_last_group)
            ),  # a row's last group
            cfifo.r.ready.eq(issue_b & last_t),
        ]
        with m.If(issue_b):
            m.d.sync += t.eq(Mux(last_t, 0, t + 1))
        for b in range(2):
            lm = shape[b].last_mt
            m.d.sync += t_at_last[b].eq(Mux(issue_b, Mux(last_t, lm == 0, t + 1 == lm), t == lm))
        # The bank's last read of a row is done once its address has been sampled.
        m.d.sync += [
            port.row_done.eq(issue_b & code.last_group & last_t),
            port.done_bank.eq(code.bank),
        ]
        mask = Cat(
            (code.g != shape[code.bank].last_g) | (cl < shape[code.bank].rem)
            for cl in range(p.c_par)
        )
        lookup = {
            "first": code.g == 0,
            "last": code.last_group,
            "row_end": last_t,
            "last_t": shape[code.bank].last_mt,
            "mask": mask,
        }
        if cfg.requant.runtime:  # the row's requantization travels with its lookups
            lookup.update(shift=shape[code.bank].shift, relu=shape[code.bank].relu)
        m.d.comb += [tables.rd.valid.eq(issue_b), *fields_eq(tables.rd.payload.tag, lookup)]
        for cl in range(p.c_par):
            m.d.comb += tables.rd.payload.addr[cl].eq(
                TableBanks.word_addr(cfg, code.bank, code.g, t, head.codes[cl])
            )
        m.d.comb += [
            acc.i.valid.eq(tables.rd_out.valid),
            acc.i.payload.eq(tables.rd_out.payload.tag),
            acc.entries.eq(tables.rd_out.payload.data),
        ]
        wiring.connect(m, acc.o, ofifo.w)
        wiring.connect(m, ofifo.r, wiring.flipped(self.o))

        # -- simulation- and formal-only checks -------------------------------------------------
        begin = ia.issue & ia.row_start
        check_bank_use(
            m,
            port.active,
            self.checks,
            rows=pl["rows_in_flight"],
            begin=begin,
            begin_bank=ia.bank,
            end=issue_b & code.last_group & last_t,
            end_bank=code.bank,
            issue=ia.issue,
            row_start=ia.row_start,
            reads=[(ia.issue, ia.bank), (issue_b, code.bank)],
            writes=[cb.write_event(m, shadow), tables.write_event(m, shadow)],
        )
        check_rows_out(
            m,
            self.o,
            self.checks,
            begin=begin,
            beats_max=cfg.mt_max,
            rows=pl["rows_in_flight"] + pl["lookup_stages"] + pl["out_fifo_depth"],
        )
        if self.checks:  # the codes of a row carry one bank from its first group to its last
            b_bank = Signal(name="chk_b_bank")
            with m.If(issue_b & (code.g == 0)):
                m.d.sync += b_bank.eq(code.bank)
            m.d.sync += [
                Assert(
                    ~issue_b | (code.g == 0) | (code.bank == b_bank),
                    "a row's groups on two banks",
                ),
                Assert(
                    ~cfifo.r.valid | (last_t == (t == shape[code.bank].last_mt)),
                    "stage B's registered last-step compare differs from t's",
                ),
            ]
        return m
