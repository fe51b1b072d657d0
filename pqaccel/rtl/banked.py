"""The scaffolding every engine memory shares (codebooks, PQ tables, MAC weights).

A :class:`BankedMemory` is a set of memories (one per lane) that a table port writes and a
pipeline reads: its depth (both banks of the double buffer) comes from :mod:`pqaccel.pipeline`,
stated once.  Every fan-out is split by registers that synthesis keeps apart
(:func:`pqaccel.rtl.util.replica`), so no net spans the device:

* the write port (enable, address, data and the engine's extra write fields) is registered
  once for the block (:meth:`BankedMemory.write_port`), then per group of memories
  (:meth:`BankedMemory.registered`; LUT-RAM: per lane, then per memory), then (block RAM)
  per memory again (:meth:`BankedMemory.last_stage`), then written:
  :func:`pqaccel.pipeline.write_stages` registers, off the table port's ready path;
* each group of memories gets its own registered copy of the read address, a copy of one per
  parent group (LUT-RAM, where a lane is hundreds of cells: of a first register, one cycle
  more);
* read data are registered after the memory (block RAM: twice, :meth:`BankedMemory.read_data`),
  and ``valid`` and the caller's ``tag`` are delayed by :attr:`BankedMemory.latency` to come
  back with the data on ``rd_out``.

Timing of the double buffer: a write accepted in cycle ``w`` passes the table port's register
and ``W`` = :func:`~pqaccel.pipeline.write_stages` more, so the memory holds it from cycle
``w + 2 + W``.  A commit is accepted at ``c >= w + 1`` and pends until the control registers'
writes before it have landed (:class:`~pqaccel.rtl.control.BankControl`, with
:data:`~pqaccel.rtl.shell.CONTROL_LATENCY` = 5), so the first row on the committed bank issues
at ``c + 4`` at the earliest; its address passes ``R`` =
:func:`~pqaccel.pipeline.read_address_stages` registers, so the memory reads for it in cycle
``c + 4 + R`` (block RAM: at the edge that ends it), and the write landed at the edge that ends
cycle ``w + 1 + W``: ``W <= R + 3``.  Both take ``W = R + 1`` (block RAM: 3, a register per
memory for each of its write inputs; LUT-RAM: 4).
"""

from types import SimpleNamespace

from amaranth.hdl import Shape, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .. import pipeline
from ..memmap import map_memory
from . import ecp5
from .util import delay, field_bits, read_signatures, replica

__all__ = ["BankedMemory"]


