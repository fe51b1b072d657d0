"""SoC wrapper: AXI4-Stream rows in and results out, AXI4-Lite for tables and control.

The wrapper instantiates any engine (``engine_rtl(cfg)``) and connects its three interfaces:

* ``s_axis`` (AXI4-Stream slave): one transfer per input beat of the engine, ``tdata`` the
  engine's input payload (zero-extended to whole bytes); ``tlast`` marks a row's last beat and
  is not needed by the engine (rows are counted from the layer shape).
* ``m_axis`` (AXI4-Stream master): one transfer per output beat, ``tdata`` the output lanes,
  ``tlast`` on a row's last beat.
* ``s_axil`` (AXI4-Lite slave, 32-bit data, :data:`AXIL_ADDR_BITS`-bit byte addresses):

  ====================  ====  =============================================================
  ``0x000`` ID          RO    :data:`AXI_ID` (``"PQA1"``)
  ``0x004`` STATUS      RO    bit 0: table port ready; bit 1: active bank
  ``0x008`` WRITE       WO    table-port write: the value is the table-port address; the
                              write is issued with the staged data, and the AXI write
                              response is held until the engine accepts it
  ``0x00C`` DATA_WORDS  RO    number of 32-bit data words of a table-port write
  ``0x100 + 4*i``       RW    staged table-port data, word ``i`` (bits ``32*i ..``)
  ====================  ====  =============================================================

  So one table-port write is ``DATA_WORDS`` data-word writes (only the words that change need
  writing) and one ``WRITE``.  Responses are always OKAY.
"""

from amaranth.hdl import Array, Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AxiWrapper", "AXI_ID", "AXIL_ADDR_BITS", "AXIL_REGS"]

AXI_ID = 0x50514131
AXIL_ADDR_BITS = 12
AXIL_REGS = {"id": 0x000, "status": 0x004, "write": 0x008, "data_words": 0x00C, "data": 0x100}


