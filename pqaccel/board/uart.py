"""8N1 UART receiver and transmitter with byte streams (``amaranth.lib.stream``)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx"]


class UartRx(wiring.Component):
    """Receives 8N1 frames on ``rx`` (idle high) at ``divisor`` clock cycles per bit.

    A byte comes out on ``o`` for one cycle (``o.valid``); a consumer that is not ready loses it
    (the link puts a FIFO behind the receiver).  A frame whose stop bit is low is dropped and
    counted in ``errors`` (saturating).  ``rx`` is synchronized by two registers."""

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    errors: Out(8)

    def __init__(self, divisor):
        if divisor < 4:
            raise ValueError(f"divisor must be at least 4 clock cycles per bit, got {divisor}")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        s1 = Signal(init=1)
        rx = Signal(init=1)
        m.d.sync += [s1.eq(self.rx), rx.eq(s1)]
        timer = Signal(range(d + d // 2 + 1))
        bits = Signal(4)
        shreg = Signal(8)
        m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):  # start bit: sample each data bit in its middle
                    m.d.sync += [timer.eq(d + d // 2 - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), bits.eq(bits + 1), timer.eq(d - 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(shreg)]
                    with m.Elif(self.errors != 0xFF):
                        m.d.sync += self.errors.eq(self.errors + 1)
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """Sends the bytes of ``i`` as 8N1 frames on ``tx`` at ``divisor`` clock cycles per bit."""

    i: In(stream.Signature(8))
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, divisor):
        if divisor < 1:
            raise ValueError(f"divisor must be at least 1, got {divisor}")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        frame = Signal(10, init=0x3FF)
        left = Signal(range(11))
        m.d.comb += [self.i.ready.eq(left == 0), self.busy.eq(left != 0), self.tx.eq(frame[0])]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq(Cat(0, self.i.payload, 1)), left.eq(10), timer.eq(d - 1)]
        with m.Elif(left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], 1)), left.eq(left - 1), timer.eq(d - 1)]
        return m
