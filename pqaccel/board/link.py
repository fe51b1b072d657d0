"""The UART host link: an engine behind a small framed byte protocol.

Host to board, each frame an opcode byte and a fixed-size little-endian payload:

==========  ===================================  =========================================
opcode      payload                              action
==========  ===================================  =========================================
``0x57 W``  address (``addr_bytes``), data       one table-port write (waits for ``ready``)
            (``data_bytes``)
``0x52 R``  one input beat (``in_bytes``)        one beat into the engine's input stream
``0x53 S``  none                                 reply with a status frame
==========  ===================================  =========================================

Board to host:

==========  ===================================  =========================================
``0x4F O``  one output beat (``out_bytes``)      every beat of the engine's output stream
``0x53 S``  8 bytes: ``0x50`` (``P``), version,  in order with the frames before the request:
            flags (bit 0 active bank, bit 1 an   a status reply means every earlier frame
            unknown opcode or a UART framing     has been taken by the engine
            error was seen), receive-FIFO level
            (in 16-byte units, capped at 255),
            the manifest hash (4 bytes)
==========  ===================================  =========================================

Frames are processed in order; a write or beat waits for the engine, so bytes queue in the
receive FIFO (``rx_depth`` bytes) meanwhile: the host keeps what it has outstanding below that
(:class:`pqaccel.host.Board`).  Payload sizes come from the engine's manifest
(:func:`link_params`, carried in :meth:`HostLink.manifest`), the same on both sides.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring, fifo
from amaranth.lib.wiring import In, Out

from .frames import (
    LINK_VERSION,
    OPCODES,
    STATUS_BYTES,
    STATUS_MAGIC,
    byte_count as _bytes,
    manifest_hash,
)
from .uart import UartRx, UartTx
from ..rtl import engine_rtl

__all__ = ["HostLink", "link_params"]


def link_params(cfg, engine, *, clk_hz, baud, rx_depth=512):
    """The link's frame sizes and settings for ``engine`` (built from ``cfg``): what the host
    needs."""
    amap = cfg.address_map()
    divisor = round(clk_hz / baud)
    if divisor < 4:
        raise ValueError(
            f"baud rate {baud} is too fast for a {clk_hz / 1e6:g} MHz clock "
            f"(at least 4 clock cycles a bit; at most {clk_hz // 4} baud)"
        )
    return {
        "link_version": LINK_VERSION,
        "addr_bytes": _bytes(amap.addr_bits),
        "data_bytes": _bytes(amap.data_bits),
        "in_bytes": _bytes(engine.in_layout.size),
        "out_bytes": _bytes(engine.out_layout.size),
        "rx_depth": rx_depth,
        "clk_hz": clk_hz,
        "baud": baud,
        "divisor": divisor,
        "hash": manifest_hash(cfg),
    }


class HostLink(wiring.Component):
    """The engine of ``cfg`` behind the framed UART protocol of this module.

    Members: ``rx`` (In), ``tx`` (Out), ``leds`` (Out, 4: heartbeat, active bank, activity,
    error)."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    leds: Out(4)

    def __init__(self, cfg, *, clk_hz, baud, rx_depth=512):
        self.cfg = cfg
        self.engine = engine_rtl(cfg)
        self.params = link_params(cfg, self.engine, clk_hz=clk_hz, baud=baud, rx_depth=rx_depth)
        super().__init__()

    def manifest(self, name):
        """The engine's manifest with the link parameters under ``link``: the one file the host
        needs (``pqaccel build`` writes it as ``<board>.link.json``)."""
        from ..export import build_manifest

        return {**build_manifest(self.cfg, self.engine, name), "link": self.params}

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.engine = eng = self.engine
        m.submodules.urx = urx = UartRx(p["divisor"])
        m.submodules.utx = utx = UartTx(p["divisor"])
        m.submodules.rx_fifo = rxf = fifo.SyncFIFOBuffered(width=8, depth=p["rx_depth"])
        m.d.comb += [
            urx.rx.eq(self.rx),
            self.tx.eq(utx.tx),
            rxf.w_data.eq(urx.o.payload),
            rxf.w_en.eq(urx.o.valid),
        ]
        error = Signal()
        with m.If(urx.o.valid & ~rxf.w_rdy):
            m.d.sync += error.eq(1)  # overflow: the host sent more than it may

        # -- receive: opcode, payload, action ---------------------------------------------------
        a_bits, d_bits, i_bits = 8 * p["addr_bytes"], 8 * p["data_bytes"], 8 * p["in_bytes"]
        buf = Signal(max(a_bits + d_bits, i_bits))
        count = Signal(range(len(buf) // 8 + 1))
        op = Signal(8)
        status_req = Signal()
        status_done = Signal()
        byte = rxf.r_data
        with m.FSM():
            with m.State("OP"):
                m.d.comb += rxf.r_en.eq(1)
                with m.If(rxf.r_rdy):
                    m.d.sync += [op.eq(byte), count.eq(0)]
                    with m.If(byte == OPCODES["write"]):
                        m.next = "PAYLOAD"
                    with m.Elif(byte == OPCODES["row"]):
                        m.next = "PAYLOAD"
                    with m.Elif(byte == OPCODES["status"]):
                        m.next = "STATUS"
                    with m.Else():
                        m.d.sync += error.eq(1)
            with m.State("PAYLOAD"):
                need = Signal.like(count)
                m.d.comb += need.eq(p["addr_bytes"] + p["data_bytes"])
                with m.If(op == OPCODES["row"]):
                    m.d.comb += need.eq(p["in_bytes"])
                with m.If(count == need):
                    with m.If(op == OPCODES["write"]):
                        m.next = "WRITE"
                    with m.Else():
                        m.next = "ROW"
                with m.Else():
                    m.d.comb += rxf.r_en.eq(1)
                    with m.If(rxf.r_rdy):
                        # little-endian: each byte enters at the top and moves down
                        with m.If(op == OPCODES["row"]):
                            m.d.sync += buf[:i_bits].eq(Cat(buf[8:i_bits], byte))
                        with m.Else():
                            m.d.sync += buf[: a_bits + d_bits].eq(
                                Cat(buf[8 : a_bits + d_bits], byte)
                            )
                        m.d.sync += count.eq(count + 1)
            with m.State("WRITE"):
                m.d.comb += [
                    eng.wr.en.eq(1),
                    eng.wr.addr.eq(buf[:a_bits]),
                    eng.wr.data.eq(buf[a_bits : a_bits + d_bits]),
                ]
                with m.If(eng.wr.ready):
                    m.next = "OP"
            with m.State("ROW"):
                m.d.comb += [eng.i.valid.eq(1), eng.i.payload.eq(buf[:i_bits])]
                with m.If(eng.i.ready):
                    m.next = "OP"
            with m.State("STATUS"):
                m.d.comb += status_req.eq(1)
                with m.If(status_done):
                    m.next = "OP"

        # -- transmit: output beats and status replies -----------------------------------------
        o_bytes = p["out_bytes"]
        frame_bytes = 1 + max(o_bytes, STATUS_BYTES)
        frame = Signal(8 * frame_bytes)
        left = Signal(range(frame_bytes + 1))
        level = Signal(8)
        units = rxf.level >> 4
        m.d.comb += level.eq(Mux(units > 255, 255, units))
        flags = Cat(eng.active_bank, error | (urx.errors != 0))
        status = Cat(
            Const(OPCODES["status"], 8),
            Const(STATUS_MAGIC, 8),
            Const(LINK_VERSION, 8),
            flags,
            Const(0, 6),
            level,
            Const(p["hash"], 32),
        )
        m.d.comb += [utx.i.payload.eq(frame[:8]), utx.i.valid.eq(left != 0)]
        with m.If(left != 0):
            with m.If(utx.i.ready):
                m.d.sync += [frame.eq(frame >> 8), left.eq(left - 1)]
        with m.Elif(status_req):
            m.d.comb += status_done.eq(1)
            m.d.sync += [frame.eq(status), left.eq(1 + STATUS_BYTES)]
        with m.Elif(eng.o.valid):
            m.d.comb += eng.o.ready.eq(1)
            m.d.sync += [
                frame.eq(Cat(Const(OPCODES["out"], 8), eng.o.payload.as_value())),
                left.eq(1 + o_bytes),
            ]

        # -- LEDs: heartbeat (about 1.5 Hz at 50 MHz), active bank, activity, error ------------
        beat = Signal(25)
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.leds.eq(
            Cat(beat[-1], eng.active_bank, left != 0, error | (urx.errors != 0))
        )
        return m