def _bytes(bits):
    return 8 * -(-bits // 8)


class AxiWrapper(wiring.Component):
    """``engine_rtl(cfg)`` behind AXI4-Stream and AXI4-Lite (see the module docstring)."""

    def __init__(self, cfg):
        self.cfg = cfg
        from . import engine_rtl

        self.engine = engine_rtl(cfg)
        e = self.engine
        self.in_bits = e.in_layout.size if hasattr(e.in_layout, "size") else len(e.i.payload)
        self.data_bits = e.amap.data_bits
        self.out_data_bits = e.out_layout["data"].shape.size
        self.data_words = -(-self.data_bits // 32)
        if e.amap.addr_bits > 32:
            raise ValueError(
                f"the table port's address ({e.amap.addr_bits} bits) does not fit AXI4-Lite's 32"
            )
        if AXIL_REGS["data"] + 4 * self.data_words > (1 << AXIL_ADDR_BITS):
            raise ValueError(
                f"{self.data_words} data words do not fit the {AXIL_ADDR_BITS}-bit AXI4-Lite space"
            )
        super().__init__(
            {
                "s_axis_tdata": In(_bytes(self.in_bits)),
                "s_axis_tvalid": In(1),
                "s_axis_tready": Out(1),
                "s_axis_tlast": In(1),
                "m_axis_tdata": Out(_bytes(self.out_data_bits)),
                "m_axis_tvalid": Out(1),
                "m_axis_tready": In(1),
                "m_axis_tlast": Out(1),
                "s_axil_awaddr": In(AXIL_ADDR_BITS),
                "s_axil_awprot": In(3),
                "s_axil_awvalid": In(1),
                "s_axil_awready": Out(1),
                "s_axil_wdata": In(32),
                "s_axil_wstrb": In(4),
                "s_axil_wvalid": In(1),
                "s_axil_wready": Out(1),
                "s_axil_bresp": Out(2),
                "s_axil_bvalid": Out(1),
                "s_axil_bready": In(1),
                "s_axil_araddr": In(AXIL_ADDR_BITS),
                "s_axil_arprot": In(3),
                "s_axil_arvalid": In(1),
                "s_axil_arready": Out(1),
                "s_axil_rdata": Out(32),
                "s_axil_rresp": Out(2),
                "s_axil_rvalid": Out(1),
                "s_axil_rready": In(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = e = self.engine

        # -- streams ---------------------------------------------------------------------------
        m.d.comb += [
            e.i.valid.eq(self.s_axis_tvalid),
            e.i.payload.eq(self.s_axis_tdata[: self.in_bits]),
            self.s_axis_tready.eq(e.i.ready),
            self.m_axis_tvalid.eq(e.o.valid),
            self.m_axis_tdata.eq(e.o.payload.data.as_value()),
            self.m_axis_tlast.eq(e.o.payload.last),
            e.o.ready.eq(self.m_axis_tready),
        ]

        # -- AXI4-Lite writes --------------------------------------------------------------------
        words = Array(Signal(32, name=f"data{i}") for i in range(self.data_words))
        pending = Signal()  # a table-port write waits for the engine
        wr_addr = Signal(len(e.wr.addr))
        bvalid = Signal()
        take = self.s_axil_awvalid & self.s_axil_wvalid & ~bvalid & ~pending
        m.d.comb += [
            self.s_axil_awready.eq(take),
            self.s_axil_wready.eq(take),
            self.s_axil_bresp.eq(0),
            self.s_axil_bvalid.eq(bvalid),
        ]
        word_addr = self.s_axil_awaddr[2:]
        data_base = AXIL_REGS["data"] >> 2
        with m.If(take):
            with m.If(word_addr == AXIL_REGS["write"] >> 2):
                m.d.sync += [pending.eq(1), wr_addr.eq(self.s_axil_wdata)]
            with m.Else():
                with m.If((word_addr >= data_base) & (word_addr < data_base + self.data_words)):
                    m.d.sync += words[word_addr - data_base].eq(self.s_axil_wdata)
                m.d.sync += bvalid.eq(1)
        m.d.comb += [
            e.wr.en.eq(pending),
            e.wr.addr.eq(wr_addr),
            e.wr.data.eq(Cat(*words)[: self.data_bits]),
        ]
        with m.If(pending & e.wr.ready):
            m.d.sync += [pending.eq(0), bvalid.eq(1)]
        with m.If(bvalid & self.s_axil_bready):
            m.d.sync += bvalid.eq(0)

        # -- AXI4-Lite reads ---------------------------------------------------------------------
        rvalid = Signal()
        rdata = Signal(32)
        m.d.comb += [
            self.s_axil_arready.eq(~rvalid),
            self.s_axil_rvalid.eq(rvalid),
            self.s_axil_rdata.eq(rdata),
            self.s_axil_rresp.eq(0),
        ]
        raddr = self.s_axil_araddr[2:]
        with m.If(self.s_axil_arvalid & ~rvalid):
            m.d.sync += rvalid.eq(1)
            with m.Switch(raddr):
                with m.Case(AXIL_REGS["id"] >> 2):
                    m.d.sync += rdata.eq(Const(AXI_ID, 32))
                with m.Case(AXIL_REGS["status"] >> 2):
                    m.d.sync += rdata.eq(Cat(e.wr.ready & ~pending, e.active_bank))
                with m.Case(AXIL_REGS["data_words"] >> 2):
                    m.d.sync += rdata.eq(self.data_words)
                with m.Default():
                    with m.If((raddr >= data_base) & (raddr < data_base + self.data_words)):
                        m.d.sync += rdata.eq(words[raddr - data_base])
                    with m.Else():
                        m.d.sync += rdata.eq(0)
        with m.If(rvalid & self.s_axil_rready):
            m.d.sync += rvalid.eq(0)
        return m
