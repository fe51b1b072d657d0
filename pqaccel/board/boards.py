"""Board tops for amaranth-boards platforms: a PLL from the board clock to the engine clock, the
UART host link (:class:`pqaccel.board.link.HostLink`) on the board's USB serial port, LEDs.
Clocks and pins live here, never in the engines."""

import importlib
from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Const, Elaboratable, Instance, Module, Signal
from amaranth.build import ResourceError
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from .link import HostLink

__all__ = ["BOARDS", "Board", "BoardTop", "ice40_pll", "ecp5_pll"]


@dataclass(frozen=True)
class Board:
    name: str
    platform: str  # "module:Class" in amaranth_boards
    family: str
    preset: str  # the preset that fits the board
    clk_mhz: float  # the board's oscillator
    engine_mhz: float  # the engine clock the PLL makes (requested clock)
    baud: int = 115200
    resources: tuple = ()  # (nextpnr cell type, count on the device), for messages
    bram_bits: int = 0  # block RAM of the device, for the fit check before a build

    def platform_class(self):
        mod, cls = self.platform.split(":")
        return getattr(importlib.import_module(mod), cls)


BOARDS = {
    "icebreaker": Board(
        "icebreaker",
        "amaranth_boards.icebreaker:ICEBreakerPlatform",
        "ice40",
        "default",
        12.0,
        30.0,
        resources=(("ICESTORM_LC", 5280), ("ICESTORM_RAM", 30), ("ICESTORM_DSP", 8)),
        bram_bits=30 * 4096,
    ),
    "ulx3s-85f": Board(
        "ulx3s-85f",
        "amaranth_boards.ulx3s:ULX3S_85F_Platform",
        "ecp5",
        "resnet20-v9k8",
        25.0,
        50.0,
        resources=(("TRELLIS_COMB", 83640), ("DP16KD", 208), ("MULT18X18D", 156)),
        bram_bits=208 * 18432,
    ),
}


def ice40_pll(f_in, f_out):
    """``(divr, divf, divq, filter_range, f_achieved)`` of an iCE40 PLL (``SB_PLL40``, simple
    feedback): ``f_out = f_in * (divf+1) / ((divr+1) * 2**divq)``, PFD 10..133 MHz, VCO
    533..1066 MHz; the closest setting."""
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                f = vco / 2**divq
                if best is None or abs(f - f_out) < abs(best[4] - f_out):
                    rng = (
                        1
                        if pfd < 17
                        else 2
                        if pfd < 26
                        else 3
                        if pfd < 44
                        else 4
                        if pfd < 66
                        else 5
                        if pfd < 101
                        else 6
                    )
                    best = (divr, divf, divq, rng, f)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting makes {f_out} MHz from {f_in} MHz")
    return best


def ecp5_pll(f_in, f_out):
    """``(clki_div, clkfb_div, clkop_div, f_achieved)`` of an ECP5 ``EHXPLLL`` with CLKOP
    feedback: ``f_out = f_in / clki_div * clkfb_div``, VCO = ``f_out * clkop_div`` in 400..800
    MHz, PFD 3.125..400 MHz; the closest setting."""
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 3.125 <= pfd <= 400:
            continue
        for fb in range(1, 81):
            f = pfd * fb
            for op in range(1, 129):
                if 400 <= f * op <= 800:
                    if best is None or abs(f - f_out) < abs(best[3] - f_out):
                        best = (clki, fb, op, f)
                    break
    if best is None:
        raise ValueError(f"no ECP5 PLL setting makes {f_out} MHz from {f_in} MHz")
    return best


class BoardTop(Elaboratable):
    """The engine of ``cfg`` with its UART link on ``board`` (a :class:`Board`)."""

    def __init__(self, board, cfg):
        self.board, self.cfg = board, cfg
        if board.family == "ice40":
            *self.pll, f = ice40_pll(board.clk_mhz, board.engine_mhz)
        else:
            *self.pll, f = ecp5_pll(board.clk_mhz, board.engine_mhz)
        self.engine_hz = f * 1e6
        self.link = HostLink(cfg, clk_hz=self.engine_hz, baud=board.baud)

    def elaborate(self, platform):
        m = Module()
        b = self.board
        m.domains.sync = cd = ClockDomain("sync")
        locked = Signal()
        if b.family == "ice40":  # the PLL takes the clock pad itself (pin 35 on the iCEBreaker)
            pad = platform.request(platform.default_clk, dir="-")
            divr, divf, divq, rng = self.pll
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=divr,
                p_DIVF=divf,
                p_DIVQ=divq,
                p_FILTER_RANGE=rng,
                i_PACKAGEPIN=pad.io,
                i_RESETB=Const(1),
                i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=cd.clk,
                o_LOCK=locked,
            )
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer(
                "i", platform.request(platform.default_clk, dir="-")
            )
            clk_in = clk_buf.i
            clki, fb, op = self.pll
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=str(b.clk_mhz),
                a_FREQUENCY_PIN_CLKOP=f"{self.engine_hz / 1e6:g}",
                a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED",
                p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA",
                p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC",
                p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=clki,
                p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_DIV=op,
                p_CLKOP_CPHASE=op - 1,
                p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=fb,
                i_RST=Const(0),
                i_STDBY=Const(0),
                i_CLKI=clk_in,
                o_CLKOP=cd.clk,
                i_CLKFB=cd.clk,
                i_PHASESEL0=Const(0),
                i_PHASESEL1=Const(0),
                i_PHASEDIR=Const(1),
                i_PHASESTEP=Const(1),
                i_PHASELOADREG=Const(1),
                i_PLLWAKESYNC=Const(0),
                i_ENCLKOP=Const(0),
                o_LOCK=locked,
            )
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")

        m.submodules.link = link = self.link
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(rx_buf.i), tx_buf.o.eq(link.tx)]
        for i in range(len(link.leds)):
            try:
                led = platform.request("led", i, dir="-")
            except ResourceError:  # fewer LEDs on this board
                break
            m.submodules[f"led{i}"] = buf = io.Buffer("o", led)
            m.d.comb += buf.o.eq(link.leds[i])
        return m
