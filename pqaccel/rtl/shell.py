"""The engine shell both engines share, as components: the table port, the row issuer and the
credit-counted FIFO.  An engine keeps only its datapath (memories, encoder, accumulator) and
wires these three around it.

* :class:`TablePort`: accepts writes on the host's :class:`WritePortSignature`, swaps the table
  banks on a commit (it owns :class:`~pqaccel.rtl.control.BankControl`), keeps the per-bank
  layer-shape registers the engine declares (:class:`ControlRegister`), and hands every other
  write, registered once, to the engine's memory decode (:meth:`TablePort.region`).
* :class:`RowIssuer`: the issue logic of rows made of ``outer x inner`` steps: a row takes the
  active bank when it starts and keeps it; a pending commit holds back a new row.
* :class:`CreditFIFO`: a FIFO behind a pipeline that never stalls: work takes a credit when it
  issues and the FIFO is deep enough for the pipeline plus the credit round trip
  (:data:`pqaccel.pipeline.CREDIT_ROUND_TRIP`).
"""

from amaranth.hdl import Assert, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .control import BankControl, WritePortSignature, in_range, last_index
from .util import ConstTable, delay, field_bits, replica

__all__ = [
    "CONTROL_LATENCY",
    "WritePortSignature",
    "BankUseSignature",
    "ControlRegister",
    "count_register",
    "requant_register",
    "region_layout",
    "region_fields",
    "TablePort",
    "RowIssuer",
    "CreditFIFO",
    "credit_gate",
]


#: Low bits of the data word that the control registers' checks and decodes read in full; the
#: rest of a wider word only decides, all zero or not, whether a value is in range.
CONTROL_BITS = 32

#: Clock edges from a control-register write's acceptance until its shape register holds the
#: new value (:class:`TablePort`): the word registered twice, the decode in two stages, the
#: shape register.  :class:`pqaccel.rtl.control.BankControl` holds a bank swap back this long.
CONTROL_LATENCY = 5


class BankUseSignature(wiring.Signature):
    """From a row issuer to the bank control: ``start`` (the issuing stage is at a row
    boundary), ``begin`` (a row's first work issues, on bank ``active``); back: ``active`` (the
    bank new rows use) and ``pending`` (a commit waits for a row boundary)."""

    def __init__(self):
        super().__init__({"start": Out(1), "begin": Out(1), "active": In(1), "pending": In(1)})


def region_layout(amap, region):
    """The address fields of ``region`` as a struct layout over the address body (least
    significant first): the one description that :meth:`pqaccel.addrmap.AddressMap.address`
    packs and the RTL decodes."""
    return data.StructLayout(
        {name: unsigned(width) for name, (_, width) in amap.slices(region).items()}
    )


def region_fields(amap, region, addr):
    """The fields of ``region`` in the table-port address ``addr``, as a view."""
    layout = region_layout(amap, region)
    return data.View(layout, addr[: layout.size])


class ControlRegister:
    """A per-bank register of the control region: written at ``reg`` (the control register
    number), taken when ``accept(data)`` holds, holding ``fields`` ``{name: (shape, reset,
    decode)}`` where ``decode(data)`` is the field's new value.  Writes go to the shadow bank."""

    def __init__(self, reg, fields, accept=lambda value: 1):
        self.reg, self.fields, self.accept = reg, fields, accept


