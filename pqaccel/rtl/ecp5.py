"""ECP5 primitives that the engines instantiate when they are built for ECP5, and Verilog models
of exactly the subset used, for co-simulating that form against the golden model.

Yosys maps a ``$mul`` to a ``MULT18X18D`` and a memory to ``DP16KD`` block RAMs with none of
their registers in use, and it does not move flip-flops into them; nextpnr then places the
fabric registers wherever it likes, and the routes between them and the blocks set the clock.
Instantiated here, the registers are the blocks' own:

* :func:`mult18x18d`: a signed multiplier with its input (``REG_INPUTA_CLK``/``REG_INPUTB_CLK``)
  and output (``REG_OUTPUT_CLK``) registers: two clock edges.
* :class:`BlockRam`: a ``DP16KD`` of up to 1024 words of up to 18 bits, written on port A and
  read on port B with its output register (``REGMODE_B="OUTREG"``): the synchronous read and the
  first data register of :data:`pqaccel.pipeline.MEMORY_READ` in the block.

:data:`MODELS` holds the simulation models; the Amaranth simulator and the formal checks use
the portable form, which behaves the same cycle for cycle.
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Signal, signed

__all__ = ["MULT_MAX_BITS", "BRAM_MAX_DEPTH", "BRAM_MAX_WIDTH", "mult18x18d", "BlockRam", "MODELS"]

#: Widest signed operand of a ``MULT18X18D``.
MULT_MAX_BITS = 18
#: ``DP16KD`` in its 1024 x 18 mode: the words and bits :class:`BlockRam` takes.
BRAM_MAX_DEPTH = 1024
BRAM_MAX_WIDTH = 18

_ONE, _ZERO = Const(1, 1), Const(0, 1)


def _bits(prefix, value, n):
    return {f"{prefix}{i}": value[i] for i in range(n)}


def mult18x18d(m, name, a, b, p):
    """``p`` = ``a * b`` (signed, sign-extended to 18 bits) two clock edges later, as a
    ``MULT18X18D`` ``name`` with its input and output registers on ``CLK0``."""
    a18, b18, p36 = Signal(signed(18)), Signal(signed(18)), Signal(signed(36))
    m.d.comb += [a18.eq(a), b18.eq(b), p.eq(p36[: len(p)])]
    ports = {
        **{f"i_{k}": v for k, v in _bits("A", a18, 18).items()},
        **{f"i_{k}": v for k, v in _bits("B", b18, 18).items()},
        **{f"o_{k}": v for k, v in _bits("P", p36, 36).items()},
        "i_SIGNEDA": _ONE,
        "i_SIGNEDB": _ONE,
        "i_SOURCEA": _ZERO,
        "i_SOURCEB": _ZERO,
        "i_CLK0": ClockSignal(),
        "i_CE0": _ONE,
        "i_RST0": _ZERO,
        **{f"i_{s}{n}": _ZERO for s in ("CLK", "CE", "RST") for n in (1, 2, 3)},
    }
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0",
        p_REG_INPUTB_CLK="CLK0",
        p_REG_OUTPUT_CLK="CLK0",
        p_GSR="DISABLED",
        **ports,
    )


class BlockRam:
    """A ``DP16KD`` of ``depth`` <= :data:`BRAM_MAX_DEPTH` words of ``width`` <=
    :data:`BRAM_MAX_WIDTH` bits: ``wr`` (``addr``, ``data``, ``en``: a whole word a write) and
    ``rd`` (``addr``, ``data``: the word at ``addr`` two clock edges later, from the block's
    output register; ``registered`` tells :meth:`pqaccel.rtl.banked.BankedMemory.read_data`).
    """

    @staticmethod
    def fits(depth, width, granularity):
        """Whether a memory of this shape (one write enable a word) is one :class:`BlockRam`."""
        return depth <= BRAM_MAX_DEPTH and width <= BRAM_MAX_WIDTH and granularity in (None, width)

    def __init__(self, m, name, depth, width):
        if not self.fits(depth, width, None):
            raise ValueError(
                f"a DP16KD block RAM holds at most {BRAM_MAX_DEPTH} words of {BRAM_MAX_WIDTH} "
                f"bits, got {depth} x {width}"
            )
        abits = max(1, (depth - 1).bit_length())
        self.wr = SimpleNamespace(
            addr=Signal(abits, name=f"{name}_wa"),
            data=Signal(width, name=f"{name}_wd"),
            en=Signal(name=f"{name}_we"),
        )
        self.rd = SimpleNamespace(
            addr=Signal(abits, name=f"{name}_ra"),
            data=Signal(width, name=f"{name}_rd"),
            registered=True,
        )
        # 1024 x 18 mode: address bits 13..4 the word, 1..0 the byte enables of a write
        wa = Cat(Const(0b11, 2), Const(0, 2), self.wr.addr, Const(0, 10 - abits))
        ra = Cat(Const(0, 4), self.rd.addr, Const(0, 10 - abits))
        di = Cat(self.wr.data, Const(0, 18 - width))
        do = Signal(18, name=f"{name}_do")
        m.d.comb += self.rd.data.eq(do[:width])
        ports = {
            **{f"i_{k}": v for k, v in _bits("DIA", di, 18).items()},
            **{f"i_{k}": v for k, v in _bits("ADA", wa, 14).items()},
            **{f"i_{k}": _ZERO for k in _bits("DIB", di, 18)},
            **{f"i_{k}": v for k, v in _bits("ADB", ra, 14).items()},
            **{f"o_{k}": v for k, v in _bits("DOB", do, 18).items()},
            "i_CLKA": ClockSignal(),
            "i_CEA": _ONE,
            "i_OCEA": _ONE,
            "i_WEA": self.wr.en,
            "i_RSTA": _ZERO,
            "i_CLKB": ClockSignal(),
            "i_CEB": _ONE,
            "i_OCEB": _ONE,
            "i_WEB": _ZERO,
            "i_RSTB": _ZERO,
            **{f"i_CS{p}{n}": _ZERO for p in "AB" for n in range(3)},
        }
        m.submodules[name] = Instance(
            "DP16KD",
            p_DATA_WIDTH_A=18,
            p_DATA_WIDTH_B=18,
            p_REGMODE_A="NOREG",
            p_REGMODE_B="OUTREG",
            p_RESETMODE="SYNC",
            p_ASYNC_RESET_RELEASE="SYNC",
            p_CSDECODE_A="0b000",
            p_CSDECODE_B="0b000",
            p_WRITEMODE_A="NORMAL",
            p_WRITEMODE_B="NORMAL",
            p_CLKAMUX="CLKA",
            p_CLKBMUX="CLKB",
            p_GSR="DISABLED",
            **ports,
        )


def _port_list(prefix, n):
    return ", ".join(f"{prefix}{i}" for i in reversed(range(n)))


_MULT18X18D = f"""
// MULT18X18D as pqaccel instantiates it: signed A and B, input and output registers on CLK0,
// CE0 = 1, RST0 = 0, no cascades.
module MULT18X18D (
  input {_port_list("A", 18)},
  input {_port_list("B", 18)},
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
  input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
  output {_port_list("P", 36)}
);
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter GSR = "ENABLED";
  wire signed [17:0] a = {{{_port_list("A", 18)}}};
  wire signed [17:0] b = {{{_port_list("B", 18)}}};
  reg signed [17:0] a_r, b_r;
  reg signed [35:0] p_r;
  always @(posedge CLK0) if (CE0) begin
    a_r <= a;
    b_r <= b;
    p_r <= a_r * b_r;
  end
  assign {{{_port_list("P", 36)}}} = p_r;