class BankedMemory(wiring.Component):
    """``depth`` words per memory, read with :attr:`latency` cycles
    (:data:`pqaccel.pipeline.LUTRAM_READ` with ``lutram``: an asynchronous read, else
    :data:`pqaccel.pipeline.MEMORY_READ`); ``addr_lanes``: None for one read address shared by
    all memories, else the number of read addresses (``rd.payload.addr[i]``); ``data_layout``:
    the ``rd_out`` data; ``tag``: the caller's sideband; ``ports(addr_bits)``: the write port's
    fields besides ``wr_en`` (``wr_addr`` of ``addr_bits`` among them).

    ``collision_free``: the engine never reads a word in the cycle it is written (writes go to
    the shadow bank, reads to banks in use), so synthesis may drop the read-during-write logic.
    """

    collision_free = True

    def __init__(self, depth, data_layout, tag, ports, addr_lanes=None, lutram=False, family=None):
        from amaranth.lib import data

        self.depth = depth
        self.family = family
        self.lutram = lutram
        self.latency = pipeline.LUTRAM_READ if lutram else pipeline.MEMORY_READ
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

    def write_port(self, m, part=""):
        """The write port's inputs (``wr_en`` and every field of ``ports``), registered once for
        the block (or for a ``part`` of it, a name suffix: each part its own copy): a namespace
        of the same names."""
        names = [name for name in self.signature.members if name.startswith("wr_")]
        return SimpleNamespace(
            **{n: replica(m, getattr(self, n), f"{n}_s{part}", reset=n == "wr_en") for n in names}
        )

    @staticmethod
    def registered(m, group="", **signals):
        """A registered copy of each of ``signals`` (``name=signal``, from :meth:`write_port`)
        for one ``group`` of memories (a name suffix), in order: each group gets its own copy
        (:func:`replica`)."""
        return [replica(m, s, name + group) for name, s in signals.items()]

    def group_port(self, m, w, group):
        """The fields of :meth:`write_port` ``w`` that every memory reads (all but the wide
        port's per-lane ``wr_row``), registered for one ``group`` of memories (a name suffix):
        a namespace of the same names, from which the group decodes its write enables."""
        names = [n for n in vars(w) if n != "wr_row"]
        return SimpleNamespace(
            **dict(
                zip(names, self.registered(m, group, **{f"w_{n[3:]}": vars(w)[n] for n in names}))
            )
        )

    def read_addresses(self, m, groups, lane=None, parent=None):
        """The read address (``rd.payload.addr[lane]`` with ``addr_lanes``) for each of
        ``groups`` (name suffixes) of memories, each group's own register at the end of a tree
        of :func:`pqaccel.pipeline.read_address_stages` levels: a copy per ``parent(group)`` (a
        name suffix; default: the group), then a copy of that per group; with :attr:`lutram`
        one first register before them."""
        addr = self.rd.payload.addr if lane is None else self.rd.payload.addr[lane]
        parent = parent or (lambda g: g)
        if not self.lutram:  # a copy per parent, then per group
            mid = {}
            for g in groups:
                if parent(g) not in mid:
                    mid[parent(g)] = replica(m, addr, f"rd_addr_p{parent(g)}")
            return [replica(m, mid[parent(g)], f"rd_addr{g}") for g in groups]
        first = replica(m, addr, f"rd_addr_s{'' if lane is None else lane}")
        mid = {}
        for g in groups:
            if parent(g) not in mid:
                mid[parent(g)] = replica(m, first, f"rd_addr_p{parent(g)}")
        return [replica(m, mid[parent(g)], f"rd_addr{g}") for g in groups]

    def memory(self, m, name, shape, rd_addr, wr_addr, granularity=None):
        """One memory ``name`` of ``depth`` words of ``shape``: ``(write port, read port)``, the
        read port addressed by ``rd_addr`` (asynchronous with :attr:`lutram`), the write port
        by ``wr_addr``.  Built for ECP5, a memory that Yosys maps to one ``DP16KD``
        (:func:`pqaccel.memmap.map_memory`) is that block with its output register
        (:class:`pqaccel.rtl.ecp5.BlockRam`: the read port's data is then registered once
        already, ``rd.registered``)."""
        width = Shape.cast(shape).width
        if (
            self.family == "ecp5"
            and not self.lutram
            and ecp5.BlockRam.fits(self.depth, width, granularity)
            and map_memory(self.depth, width, granularity or width, "ecp5")["bram"] == 1
        ):
            ram = ecp5.BlockRam(m, name, self.depth, width)
            m.d.comb += [ram.rd.addr.eq(rd_addr), ram.wr.addr.eq(wr_addr)]
            return ram.wr, ram.rd
        mem = memory.Memory(shape=shape, depth=self.depth, init=[])
        m.submodules[name] = mem
        wr = mem.write_port(granularity=granularity)
        rd = mem.read_port(domain="comb" if self.lutram else "sync")
        m.d.comb += [rd.addr.eq(rd_addr), wr.addr.eq(wr_addr)]
        return wr, rd

    @staticmethod
    def last_stage(m, name, en, addr, data):
        """The last write stage of block-RAM memory ``name``: registers of its own for its
        write enable ``en``, address ``addr`` and data ``data`` (functions of a group's
        :meth:`registered` copies, the enable's decode too), so that no register or select
        drives the write inputs of several block RAMs (the wide port's write select drove 16
        table banks' data inputs, and one register of the write lane 144 enables, the ECP5
        critical paths of ``resnet20-v9k8-net``).  Returns ``(en, addr, data)`` for the
        memory's write port."""
        return (
            replica(m, en, f"{name}_we", reset=True),
            replica(m, addr, f"{name}_wa"),
            replica(m, data, f"{name}_wd"),
        )

    def write_event(self, m, bank):
        """For the double buffer's checks: this block's write strobe and its ``bank``, delayed
        by the registers a write has more than a read address (block RAM: two, LUT-RAM: one;
        :func:`pqaccel.pipeline.write_stages`), so that they line up with read issues as the
        memories see them."""
        skew = pipeline.write_stages(self.lutram) - pipeline.read_address_stages(self.lutram)
        return delay(m, self.wr_en, skew, "chk_wr"), delay(m, bank, skew, "chk_wr_bank")

    def read_data(self, m, dst, rd, name):
        """Register the data of a memory's read port ``rd`` onto ``dst`` (its part of
        ``rd_out``'s data): once after LUT-RAM, twice after block RAM (the first register
        ``name`` beside the block, or the block's own output register)."""
        value = rd.data
        if not self.lutram and not getattr(rd, "registered", False):
            first = Signal.like(value, name=name, reset_less=True)
            m.d.sync += first.eq(value)
            value = first
        m.d.sync += dst.eq(value)

    def early_tag(self, m, short=1):
        """The request's ``tag`` ``short`` registers before ``rd_out``'s, for a caller that
        gives groups of its loads their own last registers (:func:`replica`)."""
        return delay(m, self.rd.payload.tag, self.latency - short, "rd_tag")

    def respond(self, m):
        """``rd_out``'s ``valid`` and ``tag``: the request's, :attr:`latency` cycles later."""
        m.d.comb += [
            self.rd_out.valid.eq(delay(m, self.rd.valid, self.latency, "rd_valid")),
            self.rd_out.payload.tag.eq(delay(m, self.rd.payload.tag, self.latency, "rd_tag")),
        ]
