"""Designs for place-and-route measurements: an I/O harness and the BRAM-loop reference."""

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import wiring, memory
from amaranth.lib.wiring import In, Out

__all__ = ["PnRHarness", "BramLoop"]


class PnRHarness(wiring.Component):
    """Wraps a component with hundreds of ports behind a few pins so that it fits any package.

    Every input port of the core is driven from a shift register fed by ``sin`` (shifting when
    ``shift``); every output
    bit goes into a registered XOR tree (one register per level of 4) whose root drives ``sout``.
    So all core logic stays live, and every core input comes from a register and every core
    output goes to one: nextpnr's Fmax is the core's register-to-register speed.
    """

    sin: In(1)
    shift: In(1)
    sout: Out(1)

    def __init__(self, core):
        self.core = core
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        ins, outs = [], []
        for path, member, value in core.signature.flatten(core):
            (ins if member.flow == In else outs).append(
                value.as_value() if hasattr(value, "as_value") else value
            )
        width = sum(len(v) for v in ins)
        sreg = Signal(width)
        # The enable keeps Yosys from merging the core's input pipeline registers into the shift
        # register (a delayed copy of a free-running shift register bit is just its neighbour).
        with m.If(self.shift):
            m.d.sync += sreg.eq(Cat(self.sin, sreg[:-1]))
        offset = 0
        for v in ins:
            m.d.comb += v.eq(sreg[offset : offset + len(v)])
            offset += len(v)
        bits = [b for v in outs for b in v]
        level = 0
        while len(bits) > 1:
            nxt = []
            for j in range(0, len(bits), 4):
                r = Signal(name=f"x{level}_{j // 4}")
                m.d.sync += r.eq(Cat(*bits[j : j + 4]).xor())
                nxt.append(r)
            bits = nxt
            level += 1
        m.d.comb += self.sout.eq(bits[0])
        return m


class BramLoop(wiring.Component):
    """A block RAM whose registered read data is the next read address: the fastest loop that
    goes through a block RAM, the device's reference speed for designs built on block RAMs."""

    sin: In(1)
    sout: Out(1)

    def __init__(self, depth=512, width=16):
        self.depth, self.width = depth, width
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        abits = (self.depth - 1).bit_length()
        m.submodules.mem = mem = memory.Memory(
            shape=unsigned(self.width),
            depth=self.depth,
            init=[(i * 2654435761) % (1 << self.width) for i in range(self.depth)],
        )
        rd = mem.read_port()
        wr = mem.write_port()
        data = Signal(self.width)
        m.d.sync += data.eq(rd.data)
        m.d.comb += [
            rd.addr.eq(data[:abits] ^ Cat(self.sin)),
            wr.addr.eq(data[abits // 2 :][:abits]),
            wr.data.eq(data),
            wr.en.eq(self.sin),
            self.sout.eq(data.xor()),
        ]
        return m
