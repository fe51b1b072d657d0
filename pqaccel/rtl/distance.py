"""Pipelined distance unit: L1, L2 or Chebyshev between two ``v``-element vectors."""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from .. import fixedpoint as fx, pipeline

#: In L2, ``|x - p|`` of at most this many bits is squared by a constant table (no DSP block);
#: a wider one by a multiplier (defined with the latencies, where the resource model reads it).
from ..pipeline import SQUARE_TABLE_MAX_BITS

__all__ = ["DistanceUnit", "SQUARE_TABLE_MAX_BITS"]


class DistanceUnit(wiring.Component):
    """Exact distance between ``x`` (``in_bits``) and ``p`` (``proto_bits``), ``v`` elements each.

    Parameters: ``metric`` (``l1``, ``l2``, ``chebyshev``), ``v``, ``in_bits``, ``proto_bits``.

    Members: ``x`` (In), ``p`` (In), ``dist`` (Out, ``dist_bits`` unsigned).  ``dist`` follows the
    inputs by :attr:`latency` cycles; the unit never stalls.

    Stages: one for ``|x_i - p_i|``, one more for the square in L2 (a table up to
    :data:`SQUARE_TABLE_MAX_BITS`, else a multiplier), then one per level of the
    ``ceil(log2(v))``-level sum (or max) tree.
    """

    def __init__(self, *, metric, v, in_bits, proto_bits):
        self.metric, self.v = metric, v
        self.dist_max = fx.dist_max(metric, v, in_bits, proto_bits)
        self.diff_max = fx.diff_abs_max(in_bits, proto_bits)
        self.dist_bits = max(1, self.dist_max.bit_length())
        self.latency = pipeline.distance(metric, v)
        super().__init__(
            {
                "x": In(data.ArrayLayout(signed(in_bits), v)),
                "p": In(data.ArrayLayout(signed(proto_bits), v)),
                "dist": Out(unsigned(self.dist_bits)),
            }
        )

    @staticmethod
    def width(metric, v, in_bits, proto_bits):
        """Exact (unsigned) width of a distance."""
        return max(1, fx.dist_max(metric, v, in_bits, proto_bits).bit_length())

    def elaborate(self, platform):
        m = Module()
        terms = []  # (signal, largest value it can hold)
        for i in range(self.v):
            # |x - p| is at most diff_max: exact width, so that a 6-bit L2 squares by table
            a = Signal(
                unsigned(max(1, self.diff_max.bit_length())), name=f"abs{i}", reset_less=True
            )
            # both differences side by side, the sign of one picks: two carry chains in
            # parallel (``abs`` of the difference puts the negation's chain after the first)
            fwd, back = self.x[i] - self.p[i], self.p[i] - self.x[i]
            m.d.sync += a.eq(Mux(fwd[-1], back, fwd))
            top = self.diff_max
            if self.metric == "l2":
                sq = Signal(unsigned(2 * len(a)), name=f"sq{i}", reset_less=True)
                if len(a) <= SQUARE_TABLE_MAX_BITS:
                    table = Array(Const(j * j, unsigned(2 * len(a))) for j in range(1 << len(a)))
                    m.d.sync += sq.eq(table[a])
                else:
                    m.d.sync += sq.eq(a * a)
                a, top = sq, top * top
            terms.append((a, top))
        level = 0
        while len(terms) > 1:
            nxt = []
            for j in range(0, len(terms) - 1, 2):
                (a, ta), (b, tb) = terms[j], terms[j + 1]
                top = max(ta, tb) if self.metric == "chebyshev" else ta + tb
                s = Signal(
                    unsigned(max(1, top.bit_length())), name=f"t{level}_{j // 2}", reset_less=True
                )
                m.d.sync += s.eq(Mux(a > b, a, b) if self.metric == "chebyshev" else a + b)
                nxt.append((s, top))
            if len(terms) % 2:
                a, top = terms[-1]
                s = Signal(
                    unsigned(max(1, top.bit_length())), name=f"t{level}_pass", reset_less=True
                )
                m.d.sync += s.eq(a)
                nxt.append((s, top))
            terms = nxt
            level += 1
        m.d.comb += self.dist.eq(terms[0][0])
        return m
