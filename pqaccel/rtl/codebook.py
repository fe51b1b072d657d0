"""Codebook memory: per subspace lane, the prototypes of every subspace group, double-buffered."""

from amaranth.hdl import Cat, Module, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In

from .. import pipeline
from ..pipeline import LUTRAM_MAX_DEPTH
from .banked import BankedMemory
from .util import delay, field_bits

__all__ = ["CodebookMemory", "LUTRAM_MAX_DEPTH"]


class CodebookMemory(BankedMemory):
    """Per subspace lane ``cl``, word :meth:`word_addr` ``(bank, g, step)`` holds prototypes
    ``step*k_par .. step*k_par + k_par - 1`` of subspace ``c = g*c_par + cl``.

    Read: a request on ``rd`` (word address, same for all lanes, and a ``tag`` of the caller's
    layout) comes back on ``rd_out`` :attr:`latency` cycles later.  A memory of at most
    :data:`LUTRAM_MAX_DEPTH` words is LUT-RAM, one memory per (lane, slot) with its own copy of
    the read address (:data:`pqaccel.pipeline.LUTRAM_READ`: the address registered, copied,
    read asynchronously, the data registered); a deeper one is block RAM, one memory per lane
    (:data:`pqaccel.pipeline.MEMORY_READ`).  Write: one prototype (``v`` elements) per cycle at
    lane ``wr_lane``, word ``wr_addr``, slot ``wr_slot`` (the prototype's position in the
    word); it reaches the memory :func:`pqaccel.pipeline.write_stages` + 1 clock edges later.
    The shared scaffolding: :class:`BankedMemory`.
    """

    def __init__(self, cfg, tag=0):
        self.cfg = cfg
        p, w = cfg.par, cfg.widths
        self.vec = data.ArrayLayout(signed(w.proto_bits), cfg.v)
        super().__init__(
            pipeline.codebook_depth(cfg),
            data.ArrayLayout(data.ArrayLayout(self.vec, p.k_par), p.c_par),
            tag,
            lambda addr_bits: {
                "wr_lane": In(max(1, field_bits(p.c_par))),
                "wr_slot": In(max(1, field_bits(p.k_par))),
                "wr_addr": In(addr_bits),
                "wr_data": In(self.vec),
            },
            lutram=pipeline.codebook_lutram(cfg),
        )

    @staticmethod
    def word_addr(cfg, bank, g, step):
        """Word of prototypes ``step`` of group ``g`` in ``bank`` (Python ints or Amaranth
        values)."""
        return (bank * cfg.g_max + g) * cfg.k_steps + step

    def elaborate(self, platform):
        m = Module()
        p = self.cfg.par
        w = self.write_port(m)
        # LUT-RAM: one memory per (lane, slot), each with its own address registers (a lane's
        # memory is hundreds of LUT-RAM cells), the write port registered per lane and then per
        # memory; block RAM: one memory per lane, a slot per byte-enable group (split, narrow
        # prototypes would take more block RAMs), the write port registered per lane.
        split = self.lutram
        for lane in range(p.c_par):
            w_addr, w_data = self.registered(m, str(lane), w_addr=w.wr_addr, w_data=w.wr_data)
            if split:
                (w_data,) = self.registered(m, f"{lane}_d", w_data=w_data)
            groups = [[slot] for slot in range(p.k_par)] if split else [list(range(p.k_par))]
            names = [f"{lane}_{slots[0]}" if split else str(lane) for slots in groups]
            addrs = self.read_addresses(m, names)
            for slots, name, addr in zip(groups, names, addrs):
                mem_addr = self.registered(m, name, w_addr=w_addr)[0] if split else w_addr
                wr, rd = self.memory(
                    m,
                    f"mem{name}",
                    unsigned(self.vec.size * len(slots)),
                    addr,
                    mem_addr,
                    granularity=self.vec.size,
                )
                m.d.comb += wr.data.eq(w_data.as_value().replicate(len(slots)))
                for i, slot in enumerate(slots):
                    en = w.wr_en & (w.wr_lane == lane) & (w.wr_slot == slot)
                    m.d.sync += wr.en[i].eq(delay(m, en, 1, f"en{name}") if split else en)
                dst = Cat(self.rd_out.payload.data[lane][s] for s in slots)
                self.read_data(m, dst, rd.data, f"rd_data{name}")
        self.respond(m)
        return m
