"""Control shared by the engines: the table port's signature, the double-buffered bank control,
the layer-shape arithmetic and the simulation- and formal-only checks of both."""

from amaranth.hdl import Assert, Const, Module, Mux, Signal
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from .util import const_function, field_bits

__all__ = [
    "BankControl",
    "WritePortSignature",
    "engine_signature",
    "last_index",
    "in_range",
    "busy_bits_for",
    "check_bank_use",
    "check_rows_out",
]


class WritePortSignature(wiring.Signature):
    """Table write port, as seen by the host: a write happens in a cycle with ``en`` and
    ``ready``."""

    def __init__(self, addr_bits, data_bits):
        self.addr_bits, self.data_bits = addr_bits, data_bits
        super().__init__(
            {"en": Out(1), "addr": Out(addr_bits), "data": Out(data_bits), "ready": In(1)}
        )

    def __eq__(self, other):
        return type(other) is type(self) and (other.addr_bits, other.data_bits) == (
            self.addr_bits,
            self.data_bits,
        )

    def __repr__(self):
        return f"WritePortSignature({self.addr_bits}, {self.data_bits})"


class BankControl(wiring.Component):
    """Which table bank new rows use, a pending commit, and how many rows in flight use each bank.

    Inputs: ``commit`` (a commit write is accepted this cycle), ``row_start`` (the issuing stage is
    at a row boundary), ``row_begin`` (a row's first work issues this cycle, on bank ``active``),
    ``row_done`` with ``done_bank`` (the last table read of a row has been sampled).
    Outputs: ``active`` (bank for new rows; writes go to the other), ``pending``, ``wr_ready``
    (the shadow bank may be written: no commit pending and no row in flight uses it).

    A pending commit swaps the banks at the next ``row_start`` from the ``write_latency - 2``-th
    cycle after it was accepted on: the control registers' writes before it take
    ``write_latency`` cycles to land (:data:`pqaccel.rtl.shell.CONTROL_LATENCY`), and the first
    row on the committed bank issues ``write_latency - 1`` cycles after the commit at the
    earliest, when they have; the issuing stage holds back new rows meanwhile
    (``pending & row_start``), so every row reads one bank from start to end.
    ``busy_bits`` must hold the most rows that can be in flight (the engine derives it from its
    pipeline); with ``checks`` the simulator asserts that the counts never wrap and that no
    commit arrives while one is pending.
    """

    commit: In(1)
    row_start: In(1)
    row_begin: In(1)
    row_done: In(1)
    done_bank: In(1)
    active: Out(1)
    pending: Out(1)
    wr_ready: Out(1)

    def __init__(self, busy_bits, write_latency=4, checks=False):
        if write_latency < 4:
            raise ValueError(f"write_latency must be at least 4, got {write_latency}")
        self.busy_bits = busy_bits
        self.write_latency = write_latency
        self.checks = checks
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        busy = [Signal(self.busy_bits, name=f"busy{b}") for b in range(2)]
        m.d.comb += self.wr_ready.eq(~self.pending & (Mux(self.active, busy[0], busy[1]) == 0))
        # ages[i]: pending for i + 1 cycles already
        ages = [Signal(name=f"aged{i}") for i in range(self.write_latency - 3)]
        m.d.sync += [a.eq(prev) for a, prev in zip(ages, [self.pending] + ages[:-1])]
        with m.If(self.commit):
            m.d.sync += self.pending.eq(1)
        with m.If(self.pending & ages[-1] & self.row_start):
            m.d.sync += [self.active.eq(~self.active), self.pending.eq(0)]
            m.d.sync += [a.eq(0) for a in ages]
        # A row that begins is counted a cycle later, off the issue logic's critical path.  That
        # is early enough: the row's bank is the active one, and the banks cannot swap in the
        # cycle after a row begins unless that row has already issued everything, in which case
        # the count is in place when the swap makes its bank the shadow.
        begin = Signal()
        begin_bank = Signal()
        m.d.sync += [begin.eq(self.row_begin), begin_bank.eq(self.active)]
        for b in range(2):
            inc = begin & (begin_bank == b)
            dec = self.row_done & (self.done_bank == b)
            m.d.sync += busy[b].eq(busy[b] + inc - dec)
            if self.checks:
                top = (1 << self.busy_bits) - 1
                m.d.sync += [
                    Assert(~(inc & ~dec & (busy[b] == top)), f"busy count of bank {b} wraps"),
                    Assert(
                        ~(dec & ~inc & (busy[b] == 0)), f"bank {b}: a row ends that never began"
                    ),
                ]
        if self.checks:
            m.d.sync += Assert(~(self.commit & self.pending), "commit while a commit is pending")
        return m


