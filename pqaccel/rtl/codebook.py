"""Codebook memory: per subspace lane, the prototypes of every subspace group, double-buffered."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring, data, memory
from amaranth.lib.wiring import In, Out

from .util import field_bits

__all__ = ["CodebookMemory", "LUTRAM_MAX_DEPTH"]

#: Memories this shallow map to LUT-RAM on every family pqaccel targets.
LUTRAM_MAX_DEPTH = 64


class CodebookMemory(wiring.Component):
    """One memory per subspace lane ``cl``; word ``(bank*g_max + g)*k_steps + step`` holds
    prototypes ``step*k_par .. step*k_par + k_par - 1`` of subspace ``c = g*c_par + cl``.

    Read: ``rd_addr`` (word address, same for all lanes) -> ``rd_data`` :attr:`stages` cycles
    later: the address is registered (one copy per lane), then read, then the data registered.
    A memory of at most :data:`LUTRAM_MAX_DEPTH` words is LUT-RAM with an asynchronous read
    (2 stages); a deeper one is block RAM with its synchronous read (3 stages).  Write: one
    prototype (``v`` elements) per cycle at lane ``wr_lane``, word ``wr_addr``, slot ``wr_slot``
    (the prototype's position in the word); it reaches the memory two clock edges later.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        p, w = cfg.par, cfg.widths
        self.depth = 2 * cfg.g_max * cfg.k_steps
        self.stages = self.latency(cfg)
        self.addr_bits = max(1, field_bits(self.depth))
        self.vec = data.ArrayLayout(signed(w.proto_bits), cfg.v)
        super().__init__({
            "rd_addr": In(self.addr_bits),
            "rd_data": Out(data.ArrayLayout(data.ArrayLayout(self.vec, p.k_par), p.c_par)),
            "wr_en": In(1),
            "wr_lane": In(max(1, field_bits(p.c_par))),
            "wr_slot": In(max(1, field_bits(p.k_par))),
            "wr_addr": In(self.addr_bits),
            "wr_data": In(self.vec),
        })

    @staticmethod
    def latency(cfg):
        return 2 if 2 * cfg.g_max * cfg.k_steps <= LUTRAM_MAX_DEPTH else 3

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
            addr = Signal.like(self.rd_addr, name=f"rd_addr{lane}")
            m.d.sync += addr.eq(self.rd_addr)
            rd = mem.read_port(domain="comb" if self.stages == 2 else "sync")
            m.d.comb += [
                rd.addr.eq(addr),
                wr.addr.eq(w_addr),
                wr.data.eq(w_data.as_value().replicate(p.k_par)),
            ]
            for slot in range(p.k_par):
                m.d.sync += wr.en[slot].eq(self.wr_en & (self.wr_lane == lane) & (self.wr_slot == slot))
            m.d.sync += self.rd_data[lane].eq(rd.data)
        return m
