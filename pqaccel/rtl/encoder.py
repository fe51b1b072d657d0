"""Encoder: nearest prototype for ``c_par`` subspaces, ``k_par`` prototypes per cycle."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from .. import pipeline
from .distance import DistanceUnit
from .argmin import ArgminTree
from .util import delay, field_bits

__all__ = ["Encoder"]


class Encoder(wiring.Component):
    """``c_par`` lanes of ``k_par`` distance units and an argmin tree, time-multiplexed over
    ``k_steps = k / k_par`` cycles per subvector.

    Each beat on ``i`` (a stream that never stalls) presents one subvector per lane (``x``); in
    the same cycle ``protos`` holds prototypes ``step*k_par .. step*k_par + k_par - 1`` of that
    lane's subspace (``step``); ``last`` marks the row's last beat, after every other step of the
    row.  :attr:`latency` cycles after a ``last`` beat, ``o`` carries the nearest prototype of
    every lane (``codes``), lowest index on ties, and the ``tag`` of that beat (the caller's
    layout: what travels with a subvector).

    With ``x_copies``, each distance unit takes its subvector from ``xs[lane][kp]`` instead of
    ``i.payload.x`` (the caller gives every unit its own register: a lane's ``k_par`` units
    spread over the fabric, and one register driving them all was a critical net).
    """

    def __init__(self, cfg, tag=0, x_copies=False):
        self.cfg = cfg
        self.x_copies = x_copies
        p, w = cfg.par, cfg.widths
        self._dist = lambda: DistanceUnit(
            metric=cfg.metric, v=cfg.v, in_bits=w.in_bits, proto_bits=w.proto_bits
        )
        self.dist_bits = DistanceUnit.width(cfg.metric, cfg.v, w.in_bits, w.proto_bits)
        self.latency = pipeline.encoder(cfg)
        vec_in = data.ArrayLayout(signed(w.in_bits), cfg.v)
        vec_p = data.ArrayLayout(signed(w.proto_bits), cfg.v)
        self.in_layout = data.StructLayout(
            {
                "last": 1,
                "step": max(1, field_bits(cfg.k_steps)),
                "x": data.ArrayLayout(vec_in, p.c_par),
                "tag": tag,
            }
        )
        self.out_layout = data.StructLayout(
            {"codes": data.ArrayLayout(unsigned(cfg.idx_bits), p.c_par), "tag": tag}
        )
        super().__init__(
            {
                "i": In(stream.Signature(self.in_layout, always_ready=True)),
                "protos": In(data.ArrayLayout(data.ArrayLayout(vec_p, p.k_par), p.c_par)),
                **(
                    {"xs": In(data.ArrayLayout(data.ArrayLayout(vec_in, p.k_par), p.c_par))}
                    if x_copies
                    else {}
                ),
                "o": Out(stream.Signature(self.out_layout, always_ready=True)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg, p = self.cfg, self.cfg.par
        pre = pipeline.encoder_step(cfg)
        beat = self.i.payload
        valid = delay(m, self.i.valid, pre, "valid")
        last = delay(m, beat.last, pre, "last")
        step = delay(m, beat.step, pre, "step")
        for lane in range(p.c_par):
            tree = ArgminTree(n=p.k_par, dist_bits=self.dist_bits)
            m.submodules[f"argmin{lane}"] = tree
            for kp in range(p.k_par):
                du = self._dist()
                m.submodules[f"dist{lane}_{kp}"] = du
                m.d.comb += [
                    du.x.eq(self.xs[lane][kp] if self.x_copies else beat.x[lane]),
                    du.p.eq(self.protos[lane][kp]),
                    tree.dist[kp].eq(du.dist),
                ]
            cand_idx = Signal(unsigned(cfg.idx_bits), name=f"cand{lane}")
            m.d.comb += cand_idx.eq(step * p.k_par + tree.min_idx)
            if cfg.k_steps == 1:
                # one step a row (k = k_par): every beat is a row's first and last, the nearest
                # prototype is the tree's
                with m.If(valid & last):
                    m.d.sync += self.o.payload.codes[lane].eq(cand_idx)
                continue
            # Several steps a row: each step's winner is kept in a register of its own and a
            # second tree over the ``k_steps`` winners picks the row's, lower step on ties (a
            # later step wins only when strictly closer, as a running minimum would decide).
            # No compare closes a loop through a register: the running minimum's compare and
            # select was the critical path on the iCE40.
            steps = ArgminTree(n=cfg.k_steps, dist_bits=self.dist_bits, idx_bits=cfg.idx_bits)
            m.submodules[f"steps{lane}"] = steps
            for s in range(cfg.k_steps):
                win_d = Signal(unsigned(self.dist_bits), name=f"win_d{lane}_{s}", reset_less=True)
                win_i = Signal(unsigned(cfg.idx_bits), name=f"win_i{lane}_{s}", reset_less=True)
                with m.If(valid & (step == s)):
                    m.d.sync += [win_d.eq(tree.min_dist), win_i.eq(cand_idx)]
                m.d.comb += [steps.dist[s].eq(win_d), steps.idx[s].eq(win_i)]
            m.d.comb += self.o.payload.codes[lane].eq(steps.min_idx)
        # codes leave the step trees (or the last register) ``latency - pre`` cycles after the
        # row's last step left the prototype trees
        m.d.sync += self.o.valid.eq(delay(m, valid & last, self.latency - pre - 1, "done"))
        m.d.comb += self.o.payload.tag.eq(delay(m, beat.tag, self.latency, "tag"))
        return m
