"""Codebook memory: per subspace lane, the prototypes of every subspace group, double-buffered."""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In

from .. import pipeline
from ..pipeline import LUTRAM_MAX_DEPTH
from .banked import BankedMemory
from .util import field_bits

__all__ = ["CodebookMemory", "LUTRAM_MAX_DEPTH"]


class CodebookMemory(BankedMemory):
    """One memory per subspace lane ``cl``; word :meth:`word_addr` ``(bank, g, step)`` holds
    prototypes ``step*k_par .. step*k_par + k_par - 1`` of subspace ``c = g*c_par + cl``.

    Read: a request on ``rd`` (word address, same for all lanes, and a ``tag`` of the caller's
    layout) comes back on ``rd_out`` :attr:`latency` cycles later: the address is registered (one
    copy per lane), then read, then the data registered.  A memory of at most
    :data:`LUTRAM_MAX_DEPTH` words is LUT-RAM with an asynchronous read (latency 2); a deeper one
    is block RAM with its synchronous read (3).  Write: one prototype (``v`` elements) per cycle at
    lane ``wr_lane``, word ``wr_addr``, slot ``wr_slot`` (the prototype's position in the word); it
    reaches the memory two clock edges later.  The shared scaffolding: :class:`BankedMemory`.
    """

    def __init__(self, cfg, tag=0):
        self.cfg = cfg
        p, w = cfg.par, cfg.widths
        self.vec = data.ArrayLayout(signed(w.proto_bits), cfg.v)
        super().__init__(
            pipeline.codebook_depth(cfg),
            pipeline.codebook(cfg),
            data.ArrayLayout(data.ArrayLayout(self.vec, p.k_par), p.c_par),
            tag,
            lambda addr_bits: {
                "wr_lane": In(max(1, field_bits(p.c_par))),
                "wr_slot": In(max(1, field_bits(p.k_par))),
                "wr_addr": In(addr_bits),
                "wr_data": In(self.vec),
            },
        )

    @staticmethod
    def word_addr(cfg, bank, g, step):
        """Word of prototypes ``step`` of group ``g`` in ``bank`` (Python ints or Amaranth
        values)."""
        return (bank * cfg.g_max + g) * cfg.k_steps + step

    def elaborate(self, platform):
        m = Module()
        p = self.cfg.par
        word = data.ArrayLayout(self.vec, p.k_par)
        w_addr, w_data = self.registered(m, w_addr=self.wr_addr, w_data=self.wr_data)
        for lane in range(p.c_par):
            addr = self.read_address(m, f"rd_addr{lane}")
            wr, rd = self.memory(
                m, f"mem{lane}", unsigned(word.size), addr, w_addr, granularity=self.vec.size
            )
            m.d.comb += wr.data.eq(w_data.as_value().replicate(p.k_par))
            for slot in range(p.k_par):
                m.d.sync += wr.en[slot].eq(
                    self.wr_en & (self.wr_lane == lane) & (self.wr_slot == slot)
                )
            m.d.sync += self.rd_out.payload.data[lane].eq(rd.data)
        self.respond(m)
        return m
