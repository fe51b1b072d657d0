"""Codebook memory: per subspace lane, the prototypes of every subspace group, double-buffered."""

from amaranth.hdl import Cat, Module, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In

from .. import pipeline
from ..pipeline import LUTRAM_MAX_DEPTH
from .banked import BankedMemory
from .util import delay, field_bits, replica

__all__ = ["CodebookMemory", "LUTRAM_MAX_DEPTH"]


class CodebookMemory(BankedMemory):
    """Per subspace lane ``cl``, word :meth:`word_addr` ``(bank, g, step)`` holds prototypes
    ``step*k_par .. step*k_par + k_par - 1`` of subspace ``c = g*c_par + cl``.

    Read: a request on ``rd`` (word address, same for all lanes, and a ``tag`` of the caller's
    layout) comes back on ``rd_out`` :attr:`latency` cycles later.  A memory of at most
    :data:`LUTRAM_MAX_DEPTH` words is LUT-RAM, one memory per (lane, slot) with its own copy of
    the read address (:data:`pqaccel.pipeline.LUTRAM_READ`: the address registered, copied,
    read asynchronously, the data registered); for a ``family`` of
    :data:`pqaccel.pipeline.CODEBOOK_ELEMENT_SPLIT` (one small LUT-RAM a logic block) one
    memory per (lane, slot, element) instead, each with its own read- and write-address
    copies; a deeper one is block RAM, one memory per lane
    (:data:`pqaccel.pipeline.MEMORY_READ`).  Write: one prototype (``v`` elements) per cycle at
    lane ``wr_lane``, word ``wr_addr``, slot ``wr_slot`` (the prototype's position in the
    word); it reaches the memory :func:`pqaccel.pipeline.write_stages` + 1 clock edges later.
    The shared scaffolding: :class:`BankedMemory`.
    """

    def __init__(self, cfg, tag=0, family=None):
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
            family=family,
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
        # LUT-RAM: one memory per (lane, slot) or (lane, slot, element), each with its own read-
        # and write-address registers, the read address registered per lane and then per
        # memory, the write port per lane and then per memory; block RAM: one memory per lane,
        # a slot per byte-enable group (split, narrow prototypes would take more block RAMs),
        # the write port registered per lane, then once more beside the memory.
        for lane in range(p.c_par):
            g = self.group_port(m, w, str(lane))
            w_addr, w_data = g.wr_addr, g.wr_data
            if self.lutram:
                self._lutram_lane(m, g, lane, w_addr, w_data)
                continue
            (addr,) = self.read_addresses(m, [str(lane)])
            en = Cat(g.wr_en & (g.wr_lane == lane) & (g.wr_slot == slot) for slot in range(p.k_par))
            en, m_addr, m_data = self.last_stage(
                m, f"mem{lane}", en, w_addr, w_data.as_value().replicate(p.k_par)
            )
            wr, rd = self.memory(
                m,
                f"mem{lane}",
                unsigned(self.vec.size * p.k_par),
                addr,
                m_addr,
                granularity=self.vec.size,
            )
            m.d.comb += [wr.data.eq(m_data), wr.en.eq(en)]
            dst = Cat(self.rd_out.payload.data[lane][s] for s in range(p.k_par))
            self.read_data(m, dst, rd, f"rd_data{lane}")
        self.respond(m)
        return m

    def _lutram_lane(self, m, w, lane, w_addr, w_data):
        """Lane ``lane`` of a LUT-RAM codebook: one memory per slot or per (slot, element),
        written one prototype at a time.  The read address is registered for the lane, then per
        slot, then per memory; the write port (already per lane) per slot, then the address
        per memory, the data per slot again, the enable per slot and then per memory
        (:func:`pqaccel.pipeline.write_stages` levels in all)."""
        # one memory per slot, or per (slot, element): a piece is a range of elements
        v = self.cfg.v
        split = pipeline.codebook_split(self.cfg, self.family)
        pieces = [range(e, e + 1) for e in range(v)] if split else [range(v)]
        names = {
            (slot, i): f"{lane}_{slot}" + (f"_{i}" if len(pieces) > 1 else "")
            for slot in range(self.cfg.par.k_par)
            for i in range(len(pieces))
        }
        slot_of = {name: f"{lane}_{slot}" for (slot, _), name in names.items()}
        addrs = dict(
            zip(names, self.read_addresses(m, list(names.values()), parent=slot_of.__getitem__))
        )
        elem = self.vec.elem_shape.width
        for slot in range(self.cfg.par.k_par):
            en = w.wr_en & (w.wr_lane == lane) & (w.wr_slot == slot)
            en = delay(m, en, 1, f"en{lane}_{slot}")
            s_addr, s_data = self.registered(m, f"{lane}_{slot}", w_addr=w_addr, w_data=w_data)
            (s_data,) = self.registered(m, f"{lane}_{slot}_d", w_data=s_data)
            for i, piece in enumerate(pieces):
                name = names[slot, i]
                (mem_addr,) = self.registered(m, name, w_addr=s_addr)
                wr, rd = self.memory(
                    m, f"mem{name}", unsigned(elem * len(piece)), addrs[slot, i], mem_addr
                )
                # the enable's last register each memory's own: equal registers of one slot
                # would be merged into one driving all the slot's memories
                m.d.comb += [
                    wr.data.eq(Cat(s_data[e] for e in piece)),
                    wr.en.eq(replica(m, en, f"mem{name}_we", reset=True)),
                ]
                dst = Cat(self.rd_out.payload.data[lane][slot][e] for e in piece)
                self.read_data(m, dst, rd, f"rd_data{name}")
