"""Encoder: nearest prototype for ``c_par`` subspaces, ``k_par`` prototypes per cycle."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from .distance import DistanceUnit
from .argmin import ArgminTree
from .util import delay, field_bits

__all__ = ["Encoder"]


class Encoder(wiring.Component):
    """``c_par`` lanes of ``k_par`` distance units and an argmin tree, time-multiplexed over
    ``k_steps = k / k_par`` cycles per subvector.

    Each cycle with ``valid`` presents one subvector per lane (``x``) and prototypes
    ``step*k_par .. step*k_par + k_par - 1`` of that lane's subspace (``protos``); ``first`` marks
    step 0 and ``last`` step ``k_steps - 1``.  :attr:`stages` cycles after a ``last`` cycle,
    ``out_valid`` pulses and ``codes`` holds the nearest prototype of every lane, lowest index on
    ties (steps arrive in increasing index order and a later step wins only when strictly closer).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        p, w = cfg.par, cfg.widths
        self._dist = lambda: DistanceUnit(metric=cfg.metric, v=cfg.v, in_bits=w.in_bits,
                                          proto_bits=w.proto_bits)
        self.dist_bits = DistanceUnit.width(cfg.metric, cfg.v, w.in_bits, w.proto_bits)
        self.stages = self.latency(cfg)
        vec_in = data.ArrayLayout(signed(w.in_bits), cfg.v)
        vec_p = data.ArrayLayout(signed(w.proto_bits), cfg.v)
        super().__init__({
            "valid": In(1), "first": In(1), "last": In(1),
            "step": In(max(1, field_bits(cfg.k_steps))),
            "x": In(data.ArrayLayout(vec_in, p.c_par)),
            "protos": In(data.ArrayLayout(data.ArrayLayout(vec_p, p.k_par), p.c_par)),
            "out_valid": Out(1),
            "codes": Out(data.ArrayLayout(unsigned(self.cfg.idx_bits), p.c_par)),
        })

    @staticmethod
    def latency(cfg):
        return DistanceUnit.latency(cfg.metric, cfg.v) + ArgminTree.latency(cfg.par.k_par) + 1

    def elaborate(self, platform):
        m = Module()
        cfg, p = self.cfg, self.cfg.par
        pre = self.stages - 1
        valid = delay(m, self.valid, pre, "valid")
        first = delay(m, self.first, pre, "first")
        last = delay(m, self.last, pre, "last")
        step = delay(m, self.step, pre, "step")
        for lane in range(p.c_par):
            tree = ArgminTree(n=p.k_par, dist_bits=self.dist_bits)
            m.submodules[f"argmin{lane}"] = tree
            for kp in range(p.k_par):
                du = self._dist()
                m.submodules[f"dist{lane}_{kp}"] = du
                m.d.comb += [du.x.eq(self.x[lane]), du.p.eq(self.protos[lane][kp]),
                             tree.dist[kp].eq(du.dist)]
            cand_idx = Signal(unsigned(cfg.idx_bits), name=f"cand{lane}")
            m.d.comb += cand_idx.eq(step * p.k_par + tree.min_idx)
            best_d = Signal(unsigned(self.dist_bits), name=f"best_d{lane}")
            best_i = Signal(unsigned(cfg.idx_bits), name=f"best_i{lane}")
            take = first | (tree.min_dist < best_d)
            new_d = Mux(take, tree.min_dist, best_d)
            new_i = Mux(take, cand_idx, best_i)
            with m.If(valid):
                m.d.sync += [best_d.eq(new_d), best_i.eq(new_i)]
                with m.If(last):
                    m.d.sync += self.codes[lane].eq(new_i)
        m.d.sync += self.out_valid.eq(valid & last)
        return m
