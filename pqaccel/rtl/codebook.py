"""Codebook memory: per subspace lane, the prototypes of every subspace group, double-buffered."""

from amaranth.hdl import Cat, Module, signed, unsigned
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
        # LUT-RAM: one memory per (lane, slot), each with its own address registers (a lane's
        # memory is hundreds of LUT-RAM cells); block RAM: one memory per lane, a slot per
        # byte-enable group (split, narrow prototypes would take more block RAMs).
        split = self.latency == 2
        for lane in range(p.c_par):
            (w_data,) = self.registered(m, str(lane), w_data=self.wr_data)
            if not split:
                (w_addr,) = self.registered(m, str(lane), w_addr=self.wr_addr)
            groups = [[slot] for slot in range(p.k_par)] if split else [list(range(p.k_par))]
            for slots in groups:
                name = f"{lane}_{slots[0]}" if split else str(lane)
                addr = self.read_address(m, f"rd_addr{name}")
                if split:
                    (w_addr,) = self.registered(m, name, w_addr=self.wr_addr)
                wr, rd = self.memory(
                    m,
                    f"mem{name}",
                    unsigned(self.vec.size * len(slots)),
                    addr,
                    w_addr,
                    granularity=self.vec.size,
                )
                m.d.comb += wr.data.eq(w_data.as_value().replicate(len(slots)))
                for i, slot in enumerate(slots):
                    m.d.sync += wr.en[i].eq(
                        self.wr_en & (self.wr_lane == lane) & (self.wr_slot == slot)
                    )
                m.d.sync += Cat(self.rd_out.payload.data[lane][s] for s in slots).eq(rd.data)
        self.respond(m)
        return m
