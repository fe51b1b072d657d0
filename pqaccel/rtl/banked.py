"""The scaffolding every engine memory shares (codebooks, PQ tables, MAC weights).

A :class:`BankedMemory` is a set of memories (one per lane) that a table port writes and a
pipeline reads: its depth (both banks of the double buffer) comes from :mod:`pqaccel.pipeline`,
stated once; the write port is registered once (address, data and the engine's extra write
fields) so the decode's fan-out stays off the table port's ready path, one copy per group of
memories; each group gets its own registered copy of the read address (copies that synthesis
keeps, :func:`pqaccel.rtl.util.replica`, so each fan-out stays local); read data are registered
after the memory; and ``valid`` and the caller's ``tag`` are delayed by :attr:`latency` to come
back with the data on ``rd_out``.
"""

from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .util import delay, field_bits, read_signatures, replica

__all__ = ["BankedMemory"]


class BankedMemory(wiring.Component):
    """``depth`` words per memory, read with :attr:`latency` cycles (2: asynchronous LUT-RAM
    read, 3: :data:`pqaccel.pipeline.MEMORY_READ`); ``addr_lanes``: None for one read address
    shared by all memories, else the number of read addresses (``rd.payload.addr[i]``);
    ``data_layout``: the ``rd_out`` data; ``tag``: the caller's sideband; ``ports(addr_bits)``:
    the write port's fields besides ``wr_en`` (``wr_addr`` of ``addr_bits`` among them).

    ``collision_free``: the engine never reads a word in the cycle it is written (writes go to
    the shadow bank, reads to banks in use), so synthesis may drop the read-during-write logic.
    """

    collision_free = True

    def __init__(self, depth, latency, data_layout, tag, ports, addr_lanes=None):
        from amaranth.lib import data

        self.depth = depth
        self.latency = latency
        self.addr_bits = max(1, field_bits(depth))
        addr = (
            self.addr_bits if addr_lanes is None else data.ArrayLayout(self.addr_bits, addr_lanes)
        )
        rd, rd_out = read_signatures(addr, data_layout, tag)
        super().__init__(
            {
                "rd": In(rd),
                "rd_out": Out(rd_out),
                "wr_en": In(1),
                **ports(self.addr_bits),
            }
        )

    @staticmethod
    def registered(m, group="", **signals):
        """A registered copy of each of ``signals`` (``name=signal``) for one ``group`` of
        memories (a name suffix), in order: each group gets its own copy (:func:`replica`), so
        no write-port register drives every memory of the engine."""
        return [replica(m, s, name + group) for name, s in signals.items()]

    def read_address(self, m, name, lane=None):
        """A registered copy of the read address (``rd.payload.addr[lane]`` with ``addr_lanes``)
        for one group of memories (:func:`replica`)."""
        return replica(
            m, self.rd.payload.addr if lane is None else self.rd.payload.addr[lane], name
        )

    def memory(self, m, name, shape, rd_addr, wr_addr, granularity=None):
        """One memory ``name`` of ``depth`` words of ``shape``: ``(write port, read port)``, the
        read port addressed by ``rd_addr`` (asynchronous when :attr:`latency` is 2), the write
        port by ``wr_addr``."""
        mem = memory.Memory(shape=shape, depth=self.depth, init=[])
        m.submodules[name] = mem
        wr = mem.write_port(granularity=granularity)
        rd = mem.read_port(domain="comb" if self.latency == 2 else "sync")
        m.d.comb += [rd.addr.eq(rd_addr), wr.addr.eq(wr_addr)]
        return wr, rd

    def tag_copy(self, m, name):
        """``rd_out``'s ``tag`` for one group of its loads: the same value, but the last of its
        :attr:`latency` registers is this group's own (:func:`replica`)."""
        return replica(m, delay(m, self.rd.payload.tag, self.latency - 1, "rd_tag"), name)

    def respond(self, m):
        """``rd_out``'s ``valid`` and ``tag``: the request's, :attr:`latency` cycles later."""
        m.d.comb += [
            self.rd_out.valid.eq(delay(m, self.rd.valid, self.latency, "rd_valid")),
            self.rd_out.payload.tag.eq(delay(m, self.rd.payload.tag, self.latency, "rd_tag")),
        ]
