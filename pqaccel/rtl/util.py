"""Small helpers shared by the blocks."""

import math

from amaranth.hdl import Array, Const, Signal, ValueCastable, unsigned
from amaranth.lib import data, stream

from ..fixedpoint import field_bits, tree_levels
from ..pipeline import REPLICA_ATTR

__all__ = [
    "REPLICA_ATTR",
    "replica",
    "delay",
    "delay_copies",
    "replica_tree",
    "field_bits",
    "tree_levels",
    "const_function",
    "ConstTable",
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


def replica_tree(m, value, name, copies):
    """``copies`` registered copies of ``value``, two clock edges after it, as a tree of
    :func:`replica` registers: a first level of ``ceil(sqrt(copies))`` copies, each driving a
    group of the second (one register driving copies spread over the device is a long net
    whatever its loads)."""
    groups = max(1, math.isqrt(copies - 1) + 1) if copies > 1 else 1
    size = -(-copies // groups)
    first = [replica(m, value, f"{name}_g{g}") for g in range(groups)]
    return [replica(m, first[i // size], f"{name}{i}") for i in range(copies)]


def const_function(value, func, max_value):
    """``func(value)`` for ``0 <= value <= max_value`` as logic: a shift-free constant table
    (a few LUT levels) instead of an arithmetic circuit such as a divider.

    ``value`` may be wider; only its low ``max_value.bit_length()`` bits are looked at, so the
    caller must check the range.  The result is a :class:`ConstTable`: a value, or built in two
    register stages by :meth:`ConstTable.registered`.
    """
    return ConstTable(value, func, max_value)


class ConstTable(ValueCastable):
    """``func(value)`` for ``0 <= value <= max_value`` (:func:`const_function`): usable as a
    value (a table over ``value``'s low bits, a few LUT levels), or :meth:`registered`."""

    def __init__(self, value, func, max_value):
        self.bits = max(1, max_value.bit_length())
        self.results = [func(v) for v in range(max_value + 1)]
        self._shape = unsigned(max(1, max(self.results).bit_length()))
        self.index = value[: self.bits]

    def _table(self, index, results):
        return Array(Const(r, self._shape) for r in results)[index]

    def as_value(self):
        return self._table(self.index, self.results)

    def shape(self):
        return self._shape

    def registered(self, m, name):
        """The table two clock edges later, one LUT level or two a stage: for each value of the
        index's high half, the table of its low half, registered beside the high half; then the
        high half selects among them (a multiplexer), registered as ``name``.  (One table over
        the whole index, 10 bits for ResNet20's 576 inputs, was five LUT levels and the ECP5
        critical path of the MAC network engine.)"""
        lo_bits = self.bits - self.bits // 2
        lo, hi = self.index[:lo_bits], self.index[lo_bits:]
        parts = []
        for h in range(1 << (self.bits - lo_bits)):
            sub = self.results[h << lo_bits : (h + 1) << lo_bits]
            sub += [0] * ((1 << lo_bits) - len(sub))  # past max_value: never selected
            part = Signal(self._shape, name=f"{name}_h{h}", reset_less=True)
            m.d.sync += part.eq(self._table(lo, sub))
            parts.append(part)
        out = Signal(self._shape, name=name, reset_less=True)
        if len(parts) == 1:
            m.d.sync += out.eq(parts[0])
            return out
        hi_r = Signal(len(hi), name=f"{name}_hi", reset_less=True)
        m.d.sync += [hi_r.eq(hi), out.eq(Array(parts)[hi_r])]
        return out


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
