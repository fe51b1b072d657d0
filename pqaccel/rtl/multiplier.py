"""A registered multiplier: both operands registered, the product registered twice.

Behaviourally ``p`` is ``a * b`` of the operands :attr:`Multiplier.latency` clock edges earlier:
the operands registered, the product registered, then registered once more in the fabric, beside
the block (DSP blocks stand in columns: the route from one to the adder tree was a whole cycle's
path). The first two register levels are the ones a DSP block has inside it: built for ECP5
(``primitive="ecp5"``) the multiplier is a ``MULT18X18D`` whose input and output registers hold
them (:func:`pqaccel.rtl.ecp5.mult18x18d`; its simulation model is in
:data:`pqaccel.rtl.ecp5.MODELS`).  Built from logic (``kind="lut"``), the same three register
levels split the adder tree: operands, two partial sums, their sum.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import pipeline
from ..fixedpoint import MULTIPLIERS, multiply_hdl, partial_products_hdl
from . import ecp5

__all__ = ["Multiplier", "PRIMITIVES"]

#: Families with a multiplier primitive that :class:`Multiplier` instantiates, and the widest
#: signed operand each takes.
PRIMITIVES = {"ecp5": ecp5.MULT_MAX_BITS}


class Multiplier(wiring.Component):
    """``p`` = ``a * b`` (signed), :attr:`latency` = :data:`pqaccel.pipeline.MULTIPLY` clock
    edges after ``a`` and ``b``.

    ``kind``: ``dsp`` (the ``*`` operator: synthesis maps it to a DSP block) or ``lut`` (shifts
    and adders, :func:`pqaccel.fixedpoint.multiply_hdl`).  ``primitive``: None, or a family of
    :data:`PRIMITIVES` (with ``kind="dsp"`` and operands no wider than the primitive takes) to
    instantiate that family's multiplier with its registers inside.
    """

    latency = pipeline.MULTIPLY

    @staticmethod
    def primitive_for(family, kind, a_bits, b_bits):
        """The primitive a multiplier of this ``kind`` and these operands takes when built for
        ``family``: the family itself where it has one that fits (:data:`PRIMITIVES`), else
        None (the behavioural form)."""
        fits = family in PRIMITIVES and kind == "dsp" and max(a_bits, b_bits) <= PRIMITIVES[family]
        return family if fits else None

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
        # the product leaves the multiplier through one more register in the fabric: the DSP
        # blocks stand in columns, and the route from one to the adder tree was a cycle's path
        product = Signal(signed(self.p_bits), name="product")
        m.d.sync += self.p.eq(product)
        if self.primitive == "ecp5":
            ecp5.mult18x18d(m, "dsp", self.a, self.b, product)
            return m
        a = Signal.like(self.a, name="a_r", reset_less=True)
        b = Signal.like(self.b, name="b_r", reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b)]
        if self.kind == "dsp":
            m.d.sync += product.eq(multiply_hdl(a, b, self.kind))
            return m
        # from logic, the product's two registers split its adder tree instead: two partial
        # sums (half the bits of ``b`` each), then their sum (the same latency; one register
        # after a whole tree of carry chains set the ECP5 Fmax of the logic MAC)
        halves = partial_products_hdl(a, b, 2)
        regs = [Signal(signed(self.p_bits), name=f"half{i}", reset_less=True) for i in range(2)]
        m.d.sync += [r.eq(h) for r, h in zip(regs, halves)]
        if len(halves) == 1:
            m.d.comb += regs[1].eq(0)
        m.d.comb += product.eq(regs[0] + regs[1])
        return m
