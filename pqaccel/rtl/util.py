"""Small helpers shared by the blocks."""

from amaranth.hdl import Array, Const, Signal, unsigned
from amaranth.lib import data, stream

from ..fixedpoint import field_bits, tree_levels
from ..pipeline import REPLICA_ATTR

__all__ = [
    "REPLICA_ATTR",
    "replica",
    "delay",
    "delay_copies",
    "field_bits",
    "tree_levels",
    "const_function",
    "read_signatures",
    "fields_eq",
]


def delay(m, value, cycles, name="dly", reset_less=False):
    """Return ``value`` delayed by ``cycles`` registers in the ``sync`` domain (0: ``value``
    itself)."""
    for i in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_{i}", reset_less=reset_less)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def replica(m, value, name, reset=False):
    """A registered copy of ``value`` that synthesis keeps apart from its equals.

    A copy per group of loads keeps a high fan-out net short (each copy is placed next to its
    loads), but copies with one input are equal registers, and Yosys's ``opt_merge`` folds them
    back into one.  The signal carries :data:`REPLICA_ATTR`; :func:`pqaccel.synth.synthesize`
    puts ``keep`` on the flip-flops that drive such signals, which ``opt_merge`` respects.
    Other tools see an ordinary register (the copies are equivalent; the attribute is in the
    Verilog for their own keep or ``dont_touch`` mapping).

    A copy has no reset unless ``reset`` (a strobe or valid): a reset would put a multiplexer in
    front of every copy, which synthesis shares among them, and that one shared gate would
    drive all the copies again.
    """
    reg = Signal.like(value, name=name, attrs={REPLICA_ATTR: 1}, reset_less=not reset)
    m.d.sync += reg.eq(value)
    return reg


def delay_copies(m, value, cycles, name, copies, reset=False):
    """``value`` delayed by ``cycles`` registers, as ``copies`` values whose last register is
    each one's own (:func:`replica`, with ``reset``; one value ``copies`` times when ``cycles``
    is 0): a control signal that every lane of a datapath reads, split per lane."""
    if cycles == 0:
        return [value] * copies
    shared = delay(m, value, cycles - 1, name)
    return [replica(m, shared, f"{name}_c{i}", reset=reset) for i in range(copies)]


def const_function(value, func, max_value):
    """``func(value)`` for ``0 <= value <= max_value`` as logic: a shift-free constant table
    (a few LUT levels) instead of an arithmetic circuit such as a divider.

    ``value`` may be wider; only its low ``max_value.bit_length()`` bits are looked at, so the
    caller must check the range.
    """
    results = [func(v) for v in range(max_value + 1)]
    shape = unsigned(max(1, max(results).bit_length()))
    table = Array(Const(r, shape) for r in results)
    return table[value[: max(1, max_value.bit_length())]]


def read_signatures(addr_shape, data_shape, tag):
    """A memory's read request (``addr`` and a ``tag`` that travels with it) and its response
    (``data`` and the same ``tag``), both streams that never stall."""
    return (
        stream.Signature(data.StructLayout({"addr": addr_shape, "tag": tag}), always_ready=True),
        stream.Signature(data.StructLayout({"data": data_shape, "tag": tag}), always_ready=True),
    )


def fields_eq(view, values):
    """Statements that assign ``values`` (``{field: value or a nested dict}``) to the fields of
    the layout view ``view``: a struct filled in one place, by name."""
    out = []
    for name, value in values.items():
        out += fields_eq(view[name], value) if isinstance(value, dict) else [view[name].eq(value)]
    return out
