"""Codebook memory: per subspace lane, the prototypes of every subspace group, double-buffered."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring, data, memory
from amaranth.lib.wiring import In, Out

from .. import pipeline
from ..pipeline import LUTRAM_MAX_DEPTH
from .util import delay, field_bits, read_signatures

__all__ = ["CodebookMemory", "LUTRAM_MAX_DEPTH"]


class CodebookMemory(wiring.Component):
    """One memory per subspace lane ``cl``; word :meth:`word_addr` ``(bank, g, step)`` holds
    prototypes ``step*k_par .. step*k_par + k_par - 1`` of subspace ``c = g*c_par + cl``.

    Read: a request on ``rd`` (word address, same for all lanes, and a ``tag`` of the caller's
    layout) comes back on ``rd_out`` :attr:`latency` cycles later: the address is registered (one
    copy per lane), then read, then the data registered.  A memory of at most
    :data:`LUTRAM_MAX_DEPTH` words is LUT-RAM with an asynchronous read (latency 2); a deeper one
    is block RAM with its synchronous read (3).  Write: one prototype (``v`` elements) per cycle at
    lane ``wr_lane``, word ``wr_addr``, slot ``wr_slot`` (the prototype's position in the word); it
    reaches the memory two clock edges later.

    ``collision_free``: the engine never reads a word in the cycle it is written (writes go to
    the shadow bank, reads to banks in use), so synthesis may drop the read-during-write logic.
    """

    collision_free = True

    def __init__(self, cfg, tag=0):
        self.cfg = cfg
        p, w = cfg.par, cfg.widths
        self.depth = pipeline.codebook_depth(cfg)
        self.latency = pipeline.codebook(cfg)
        self.addr_bits = max(1, field_bits(self.depth))
        self.vec = data.ArrayLayout(signed(w.proto_bits), cfg.v)
        rd, rd_out = read_signatures(
            self.addr_bits, data.ArrayLayout(data.ArrayLayout(self.vec, p.k_par), p.c_par), tag
        )
        super().__init__(
            {
                "rd": In(rd),
                "rd_out": Out(rd_out),
                "wr_en": In(1),
                "wr_lane": In(max(1, field_bits(p.c_par))),
                "wr_slot": In(max(1, field_bits(p.k_par))),
                "wr_addr": In(self.addr_bits),
                "wr_data": In(self.vec),
            }
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
        # The write port is registered once here (enables decoded, address, data): the
        # decode's fan-out to every memory stays off the table port's ready path.
        w_addr, w_data = Signal.like(self.wr_addr), Signal.like(self.wr_data)
        m.d.sync += [w_addr.eq(self.wr_addr), w_data.eq(self.wr_data)]
        for lane in range(p.c_par):
            mem = memory.Memory(shape=unsigned(word.size), depth=self.depth, init=[])
            m.submodules[f"mem{lane}"] = mem
            wr = mem.write_port(granularity=self.vec.size)
            # a copy of the read address per lane keeps its fan-out to the LUT-RAMs local
            addr = Signal.like(self.rd.payload.addr, name=f"rd_addr{lane}")
            m.d.sync += addr.eq(self.rd.payload.addr)
            rd = mem.read_port(domain="comb" if self.latency == 2 else "sync")
            m.d.comb += [
                rd.addr.eq(addr),
                wr.addr.eq(w_addr),
                wr.data.eq(w_data.as_value().replicate(p.k_par)),
            ]
            for slot in range(p.k_par):
                m.d.sync += wr.en[slot].eq(
                    self.wr_en & (self.wr_lane == lane) & (self.wr_slot == slot)
                )
            m.d.sync += self.rd_out.payload.data[lane].eq(rd.data)
        m.d.comb += [
            self.rd_out.valid.eq(delay(m, self.rd.valid, self.latency, "rd_valid")),
            self.rd_out.payload.tag.eq(delay(m, self.rd.payload.tag, self.latency, "rd_tag")),
        ]
        return m
