"""Small helpers shared by the blocks."""

from amaranth.hdl import Array, Const, Signal, unsigned
from amaranth.lib import data, stream

from ..fixedpoint import field_bits, tree_levels

__all__ = ["delay", "field_bits", "tree_levels", "const_function", "read_signatures", "fields_eq"]


def delay(m, value, cycles, name="dly"):
    """Return ``value`` delayed by ``cycles`` registers in the ``sync`` domain (0: ``value``
    itself)."""
    for i in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_{i}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


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
