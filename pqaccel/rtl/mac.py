"""The conventional multiply-accumulate engine, the baseline the PQ engine is compared with."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring, data, memory
from amaranth.lib.wiring import In, Out

from ..mac import MacAddressMap, MAC_REGIONS, MAC_CONTROL_REGS
from .accumulator import Accumulator
from .control import (BankControl, accept_writes, addr_field, attach_output, busy_bits_for, check_bank_use,
                      check_credits, check_rows_out, engine_signature, in_range, last_index, last_index_registers, requant_registers, sequence_rows)
from .util import delay, field_bits

__all__ = ["MacEngine", "WeightMemory"]


class WeightMemory(wiring.Component):
    """One block RAM per output lane ``ml``; word ``(bank*g_max + g)*mt_max + t`` holds the
    ``d_par`` weights ``W[g*d_par + dl, t*m_par + ml]``, written one weight at a time.
    Read latency :attr:`stages` = 3: the address is registered (one copy per memory, so that its
    fan-out to the block RAMs stays local and off the issue logic's path), then read, then the
    data registered after the block RAM.  With ``cfg.wide_port``, ``wr_all`` writes the whole
    word ``wr_row[ml]`` of every memory at ``wr_addr``."""

    stages = 3

    def __init__(self, cfg):
        self.cfg = cfg
        self.depth = 2 * cfg.g_max * cfg.mt_max
        self.addr_bits = max(1, field_bits(self.depth))
        wvec = data.ArrayLayout(signed(cfg.w_bits), cfg.d_par)
        super().__init__({
            "rd_addr": In(self.addr_bits),
            "rd_data": Out(data.ArrayLayout(wvec, cfg.m_par)),
            "wr_en": In(1), "wr_dl": In(max(1, field_bits(cfg.d_par))),
            "wr_ml": In(max(1, field_bits(cfg.m_par))), "wr_addr": In(self.addr_bits),
            "wr_data": In(signed(cfg.w_bits)),
            **({"wr_all": In(1), "wr_row": In(data.ArrayLayout(wvec, cfg.m_par))} if cfg.wide_port else {}),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        # The write port is registered once here (see CodebookMemory).
        w_addr, w_data = Signal.like(self.wr_addr), Signal.like(self.wr_data)
        m.d.sync += [w_addr.eq(self.wr_addr), w_data.eq(self.wr_data)]
        wide = cfg.wide_port
        if wide:
            w_all, w_row = Signal(), Signal.like(self.wr_row)
            m.d.sync += [w_all.eq(self.wr_all), w_row.eq(self.wr_row)]
        for ml in range(cfg.m_par):
            mem = memory.Memory(shape=unsigned(cfg.d_par * cfg.w_bits), depth=self.depth, init=[])
            m.submodules[f"mem{ml}"] = mem
            wr = mem.write_port(granularity=cfg.w_bits)
            rd = mem.read_port()
            addr = Signal.like(self.rd_addr, name=f"rd_addr{ml}")
            m.d.sync += addr.eq(self.rd_addr)
            m.d.comb += [rd.addr.eq(addr), wr.addr.eq(w_addr),
                         wr.data.eq(w_data.replicate(cfg.d_par))]
            if wide:
                with m.If(w_all):
                    m.d.comb += wr.data.eq(w_row[ml].as_value())
            for dl in range(cfg.d_par):
                one = (self.wr_ml == ml) & (self.wr_dl == dl)
                m.d.sync += wr.en[dl].eq(self.wr_en & ((self.wr_all | one) if wide else one))
            m.d.sync += self.rd_data[ml].eq(rd.data)
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

    def __init__(self, cfg, checks=False):
        self.cfg = cfg
        self.checks = checks
        self.amap = MacAddressMap(cfg)
        self.in_layout = data.ArrayLayout(signed(cfg.in_bits), cfg.d_par)
        self.out_layout = data.StructLayout({
            "data": data.ArrayLayout(signed(cfg.result_bits), cfg.m_par), "last": 1})
        self.lookup_stages = WeightMemory.stages + 1 + Accumulator.latency(cfg.d_par, cfg.requant)
        self.out_depth = self.lookup_stages + 4
        super().__init__(engine_signature(self.in_layout, self.out_layout, self.amap))

    def latency_info(self):
        """Pipeline depth and FIFO size, for the manifest."""
        return {"lookup_stages": self.lookup_stages, "out_fifo_depth": self.out_depth}

    def elaborate(self, platform):
        m = Module()
        cfg, amap = self.cfg, self.amap
        m.submodules.weights = wm = WeightMemory(cfg)
        m.submodules.accumulator = acc = Accumulator(
            lanes=cfg.d_par, outs=cfg.m_par, entry_shape=signed(cfg.product_bits),
            acc_bits=cfg.acc_bits, steps=cfg.mt_max, requant=cfg.requant, out_bits=cfg.out_bits)

        last_g = last_index_registers("last_g", cfg.g_max)
        last_mt = last_index_registers("last_mt", cfg.mt_max)
        # Rows in flight (first issue to last weight read): the issuing row, and the one whose
        # start is counted a cycle late.
        m.submodules.banks = banks = BankControl(busy_bits_for(2), checks=self.checks)
        active = banks.active
        shadow = ~active
        m.d.comb += self.active_bank.eq(active)

        w_valid, w_addr, w_data = accept_writes(m, self.wr, banks, amap, MAC_CONTROL_REGS["commit"])
        region = w_addr[amap.body_bits:]

        def field(name):
            return addr_field(amap, w_addr, "weights", name)

        m.d.comb += [
            wm.wr_en.eq(w_valid & (region == MAC_REGIONS["weights"])),
            wm.wr_dl.eq(field("dl")), wm.wr_ml.eq(field("ml")),
            wm.wr_addr.eq((shadow * cfg.g_max + field("g")) * cfg.mt_max + field("t")),
            wm.wr_data.eq(w_data[:cfg.w_bits]),
        ]
        if cfg.wide_port:
            with m.If(w_valid & (region == MAC_REGIONS["weight_row"])):
                m.d.comb += [
                    wm.wr_en.eq(1), wm.wr_all.eq(1),
                    wm.wr_addr.eq((shadow * cfg.g_max + addr_field(amap, w_addr, "weight_row", "g")) * cfg.mt_max
                                  + addr_field(amap, w_addr, "weight_row", "t")),
                ]
            m.d.comb += wm.wr_row.eq(w_data[:cfg.d_par * cfg.m_par * cfg.w_bits])
        reg = addr_field(amap, w_addr, "control", "reg")
        with m.If(w_valid & (region == MAC_REGIONS["control"])):
            with m.If((reg == MAC_CONTROL_REGS["d"]) & in_range(w_data, 1, cfg.d_max)):
                m.d.sync += last_g[shadow].eq(last_index(w_data, cfg.d_max, cfg.d_par))
            with m.If((reg == MAC_CONTROL_REGS["m"]) & in_range(w_data, 1, cfg.m_max)):
                m.d.sync += last_mt[shadow].eq(last_index(w_data, cfg.m_max, cfg.m_par))
        rq_write = w_valid & (region == MAC_REGIONS["control"]) & (reg == MAC_CONTROL_REGS["requant"])
        rq_shift, rq_relu = requant_registers(m, cfg.requant, lambda b: rq_write & (shadow == b), w_data)

        g = Signal(max(1, field_bits(cfg.g_max)), name="g")
        t = Signal(max(1, field_bits(cfg.mt_max)), name="t")
        out_res = Signal(range(self.out_depth + 1))
        issue, bank, last_t, last_group, row_start = sequence_rows(
            m, banks, self.i.valid, inner=t, outer=g, last_inner=last_mt, last_outer=last_g,
            room=lambda _, last_group: ~last_group | (out_res < self.out_depth))
        m.d.comb += [
            self.i.ready.eq(issue & last_t),
            wm.rd_addr.eq((bank * cfg.g_max + g) * cfg.mt_max + t),
        ]
        row_done = Signal()
        done_bank = Signal()
        m.d.sync += [row_done.eq(issue & last_group & last_t), done_bank.eq(bank)]
        m.d.comb += [banks.row_done.eq(row_done), banks.done_bank.eq(done_bank)]

        rq = {"shift": cfg.requant.shift_bits, "relu": 1} if cfg.requant.runtime else {}
        rec = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "row_end": 1,
                                        "t": acc.t.shape(), "x": self.in_layout, **rq}))
        m.d.comb += [rec.valid.eq(issue), rec.first.eq(g == 0), rec.last.eq(last_group),
                     rec.row_end.eq(last_t), rec.t.eq(t), rec.x.eq(self.i.payload)]
        if rq:          # the row's requantization travels with its products
            m.d.comb += [rec.shift.eq(rq_shift[bank]), rec.relu.eq(rq_relu[bank])]
        rec_w = delay(m, rec, wm.stages, "rec_w")
        rec_p = delay(m, rec_w, 1, "rec_p")
        for dl in range(cfg.d_par):
            for ml in range(cfg.m_par):
                prod = Signal(signed(cfg.product_bits), name=f"p{dl}_{ml}")
                m.d.sync += prod.eq(rec_w.x[dl] * wm.rd_data[ml][dl])
                m.d.comb += acc.entries[dl][ml].eq(prod)
        m.d.comb += [
            acc.valid.eq(rec_p.valid), acc.first.eq(rec_p.first), acc.last.eq(rec_p.last),
            acc.row_end.eq(rec_p.row_end), acc.t.eq(rec_p.t), acc.mask.eq(-1),
        ]
        if rq:
            m.d.comb += [acc.shift.eq(rec_p.shift), acc.relu.eq(rec_p.relu)]

        out_pop = attach_output(m, self.o, self.out_layout, acc, self.out_depth, self.checks)
        m.d.sync += out_res.eq(out_res + (issue & last_group) - out_pop)
        check_credits(m, "output FIFO", out_res, self.out_depth, self.checks)
        begin = issue & row_start
        check_bank_use(m, banks, self.checks, rows=2, begin=begin, begin_bank=bank,
                       end=issue & last_group & last_t, end_bank=bank, issue=issue, row_start=row_start,
                       reads=[(issue, bank)], writes=[(wm.wr_en, shadow)])
        check_rows_out(m, self.o, self.checks, begin=begin, beats_max=cfg.mt_max,
                       rows=2 + self.lookup_stages + self.out_depth)
        return m
