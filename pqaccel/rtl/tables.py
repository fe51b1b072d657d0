"""Table banks: the PQ tables, one memory per (subspace lane, output lane), by prototype index."""

import math

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import data
from amaranth.lib.wiring import In

from .. import pipeline
from .banked import BankedMemory
from .util import field_bits

__all__ = ["TableBanks"]


class TableBanks(BankedMemory):
    """Bank ``(cl, ml)`` holds ``T[c, k, m]`` for ``c = g*c_par + cl`` and ``m = t*m_par + ml`` at
    word :meth:`word_addr` ``(bank, g, t, k)``, ``lut_bits`` wide, double-buffered by ``bank``.

    Read: a request on ``rd`` (``addr[cl]`` for every subspace lane, and the caller's ``tag``) comes
    back on ``rd_out`` (``data[cl][ml]``) :attr:`latency` (:data:`pqaccel.pipeline.MEMORY_READ`)
    cycles later: the address is registered (so its arithmetic is not in the block RAM's setup
    path), read, and the data registered twice (a block RAM's clock-to-output delay is most of a
    cycle, so nothing else shares its cycle, and the first register stays beside the block RAM).
    Write: one entry per cycle at ``wr_cl``, ``wr_ml``, ``wr_addr``; it reaches the memory
    :func:`pqaccel.pipeline.write_stages` + 1 clock edges later.  With ``cfg.wide_port``, ``wr_all``
    writes ``wr_row[cl][ml]`` into every bank at ``wr_addr`` instead.  The shared scaffolding:
    :class:`BankedMemory`.
    """

    def __init__(self, cfg, tag=0, family=None):
        self.cfg = cfg
        p = cfg.par
        entry = signed(self.cfg.widths.lut_bits)
        entries = data.ArrayLayout(data.ArrayLayout(entry, p.m_par), p.c_par)
        super().__init__(
            pipeline.table_depth(cfg),
            entries,
            tag,
            lambda addr_bits: {
                "wr_cl": In(max(1, field_bits(p.c_par))),
                "wr_ml": In(max(1, field_bits(p.m_par))),
                "wr_addr": In(addr_bits),
                "wr_data": In(entry),
                **({"wr_all": In(1), "wr_row": In(entries)} if cfg.wide_port else {}),
            },
            addr_lanes=p.c_par,
            family=family,
        )

    @staticmethod
    def word_addr(cfg, bank, g, t, k):
        """Word of entry ``k`` of output beat ``t`` of group ``g`` in ``bank``."""
        return ((bank * cfg.g_max + g) * cfg.mt_max + t) * cfg.k + k

    def elaborate(self, platform):
        m = Module()
        p = self.cfg.par
        w = self.write_port(m)
        wide = self.cfg.wide_port
        for cl in range(p.c_par):
            # the read address per (lane, part of ceil(sqrt(m_par)) banks), then per bank
            size = math.isqrt(p.m_par - 1) + 1 if p.m_par > 1 else 1
            addrs = self.read_addresses(
                m,
                [f"{cl}_{ml}" for ml in range(p.m_par)],
                lane=cl,
                parent=lambda g, cl=cl: f"{cl}_q{int(g.split('_')[1]) // size}",
            )
            g = self.group_port(m, w, str(cl))
            if wide:
                (w_row,) = self.registered(m, str(cl), w_row=w.wr_row[cl])
            for ml in range(p.m_par):
                name = f"bank{cl}_{ml}"
                one = (g.wr_cl == cl) & (g.wr_ml == ml)
                if wide:
                    en = g.wr_en & (g.wr_all | one)
                    data_in = Mux(g.wr_all, w_row[ml], g.wr_data)
                else:
                    en, data_in = g.wr_en & one, g.wr_data
                en, b_addr, data_in = self.last_stage(m, name, en, g.wr_addr, data_in)
                wr, rd = self.memory(m, name, signed(self.cfg.widths.lut_bits), addrs[ml], b_addr)
                m.d.comb += [wr.data.eq(data_in), wr.en.eq(en)]
                self.read_data(m, self.rd_out.payload.data[cl][ml], rd, f"rd_data{cl}_{ml}")
        self.respond(m)
        return m
