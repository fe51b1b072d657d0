"""Small helpers shared by the blocks."""

from amaranth.hdl import Signal

__all__ = ["delay", "field_bits", "tree_levels"]


def field_bits(n):
    """Bits of an index ranging over ``n`` values (0 for ``n == 1``)."""
    return (n - 1).bit_length()


def tree_levels(n):
    """Levels of a binary reduction tree over ``n`` leaves."""
    return (n - 1).bit_length()


def delay(m, value, cycles, name="dly"):
    """Return ``value`` delayed by ``cycles`` registers in the ``sync`` domain (0: ``value`` itself)."""
    for i in range(cycles):
        reg = Signal(value.shape(), name=f"{name}_{i}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