def check_bank_use(
    m, active, checks, *, rows, begin, begin_bank, end, end_bank, issue, row_start, reads, writes
):
    """Simulation- and formal-only checks of the double buffer, stated on the rows' own events
    rather than on :class:`BankControl`'s counters, which count a row's start a cycle late and
    gate writes when they are *accepted*, registers before they reach a memory (``active``:
    the bank control's bank for new rows):

    * rows in flight per bank are counted exactly: ``begin`` on ``begin_bank`` (a row's first
      read issues), ``end`` on ``end_bank`` (its last read issues), at most ``rows``;
    * a write into bank ``b`` (``writes``: ``(strobe, bank)`` pairs, decoded and delayed to
      line up with read issues as the memories see them:
      :meth:`pqaccel.rtl.banked.BankedMemory.write_event`) happens only while no row in
      flight uses ``b`` and no read of ``b`` issues (``reads``: ``(strobe, bank)``);
    * the banks swap only at a row boundary of the issuing stage (``row_start``) in a cycle
      where it issues nothing.
    """
    if not checks:
        return
    inflight = [Signal(range(rows + 2), name=f"chk_rows{b}") for b in range(2)]
    for b in range(2):
        m.d.sync += inflight[b].eq(
            inflight[b] + (begin & (begin_bank == b)) - (end & (end_bank == b))
        )
        m.d.sync += Assert(inflight[b] <= rows, f"more than {rows} rows in flight on bank {b}")
        used = (inflight[b] != 0) | (begin & (begin_bank == b))
        for w, w_bank in writes:
            m.d.sync += Assert(
                ~(w & (w_bank == b) & used), f"write into bank {b} while a row uses it"
            )
    for w, w_bank in writes:
        for r, r_bank in reads:
            m.d.sync += Assert(
                ~(w & r & (w_bank == r_bank)), "a bank read and written in one cycle"
            )
    prev_active, prev_start, prev_issue = Signal(), Signal(), Signal()
    m.d.sync += [prev_active.eq(active), prev_start.eq(row_start), prev_issue.eq(issue)]
    m.d.sync += Assert(
        (active == prev_active) | (prev_start & ~prev_issue), "banks swapped inside a row"
    )


def check_rows_out(m, o, checks, *, begin, beats_max, rows):
    """Simulation- and formal-only: the output stream ends a row (``last``) at most once per row
    that began (``begin``), with at most ``beats_max`` beats a row, and at most ``rows`` rows
    between their start and their last output beat."""
    if not checks:
        return
    pop = o.valid & o.ready
    open_rows = Signal(range(rows + 2), name="chk_open_rows")
    beats = Signal(range(beats_max + 1), name="chk_beats")
    ends = pop & o.payload.last
    m.d.sync += open_rows.eq(open_rows + begin - ends)
    with m.If(pop):
        m.d.sync += beats.eq(Mux(o.payload.last, 0, beats + 1))
    m.d.sync += [
        Assert(~ends | (open_rows != 0) | begin, "a row ends that never began"),
        Assert(open_rows <= rows, f"more than {rows} rows between start and output"),
        Assert(~pop | (beats < beats_max), f"an output row longer than {beats_max} beats"),
    ]


def engine_signature(in_layout, out_layout, amap):
    """The members every engine has: input and output streams, the table write port (as seen
    by the engine) and the active bank."""
    return {
        "i": In(stream.Signature(in_layout)),
        "o": Out(stream.Signature(out_layout)),
        "wr": In(WritePortSignature(amap.addr_bits, amap.data_bits)),
        "active_bank": Out(1),
    }


def busy_bits_for(rows_in_flight):
    """Width of a :class:`BankControl` busy counter for at most ``rows_in_flight`` rows."""
    return max(1, field_bits(rows_in_flight + 1))


def in_range(value, lo, hi):
    """``lo <= value <= hi`` for an unsigned ``value`` of any width: a compare of the low
    ``hi.bit_length()`` bits and a zero test of the rest.  A control value arrives on the whole
    data word of the table port (512 bits and more with the wide port); comparing all of it
    would put a carry chain that long on the write decode (ECP5: 43.8 MHz for
    ``resnet20-v9k8-net`` before this)."""
    nb = max(1, hi.bit_length())
    low = value[:nb]
    cond = Const(1)
    if lo > 0:  # (comparisons that are always true are left out)
        cond &= low >= lo
    if hi < (1 << nb) - 1:
        cond &= low <= hi
    if len(value) > nb:
        cond &= value[nb:] == 0
    return cond


def last_index(value, n_max, par):
    """``ceil(value / par) - 1`` for ``1 <= value <= n_max``, as a constant table (no divider)."""
    return const_function(value, lambda n: max(0, -(-n // par) - 1), n_max)
