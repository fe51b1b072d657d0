"""Table banks: the PQ tables, one memory per (subspace lane, output lane), by prototype index."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring, data, memory
from amaranth.lib.wiring import In, Out

from .. import pipeline
from ..pipeline import MEMORY_READ
from .util import delay, field_bits, read_signatures

__all__ = ["TableBanks"]


class TableBanks(wiring.Component):
    """Bank ``(cl, ml)`` holds ``T[c, k, m]`` for ``c = g*c_par + cl`` and ``m = t*m_par + ml`` at
    word :meth:`word_addr` ``(bank, g, t, k)``, ``lut_bits`` wide, double-buffered by ``bank``.

    Read: a request on ``rd`` (``addr[cl]`` for every subspace lane, and the caller's ``tag``)
    comes back on ``rd_out`` (``data[cl][ml]``) :attr:`latency` = 3 cycles later: the address is
    registered (so its arithmetic is not in the block RAM's setup path), read, and the data
    registered (a block RAM's clock-to-output delay is most of a cycle, so nothing else shares
    its cycle).  Write: one entry per cycle at ``wr_cl``, ``wr_ml``, ``wr_addr``; it reaches the
    memory two clock edges later.  With ``cfg.wide_port``, ``wr_all`` writes ``wr_row[cl][ml]``
    into every bank at ``wr_addr`` instead.  ``collision_free``: as
    :class:`pqaccel.rtl.codebook.CodebookMemory`.
    """

    collision_free = True

    def __init__(self, cfg, tag=0):
        self.cfg = cfg
        p = cfg.par
        self.latency = MEMORY_READ
        self.depth = pipeline.table_depth(cfg)
        self.addr_bits = max(1, field_bits(self.depth))
        entry = signed(self.cfg.widths.lut_bits)
        entries = data.ArrayLayout(data.ArrayLayout(entry, p.m_par), p.c_par)
        rd, rd_out = read_signatures(data.ArrayLayout(self.addr_bits, p.c_par), entries, tag)
        super().__init__(
            {
                "rd": In(rd),
                "rd_out": Out(rd_out),
                "wr_en": In(1),
                "wr_cl": In(max(1, field_bits(p.c_par))),
                "wr_ml": In(max(1, field_bits(p.m_par))),
                "wr_addr": In(self.addr_bits),
                "wr_data": In(entry),
                **({"wr_all": In(1), "wr_row": In(entries)} if cfg.wide_port else {}),
            }
        )

    @staticmethod
    def word_addr(cfg, bank, g, t, k):
        """Word of entry ``k`` of output beat ``t`` of group ``g`` in ``bank``."""
        return ((bank * cfg.g_max + g) * cfg.mt_max + t) * cfg.k + k

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
            addr = Signal.like(self.rd.payload.addr[cl], name=f"rd_addr{cl}")
            m.d.sync += addr.eq(self.rd.payload.addr[cl])
            for ml in range(p.m_par):
                mem = memory.Memory(
                    shape=signed(self.cfg.widths.lut_bits), depth=self.depth, init=[]
                )
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
                    m.d.sync += wr.en.eq(
                        self.wr_en & (self.wr_all | ((self.wr_cl == cl) & (self.wr_ml == ml)))
                    )
                else:
                    m.d.sync += wr.en.eq(self.wr_en & (self.wr_cl == cl) & (self.wr_ml == ml))
                m.d.sync += self.rd_out.payload.data[cl][ml].eq(rd.data)
        m.d.comb += [
            self.rd_out.valid.eq(delay(m, self.rd.valid, self.latency, "rd_valid")),
            self.rd_out.payload.tag.eq(delay(m, self.rd.payload.tag, self.latency, "rd_tag")),
        ]
        return m