endmodule
"""

_DP16KD = f"""
// DP16KD as pqaccel instantiates it: 1024 x 18, port A writes whole words (ADA1..0 the byte
// enables), port B reads through its output register (REGMODE_B = "OUTREG"), CE = OCE = 1.
module DP16KD (
  input {_port_list("DIA", 18)},
  input {_port_list("ADA", 14)},
  input CEA, OCEA, CLKA, WEA, CSA2, CSA1, CSA0, RSTA,
  input {_port_list("DIB", 18)},
  input {_port_list("ADB", 14)},
  input CEB, OCEB, CLKB, WEB, CSB2, CSB1, CSB0, RSTB,
  output {_port_list("DOA", 18)},
  output {_port_list("DOB", 18)}
);
  parameter DATA_WIDTH_A = 18;
  parameter DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC";
  parameter ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000";
  parameter CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL";
  parameter WRITEMODE_B = "NORMAL";
  parameter CLKAMUX = "CLKA";
  parameter CLKBMUX = "CLKB";
  parameter GSR = "ENABLED";
  wire [17:0] dia = {{{_port_list("DIA", 18)}}};
  wire [13:0] ada = {{{_port_list("ADA", 14)}}};
  wire [13:0] adb = {{{_port_list("ADB", 14)}}};
  reg [17:0] mem [0:1023];
  reg [17:0] dob_r = 18'b0, dob_q = 18'b0;
  integer i;
  initial for (i = 0; i < 1024; i = i + 1) mem[i] = 18'b0;  // as configured: INITVAL 0
  always @(posedge CLKA) if (CEA && WEA) begin
    if (ada[0]) mem[ada[13:4]][8:0] <= dia[8:0];
    if (ada[1]) mem[ada[13:4]][17:9] <= dia[17:9];
  end
  always @(posedge CLKB) begin
    if (CEB) dob_r <= mem[adb[13:4]];
    if (OCEB) dob_q <= dob_r;
  end
  assign {{{_port_list("DOB", 18)}}} = dob_q;
  assign {{{_port_list("DOA", 18)}}} = 18'b0;
endmodule
"""

#: ``{family: Verilog}``: the models that a design built for ``family`` needs in simulation.
MODELS = {"ecp5": "`timescale 1ns/1ps\n" + _MULT18X18D + _DP16KD}
