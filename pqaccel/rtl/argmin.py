"""Pipelined argmin tree: lowest index wins a tie."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from .. import pipeline
from .util import field_bits

__all__ = ["ArgminTree"]


class ArgminTree(wiring.Component):
    """Index and value of the smallest of ``n`` unsigned ``dist_bits``-wide inputs.

    Members: ``dist`` (In, array of ``n``), ``min_dist`` (Out), ``min_idx`` (Out,
    ``max(1, ceil(log2 n))`` bits).  Outputs follow inputs by :attr:`latency` ``= ceil(log2 n)
    + 1`` cycles, one register per tree level and the result's.  On equal values the lower
    index wins: a node takes its right (higher-index) child only when it is strictly smaller.

    With ``idx_bits``, each input comes with its own index (``idx``, In, array of ``n``) and
    ``min_idx`` is the winner's: a tree over candidates that are themselves the winners of
    earlier trees.  Ties still go to the lower input position, so indices that grow with the
    position keep "lowest index wins".
    """

    def __init__(self, *, n, dist_bits, idx_bits=None):
        if n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        self.n, self.dist_bits = n, dist_bits
        self.explicit_idx = idx_bits is not None
        self.idx_bits = idx_bits if self.explicit_idx else max(1, field_bits(n))
        self.latency = pipeline.argmin(n)
        super().__init__(
            {
                "dist": In(data.ArrayLayout(unsigned(dist_bits), n)),
                **(
                    {"idx": In(data.ArrayLayout(unsigned(self.idx_bits), n))}
                    if self.explicit_idx
                    else {}
                ),
                "min_dist": Out(unsigned(dist_bits)),
                "min_idx": Out(unsigned(self.idx_bits)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        nodes = [(self.dist[i], self.idx[i] if self.explicit_idx else i) for i in range(self.n)]
        level = 0
        while len(nodes) > 1:
            nxt = []
            for j in range(0, len(nodes) - 1, 2):
                (da, ia), (db, ib) = nodes[j], nodes[j + 1]
                d = Signal(unsigned(self.dist_bits), name=f"d{level}_{j // 2}", reset_less=True)
                i = Signal(unsigned(self.idx_bits), name=f"i{level}_{j // 2}", reset_less=True)
                take_b = db < da
                m.d.sync += [d.eq(Mux(take_b, db, da)), i.eq(Mux(take_b, ib, ia))]
                nxt.append((d, i))
            if len(nodes) % 2:
                da, ia = nodes[-1]
                d = Signal(unsigned(self.dist_bits), name=f"d{level}_pass", reset_less=True)
                i = Signal(unsigned(self.idx_bits), name=f"i{level}_pass", reset_less=True)
                m.d.sync += [d.eq(da), i.eq(ia)]
                nxt.append((d, i))
            nodes = nxt
            level += 1
        # the result registered once more (no reset: a datapath register like the tree's)
        d, i = nodes[0]
        d_r = Signal.like(self.min_dist, name="min_dist_r", reset_less=True)
        i_r = Signal.like(self.min_idx, name="min_idx_r", reset_less=True)
        m.d.sync += [d_r.eq(d), i_r.eq(i)]
        m.d.comb += [self.min_dist.eq(d_r), self.min_idx.eq(i_r)]
        return m
