"""LUT accumulator: adder tree over subspace lanes, running sums over groups, requantization."""

from amaranth.hdl import Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from .. import fixedpoint as fx, pipeline
from .util import delay, delay_copies, field_bits, tree_levels

__all__ = ["Accumulator"]


class Accumulator(wiring.Component):
    """Sums the ``lanes`` entries of each of ``outs`` output lanes (lanes whose ``mask`` bit is 0
    count as zero), adds the sum to the running sum of its output beat (restarting when
    ``first``), and when ``last`` (the row's final input group) emits the requantized sums.

    Parameters: ``lanes``, ``outs``, ``entry_shape`` (signed), ``acc_bits`` (wide enough for the
    exact sum of everything one row adds), ``steps`` (output beats per row at most),
    ``requant`` and ``out_bits`` (:func:`pqaccel.fixedpoint.requantize_hdl`).
    :meth:`for_engine` takes them from an :class:`pqaccel.config.EngineConfig`.

    Members: ``i`` (a stream that never stalls: ``first``, ``last``, ``row_end`` (the row's final
    output beat), ``last_t`` (the row's last output beat index; every input group brings beats
    ``0..last_t`` in order), ``mask`` (unless ``masked`` is false: every lane counts), and with
    ``requant.runtime`` the row's ``shift`` and ``relu``), ``entries`` (the beat's table entries or
    products, in the same cycle), ``o`` (a stream that never stalls: ``data``, the requantized sums,
    and ``last`` = ``row_end``), which follows an ``i`` beat with ``last`` by :attr:`latency` cycles
    (:func:`pqaccel.pipeline.accumulator`; the run-time requantization takes two registers more: the
    barrel shift and rounding bit, the increment, then the saturation and ReLU).  The running sums
    are a queue of ``steps`` registers: each beat adds to the head and puts the sum at position
    ``last_t``, so after a group's ``last_t + 1`` beats the head is beat 0's again, with no beat
    index on the adder's path.
    """

    def __init__(
        self, *, lanes, outs, entry_shape, acc_bits, steps, requant, out_bits, masked=True
    ):
        self.lanes, self.outs, self.acc_bits, self.steps = lanes, outs, acc_bits, steps
        self.requant, self.out_bits, self.masked = requant, out_bits, masked
        self.entry_shape = Shape.cast(entry_shape)
        self.result_bits = fx.requant_bits(requant, acc_bits, out_bits)
        self.tree_stages = tree_levels(lanes)
        self.latency = pipeline.accumulator(lanes, requant)
        rq = {"shift": requant.shift_bits, "relu": 1} if requant.runtime else {}
        self.in_layout = data.StructLayout(
            {
                "first": 1,
                "last": 1,
                "row_end": 1,
                "last_t": max(1, field_bits(steps)),
                **({"mask": lanes} if masked else {}),
                **rq,
            }
        )
        self.out_layout = data.StructLayout(
            {"data": data.ArrayLayout(signed(self.result_bits), outs), "last": 1}
        )
        super().__init__(
            {
                "i": In(stream.Signature(self.in_layout, always_ready=True)),
                "entries": In(data.ArrayLayout(data.ArrayLayout(entry_shape, outs), lanes)),
                "o": Out(stream.Signature(self.out_layout, always_ready=True)),
            }
        )

    @classmethod
    def for_engine(cls, cfg):
        return cls(
            lanes=cfg.par.c_par,
            outs=cfg.par.m_par,
            entry_shape=signed(cfg.widths.lut_bits),
            acc_bits=cfg.acc_bits,
            steps=cfg.mt_max,
            requant=cfg.requant,
            out_bits=cfg.widths.out_bits,
        )

    def elaborate(self, platform):
        m = Module()
        acc_shape = signed(self.acc_bits)
        n = self.tree_stages
        beat = self.i.payload
        # what every output lane reads: a copy per lane (one register would drive the running
        # sums' selects and the barrel shifters of every lane)
        valids = delay_copies(m, self.i.valid, n, "valid", self.outs, reset=True)
        firsts = delay_copies(m, beat.first, n, "first", self.outs)
        last_ts = delay_copies(m, beat.last_t, n, "last_t", self.outs)
        valid = delay(m, self.i.valid, n, "valid")
        last = delay(m, beat.last, n, "last")
        row_end = delay(m, beat.row_end, n, "row_end")
        if self.requant.runtime:  # aligned with ``acc`` (one register after the tree)
            shifts = delay_copies(m, beat.shift, n + 1, "shift", self.outs)
            relu = delay(m, beat.relu, n + 1, "relu")

        acc_valid = Signal()
        acc_row_end = Signal()
        m.d.sync += [acc_valid.eq(valid & last), acc_row_end.eq(row_end)]
        if self.requant.runtime:  # the two extra registers: after the shift, after the rounding
            acc_valid = delay(m, acc_valid, 2, "rq_valid")
            acc_row_end = delay(m, acc_row_end, 2, "rq_row_end")
            relus = delay_copies(m, relu, 2, "rq_relu", self.outs)
        entry_bits = self.entry_shape.width
        for ml in range(self.outs):
            lane_valid, first, last_t = valids[ml], firsts[ml], last_ts[ml]
            terms = [
                Mux(beat.mask[cl], self.entries[cl][ml], 0) if self.masked else self.entries[cl][ml]
                for cl in range(self.lanes)
            ]
            level = 0
            while len(terms) > 1:
                nxt = []
                # a sum of 2**(level+1) entries needs entry_bits + level + 1 bits
                level_shape = signed(min(self.acc_bits, entry_bits + level + 1))
                for j in range(0, len(terms) - 1, 2):
                    s = Signal(level_shape, name=f"s{ml}_{level}_{j // 2}", reset_less=True)
                    m.d.sync += s.eq(terms[j] + terms[j + 1])
                    nxt.append(s)
                if len(terms) % 2:
                    s = Signal(level_shape, name=f"s{ml}_{level}_pass", reset_less=True)
                    m.d.sync += s.eq(terms[-1])
                    nxt.append(s)
                terms = nxt
                level += 1
            # the running sums of a row's output beats, a queue: a beat takes the head and
            # puts its sum at position last_t (no beat index selects a register)
            sums = [
                Signal(acc_shape, name=f"run{ml}_{i}", reset_less=True) for i in range(self.steps)
            ]
            new = Signal(acc_shape, name=f"new{ml}")
            m.d.comb += new.eq(Mux(first, 0, sums[0]) + terms[0])
            acc = Signal(acc_shape, name=f"acc{ml}", reset_less=True)
            with m.If(lane_valid):
                m.d.sync += [
                    sums[i].eq(new if i + 1 == self.steps else Mux(last_t == i, new, sums[i + 1]))
                    for i in range(self.steps)
                ]
            m.d.sync += acc.eq(new)
            if self.requant.runtime:
                q, up = fx.requant_shift_hdl(acc, self.requant, shifts[ml])
                q_r = Signal(acc_shape, name=f"rq{ml}", reset_less=True)
                up_r = Signal(name=f"rq_up{ml}", reset_less=True)
                rounded = Signal(signed(self.acc_bits + 1), name=f"rq_round{ml}", reset_less=True)
                over = Signal(name=f"rq_over{ml}", reset_less=True)
                under = Signal(name=f"rq_under{ml}", reset_less=True)
                m.d.sync += [q_r.eq(q), up_r.eq(up)]
                m.d.sync += [
                    r.eq(v)
                    for r, v in zip(
                        (rounded, over, under),
                        fx.requant_round_hdl(q_r, up_r, self.requant, self.out_bits),
                    )
                ]
                result = fx.requant_clamp_hdl(rounded, over, under, self.out_bits, relus[ml])
            else:
                result = fx.requantize_hdl(acc, self.requant, self.out_bits)
            m.d.sync += self.o.payload.data[ml].eq(result)
        m.d.sync += [self.o.valid.eq(acc_valid), self.o.payload.last.eq(acc_row_end)]
        return m
