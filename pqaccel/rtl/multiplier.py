"""A registered multiplier: both operands registered, the product registered.

Behaviourally ``p`` is ``a * b`` of the operands :attr:`Multiplier.latency` clock edges
earlier.  The two register levels are the ones a DSP block has inside it: on ECP5
(``primitive="ecp5"``) the multiplier is a ``MULT18X18D`` whose input registers
(``REG_INPUTA_CLK``/``REG_INPUTB_CLK``) and output register (``REG_OUTPUT_CLK``) hold them,
because Yosys maps a ``$mul`` to a ``MULT18X18D`` without registers and does not move
flip-flops into it: the fabric registers then sit wherever the placer puts them, and the
routes to and from 144 multipliers spread over the device's DSP columns set the clock.

The primitive is for synthesis only; the Amaranth simulator and the formal checks use the
behavioural form, and :data:`MULT18X18D_MODEL` is a Verilog model of exactly the subset
instantiated here, which the co-simulation compiles beside the emitted Verilog
(:func:`pqaccel.sim.runner.run_cosim`'s ``extra_sources``), so the instantiated form is checked
against the golden model as well.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import pipeline
from ..fixedpoint import MULTIPLIERS, multiply_hdl

__all__ = ["Multiplier", "PRIMITIVES", "MULT18X18D_MODEL", "primitive_sources"]

#: Families with a multiplier primitive that :class:`Multiplier` instantiates, and the widest
#: signed operand each takes.
PRIMITIVES = {"ecp5": 18}

#: A Verilog model of ``MULT18X18D`` as :class:`Multiplier` instantiates it: signed operands,
#: input and output registers on ``CLK0`` with ``CE0`` high and ``RST0`` low, no cascades.
#: Ports and parameters are those of the ECP5 cell library (Yosys' ``cells_bb_ecp5.v``).
MULT18X18D_MODEL = r"""
`timescale 1ns/1ps
// Simulation model of the ECP5 MULT18X18D subset that pqaccel instantiates (signed A and B,
// REG_INPUTA_CLK / REG_INPUTB_CLK / REG_OUTPUT_CLK = "CLK0", CE0 = 1, RST0 = 0).
module MULT18X18D (
  input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
  input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
  input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
  output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
  output P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0
);
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter GSR = "ENABLED";
  parameter SOURCEB_MODE = "B_SHIFT";
  parameter RESETMODE = "SYNC";
  parameter CLK0_DIV = "ENABLED";
  wire signed [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3,
                          A2, A1, A0};
  wire signed [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3,
                          B2, B1, B0};
  reg signed [17:0] a_r, b_r;
  reg signed [35:0] p_r;
  always @(posedge CLK0) if (CE0) begin
    a_r <= a;
    b_r <= b;
    p_r <= a_r * b_r;
  end
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
          P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0}
         = p_r;
endmodule
"""


def primitive_sources(family):
    """Verilog models that the emitted Verilog of a design built for ``family`` needs in
    simulation: ``{file name: text}`` (empty for the portable form)."""
    return {"MULT18X18D.v": MULT18X18D_MODEL} if family == "ecp5" else {}


class Multiplier(wiring.Component):
    """``p`` = ``a * b`` (signed), :attr:`latency` = :data:`pqaccel.pipeline.MULTIPLY` clock
    edges after ``a`` and ``b``.

    ``kind``: ``dsp`` (the ``*`` operator: synthesis maps it to a DSP block) or ``lut`` (shifts
    and adders, :func:`pqaccel.fixedpoint.multiply_hdl`).  ``primitive``: None, or a family of
    :data:`PRIMITIVES` (with ``kind="dsp"`` and operands no wider than the primitive takes) to
    instantiate that family's multiplier with its registers inside.
    """

    latency = pipeline.MULTIPLY

    def __init__(self, a_bits, b_bits, kind="dsp", primitive=None):
        if kind not in MULTIPLIERS:
            raise ValueError(f"kind must be one of {', '.join(MULTIPLIERS)}, got {kind!r}")
        if primitive is not None:
            if primitive not in PRIMITIVES:
                raise ValueError(
                    f"primitive must be None or one of {', '.join(map(repr, PRIMITIVES))}, "
                    f"got {primitive!r}"
                )
            widest = PRIMITIVES[primitive]
            if kind != "dsp" or max(a_bits, b_bits) > widest:
                raise ValueError(
                    f"primitive {primitive!r} takes kind 'dsp' and operands of at most {widest} "
                    f"bits, got kind {kind!r} and {a_bits} x {b_bits} bits"
                )
        self.kind = kind
        self.primitive = primitive
        self.p_bits = a_bits + b_bits
        super().__init__(
            {"a": In(signed(a_bits)), "b": In(signed(b_bits)), "p": Out(signed(self.p_bits))}
        )

    def elaborate(self, platform):
        m = Module()
        if self.primitive == "ecp5":
            a = self.a.as_signed()
            b = self.b.as_signed()
            a18 = Signal(signed(18), name="a18")
            b18 = Signal(signed(18), name="b18")
            p36 = Signal(signed(36), name="p36")
            m.d.comb += [a18.eq(a), b18.eq(b), self.p.eq(p36[: self.p_bits])]
            ports = {f"i_A{i}": a18[i] for i in range(18)}
            ports.update({f"i_B{i}": b18[i] for i in range(18)})
            ports.update({f"o_P{i}": p36[i] for i in range(36)})
            one, zero = Const(1, 1), Const(0, 1)
            ports.update(
                i_SIGNEDA=one,
                i_SIGNEDB=one,
                i_SOURCEA=zero,
                i_SOURCEB=zero,
                i_CLK0=ClockSignal(),
                i_CE0=one,
                i_RST0=zero,
                **{f"i_{p}{n}": zero for p in ("CLK", "CE", "RST") for n in (1, 2, 3)},
            )
            m.submodules.dsp = Instance(
                "MULT18X18D",
                p_REG_INPUTA_CLK="CLK0",
                p_REG_INPUTB_CLK="CLK0",
                p_REG_OUTPUT_CLK="CLK0",
                p_GSR="DISABLED",
                **ports,
            )
            return m
        a = Signal.like(self.a, name="a_r", reset_less=True)
        b = Signal.like(self.b, name="b_r", reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b), self.p.eq(multiply_hdl(a, b, self.kind))]
        return m
