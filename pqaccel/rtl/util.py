"""Small helpers shared by the blocks."""

from amaranth.hdl import Array, Const, Signal, unsigned

from ..fixedpoint import field_bits, tree_levels

__all__ = ["delay", "field_bits", "tree_levels", "const_function"]


def delay(m, value, cycles, name="dly"):
    """Return ``value`` delayed by ``cycles`` registers in the ``sync`` domain (0: ``value`` itself)."""
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
    return table[value[:max(1, max_value.bit_length())]]
