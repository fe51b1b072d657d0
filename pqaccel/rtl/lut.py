"""LUT banks: one per (subspace lane, output lane), addressed by the prototype index."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring, data, memory
from amaranth.lib.wiring import In, Out

from .util import field_bits

__all__ = ["LutBanks"]


class LutBanks(wiring.Component):
    """Bank ``(cl, ml)`` holds ``T[c, k, m]`` for ``c = g*c_par + cl`` and ``m = t*m_par + ml`` at
    word ``((bank*g_max + g)*mt_max + t)*k + k``, ``lut_bits`` wide, double-buffered by ``bank``.

    Read: ``rd_addr[cl]`` for every subspace lane -> ``rd_data[cl][ml]`` :attr:`stages` = 3
    cycles later: the address is registered (so its arithmetic is not in the block RAM's setup
    path), read, and the data registered (a block RAM's clock-to-output delay is most of a
    cycle, so nothing else shares its cycle).  Write: one entry per cycle at
    ``wr_cl``, ``wr_ml``, ``wr_addr``; it reaches the memory two clock edges later.  With
    ``cfg.wide_port``, ``wr_all`` writes ``wr_row[cl][ml]`` into every bank at ``wr_addr`` instead.
    """

    stages = 3

    def __init__(self, cfg):
        self.cfg = cfg
        p = cfg.par
        self.depth = 2 * cfg.g_max * cfg.mt_max * cfg.k
        self.addr_bits = max(1, field_bits(self.depth))
        entry = signed(cfg.widths.lut_bits)
        super().__init__({
            "rd_addr": In(data.ArrayLayout(self.addr_bits, p.c_par)),
            "rd_data": Out(data.ArrayLayout(data.ArrayLayout(entry, p.m_par), p.c_par)),
            "wr_en": In(1),
            "wr_cl": In(max(1, field_bits(p.c_par))),
            "wr_ml": In(max(1, field_bits(p.m_par))),
            "wr_addr": In(self.addr_bits),
            "wr_data": In(entry),
            **({"wr_all": In(1), "wr_row": In(data.ArrayLayout(data.ArrayLayout(entry, p.m_par), p.c_par))}
               if cfg.wide_port else {}),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.cfg.par
        # The write port is registered once here (see CodebookMemory).
        w_addr, w_data = Signal.like(self.wr_addr), Signal.like(self.wr_data)
        m.d.sync += [w_addr.eq(self.wr_addr), w_data.eq(self.wr_data)]
        wide = self.cfg.wide_port
        if wide:
            w_all, w_row = Signal(), Signal.like(self.wr_row)
            m.d.sync += [w_all.eq(self.wr_all), w_row.eq(self.wr_row)]
        for cl in range(p.c_par):
            addr = Signal.like(self.rd_addr[cl], name=f"rd_addr{cl}")
            m.d.sync += addr.eq(self.rd_addr[cl])
            for ml in range(p.m_par):
                mem = memory.Memory(shape=signed(self.cfg.widths.lut_bits), depth=self.depth, init=[])
                m.submodules[f"bank{cl}_{ml}"] = mem
                wr = mem.write_port()
                rd = mem.read_port()
                m.d.comb += [
                    rd.addr.eq(addr),
                    wr.addr.eq(w_addr),
                    wr.data.eq(w_row[cl][ml] if wide else w_data),
                ]
                if wide:
                    with m.If(~w_all):
                        m.d.comb += wr.data.eq(w_data)
                    m.d.sync += wr.en.eq(self.wr_en & (self.wr_all | ((self.wr_cl == cl) & (self.wr_ml == ml))))
                else:
                    m.d.sync += wr.en.eq(self.wr_en & (self.wr_cl == cl) & (self.wr_ml == ml))
                m.d.sync += self.rd_data[cl][ml].eq(rd.data)
        return m