def count_register(reg, name, n_max, par, extra=None):
    """The control register that sets a run-time count ``1..n_max`` processed ``par`` at a time:
    field ``name`` holds ``ceil(count/par) - 1`` (reset: for ``n_max``; stored minus one so that
    issue logic compares for equality, with no subtraction), a constant table rather than a
    divider.  ``extra``: more fields of the same register.  Out-of-range values are ignored."""
    bits = max(1, field_bits(-(-n_max // par)))
    fields = {
        name: (unsigned(bits), -(-n_max // par) - 1, lambda d: last_index(d, n_max, par)),
        **(extra or {}),
    }
    return ControlRegister(reg, fields, accept=lambda d: in_range(d, 1, n_max))


def requant_register(reg, requant):
    """The per-bank run-time requantization (``requant.runtime``): ``shift`` (reset
    ``requant.shift``; a larger value is ignored, like an out-of-range shape) in the data's low
    ``shift_bits`` bits and ``relu`` in the next.  None without ``requant.runtime``."""
    if not requant.runtime:
        return None
    sb = requant.shift_bits
    return ControlRegister(
        reg,
        {
            "shift": (unsigned(sb), requant.shift, lambda d: d[:sb]),
            "relu": (unsigned(1), 0, lambda d: d[sb]),
        },
        accept=lambda d: d[:sb] <= requant.shift,
    )


def decoded(m, value, shape, name):
    """A control field's decode ``value`` two clock edges later as ``value_<name>`` of
    ``shape``: a :class:`pqaccel.rtl.util.ConstTable` in its two register stages, anything
    else (slices of the word) registered twice."""
    if isinstance(value, ConstTable):
        out = value.registered(m, f"value_{name}")
    else:
        out = delay(m, value, 2, f"value_{name}", reset_less=True)
    res = Signal(shape, name=f"value_{name}_s")
    m.d.comb += res.eq(out)
    return res


class TablePort(wiring.Component):
    """The host side of an engine (see the module docstring).

    Members: ``wr`` (the host's write port; ``ready`` is the bank control's), ``rows`` (a row
    issuer's bank use), ``row_done`` with ``done_bank`` (a row's last table read has been
    sampled), ``active``/``shadow`` (the bank rows use / writes fill), ``shape`` (the control
    registers' fields, one struct per bank), ``w_valid``/``w_addr``/``w_data`` (an accepted
    write other than a commit, registered once: the memories decode it off the ``ready`` path).

    A commit goes to the bank control in the cycle it is accepted, so ``ready`` drops at once and
    no later write can land in a bank that has become active.  Writes accepted before a commit
    land before any row can read the committed bank (the swap waits a cycle for ``pending`` and
    the memories register their write ports once more).  ``busy_bits`` holds the most rows in
    flight (:func:`pqaccel.rtl.control.busy_bits_for`).
    """

    def __init__(self, amap, commit_reg, registers, busy_bits, checks=False):
        registers = [r for r in registers if r is not None]
        self.amap, self.commit_reg, self.registers = amap, commit_reg, registers
        self.busy_bits, self.checks = busy_bits, checks
        fields = {name: shape for r in registers for name, (shape, _, _) in r.fields.items()}
        reset = {name: init for r in registers for name, (_, init, _) in r.fields.items()}
        self.shape_layout = data.StructLayout(fields)
        super().__init__(
            {
                "wr": In(WritePortSignature(amap.addr_bits, amap.data_bits)),
                "rows": In(BankUseSignature()),
                "row_done": In(1),
                "done_bank": In(1),
                "active": Out(1),
                "shadow": Out(1),
                "shape": Out(data.ArrayLayout(self.shape_layout, 2), init=[reset, reset]),
                "w_valid": Out(1),
                "w_addr": Out(amap.addr_bits),
                "w_data": Out(amap.data_bits),
            }
        )

    def region(self, name):
        """``(strobe, fields)``: an accepted write into region ``name`` (one cycle after its
        acceptance) and its address fields as a view of :func:`region_layout`."""
        strobe = self.w_valid & (self.w_addr[self.amap.body_bits :] == self.amap.regions[name])
        return strobe, region_fields(self.amap, name, self.w_addr)

    def elaborate(self, platform):
        m = Module()
        amap = self.amap
        m.submodules.banks = banks = BankControl(
            self.busy_bits, CONTROL_LATENCY, checks=self.checks
        )
        m.d.comb += [
            self.wr.ready.eq(banks.wr_ready),
            self.active.eq(banks.active),
            self.shadow.eq(~banks.active),
            banks.row_start.eq(self.rows.start),
            banks.row_begin.eq(self.rows.begin),
            self.rows.active.eq(banks.active),
            self.rows.pending.eq(banks.pending),
            banks.row_done.eq(self.row_done),
            banks.done_bank.eq(self.done_bank),
        ]
        accepted = self.wr.en & self.wr.ready
        m.d.comb += banks.commit.eq(
            accepted
            & (self.wr.addr[amap.body_bits :] == amap.regions["control"])
            & (region_fields(amap, "control", self.wr.addr).reg == self.commit_reg)
        )
        m.d.sync += [
            self.w_valid.eq(accepted),
            self.w_addr.eq(self.wr.addr),
            self.w_data.eq(self.wr.data),
        ]

        # A register's check and decode (a constant table over the data word's low bits,
        # :class:`pqaccel.rtl.util.ConstTable`) are taken from a copy of the word of their own
        # (``w_data`` goes to every memory's write port), registered twice (a wide word's bits
        # come from all over the device; the second register a copy per check and per decode,
        # so that no register drives the tables of several), then the decode in two register
        # stages (one LUT level or two each), the check registered twice beside it, and the
        # write strobe per bank with them: the host's word reaches two registers before any
        # logic, and no decode sits before a shape register's enable.  A shape register then
        # holds its value :data:`CONTROL_LATENCY` cycles after the write's acceptance: the
        # first row on a committed bank issues no earlier (the commit follows the write by a
        # cycle at least, and BankControl holds the swap back for that).
        # With a wide data word, the bits above CONTROL_BITS enter the checks as one flag (is
        # any set?), reduced from the incoming word 16 bits a register, so that no check looks
        # at the whole word in one cycle (every decode reads the low bits only).
        is_control, fields = self.region("control")
        word = replica(m, self.wr.data[:CONTROL_BITS], "w_control")
        if len(self.wr.data) > CONTROL_BITS:
            high = self.wr.data[CONTROL_BITS:]
            chunks = [
                replica(m, high[i : i + 16].any(), f"w_control_hi{i // 16}")
                for i in range(0, len(high), 16)
            ]
            word = Cat(word, Cat(*chunks).any())
        is_reg = {
            r.reg: delay(m, is_control & (fields.reg == r.reg), 2, f"is_reg{r.reg}")
            for r in self.registers
        }
        shadow = delay(m, self.shadow, 2, "w_control_bank")
        for i, r in enumerate(self.registers):
            ok = delay(m, r.accept(replica(m, word, f"w_control_2_{i}")), 2, f"accept{i}")
            values = {
                name: decoded(m, decode(replica(m, word, f"w_control_2_{i}_{name}")), shape, name)
                for name, (shape, _, decode) in r.fields.items()
            }
            for b in range(2):
                write = Signal(name=f"write{i}_{b}")
                m.d.sync += write.eq(is_reg[r.reg] & (shadow == b))
                with m.If(write & ok):
                    m.d.sync += [self.shape[b][name].eq(v) for name, v in values.items()]
        return m


class RowIssuer(wiring.Component):
    """Issues rows of ``outer x inner`` steps, one step per cycle with ``valid`` and ``room``.

    ``last_inner``/``last_outer`` give each bank's last counter values (layer-shape registers,
    or constants); ``inner``/``outer`` are the step's counters, ``bank`` its bank (the active one
    at a row's first step, kept to its end), ``at_last_inner``/``at_last_outer`` whether the
    step ends a group / a row.  ``room`` is the caller's credit condition for this step (it may
    depend on ``at_last_*``).  ``rows`` goes to :class:`TablePort`: a pending commit holds back
    a new row, so every row reads one bank from start to end.
    """

    def __init__(self, inner_count, outer_count):
        self.inner_bits = max(1, field_bits(inner_count))
        self.outer_bits = max(1, field_bits(outer_count))
        super().__init__(
            {
                "valid": In(1),
                "room": In(1),
                "last_inner": In(data.ArrayLayout(self.inner_bits, 2)),
                "last_outer": In(data.ArrayLayout(self.outer_bits, 2)),
                "rows": Out(BankUseSignature()),
                "issue": Out(1),
                "bank": Out(1),
                "inner": Out(self.inner_bits),
                "outer": Out(self.outer_bits),
                "at_last_inner": Out(1),
                "at_last_outer": Out(1),
                "row_start": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        row_bank = Signal(name="row_bank")
        # ``row_start`` (both counters 0) is a register of its own, set when a step that ends a
        # row issues; each counter is compared with both banks' last values and the bank
        # selects the result (a counter's compare is not behind the bank's multiplexer): the
        # issue loop (counters -> compares -> issue -> credits) was the MAC's critical path.
        row_start = Signal(init=1, name="row_start_r")
        m.d.comb += [
            self.row_start.eq(row_start),
            self.bank.eq(Mux(self.row_start, self.rows.active, row_bank)),
            self.at_last_inner.eq(
                Mux(
                    self.bank,
                    self.inner == self.last_inner[1],
                    self.inner == self.last_inner[0],
                )
            ),
            self.at_last_outer.eq(
                Mux(
                    self.bank,
                    self.outer == self.last_outer[1],
                    self.outer == self.last_outer[0],
                )
            ),
            self.issue.eq(self.valid & ~(self.row_start & self.rows.pending) & self.room),
            self.rows.start.eq(self.row_start),
            self.rows.begin.eq(self.issue & self.row_start),
        ]
        with m.If(self.issue):
            m.d.sync += row_start.eq(self.at_last_inner & self.at_last_outer)
            m.d.sync += self.inner.eq(Mux(self.at_last_inner, 0, self.inner + 1))
            with m.If(self.at_last_inner):
                m.d.sync += self.outer.eq(Mux(self.at_last_outer, 0, self.outer + 1))
            with m.If(self.row_start):
                m.d.sync += row_bank.eq(self.rows.active)
        return m


def credit_gate(m, fifo, issue, at):
    """Tie work that issues into ``fifo``'s credits: a step that issues (``issue``) where ``at``
    holds will write one entry, so it takes a credit; returns the condition under which such a
    step may issue (``~at`` or a free credit).  Room and take are stated once, on the same
    ``at``, so they cannot drift apart."""
    m.d.comb += fifo.take.eq(issue & at)
    return ~at | fifo.room


class CreditFIFO(wiring.Component):
    """A buffered FIFO (its head a register) behind a pipeline that never stalls.

    ``take``: work issues whose result will be written (one credit); ``room``: a credit is free;
    ``w``: the pipeline's results (always accepted: the credits guarantee space); ``r``: the
    FIFO's output stream.  ``depth`` must cover the pipeline from ``take`` to ``w`` plus
    :data:`pqaccel.pipeline.CREDIT_ROUND_TRIP`, so that credits never throttle an unstalled
    stream.  ``credits`` (default ``depth``) must not exceed ``depth``.  With ``checks`` the
    simulator asserts that the FIFO is never written when full and that the credits in use
    stay within ``0..credits``.

    ``select`` (a function of the payload returning a few of its bits) is for a consumer whose
    ``r.ready`` depends on the head's own bits: those bits are also kept in flip-flops beside
    the memory, and ``r_select`` gives the head's copy (equal to ``select(r.payload)`` while
    ``r.valid``; with ``checks`` the simulator asserts it).  A ready computed from them starts
    at a register instead of at the block RAM's output, which was the iCE40 critical path.
    """

    def __init__(self, layout, depth, checks=False, name="FIFO", credits=None, select=None):
        if depth < 2:
            raise ValueError(f"{name}: depth {depth}: must be at least 2 (a memory and a head)")
        self.layout, self.depth, self.checks, self._what = layout, depth, checks, name
        self.credits = depth if credits is None else credits
        self._select = select
        members = {
            "take": In(1),
            "room": Out(1),
            "w": In(stream.Signature(layout, always_ready=True)),
            "r": Out(stream.Signature(layout)),
        }
        if select is not None:
            members["r_select"] = Out(len(select(Signal(layout))))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        # Amaranth's SyncFIFOBuffered, cycle for cycle, except that a write is not gated by
        # the level (the credits guarantee space; with ``checks`` the simulator asserts it):
        # the level compare in front of every LUT-RAM cell's write enable was the DSP MAC's
        # critical path.  ``depth - 1`` entries in memory, the head in its read register.
        inner = self.depth - 1
        storage = m.submodules.storage = memory.Memory(
            shape=data.Layout.cast(self.layout).size, depth=inner, init=[]
        )
        w_port, r_port = storage.write_port(), storage.read_port(domain="sync")
        level = Signal(range(inner + 1), name="inner_level")
        head = Signal(name="head_valid")
        do_write = self.w.valid
        do_read = (level != 0) & (~head | self.r.ready)
        m.d.comb += [
            w_port.data.eq(self.w.payload),
            w_port.en.eq(do_write),
            r_port.en.eq(do_read),
            self.r.valid.eq(head),
            self.r.payload.eq(r_port.data),
        ]
        for port, step in ((w_port, do_write), (r_port, do_read)):  # produce, consume
            with m.If(step):
                m.d.sync += port.addr.eq(Mux(port.addr == inner - 1, 0, port.addr + 1))
        m.d.sync += level.eq(level + do_write - do_read)
        with m.If(do_read):
            m.d.sync += head.eq(1)
        with m.Elif(self.r.ready):
            m.d.sync += head.eq(0)
        if self._select is not None:  # the selected bits again, in flip-flops, read alike
            width = len(self.r_select)
            copies = Signal(width * inner, name="select_copies")
            w_bits = self._select(self.w.payload)
            for i in range(inner):
                with m.If(do_write & (w_port.addr == i)):
                    m.d.sync += copies.word_select(i, width).eq(w_bits)
            with m.If(do_read):
                m.d.sync += self.r_select.eq(copies.word_select(r_port.addr, width))
            if self.checks:
                m.d.sync += Assert(
                    ~head | (self.r_select == self._select(self.r.payload)),
                    f"{self._what}: the head's flip-flop copy differs from the memory",
                )

        used = Signal(range(self.credits + 1), name="credits_used")
        # both sums from registers, ``take`` (at the end of the issue logic) only selects: the
        # issue counters' compares into this count were the logic MAC's critical path
        freed = head & self.r.ready
        m.d.sync += used.eq(Mux(self.take, used + 1 - freed, used - freed))
        m.d.comb += self.room.eq(used < self.credits)
        if self.checks:  # sync-domain: a testbench's inputs may pass through transient states
            m.d.sync += [
                Assert(~do_write | (level != inner), f"{self._what}: write while full"),
                Assert(used <= self.credits, f"{self._what} credits exceed {self.credits}"),
            ]
        return m
