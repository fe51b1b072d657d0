"""Pieces both cocotb testbenches share: reset, the table-port commit rule, and one clock cycle
of driving and sampling the engine's three interfaces.

Signals are driven on the falling clock edge and sampled (``ReadOnly``) before the next rising
edge, so a transfer is exactly a cycle where valid and ready are both seen high.
"""

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

__all__ = ["reset", "next_write", "clock_cycle"]


async def reset(dut):
    """Start the clock and hold reset for three cycles, every valid/enable low; return on a
    falling edge with reset released."""
    import cocotb
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.wr__en.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def next_write(writes, wj, wi, fed):
    """The table-port write to offer now, or None: job ``wj``'s write ``wi``, except that a job's
    last write (its commit) waits until the job before has been fed completely."""
    if wj >= len(writes):
        return None
    is_commit = wi == len(writes[wj]) - 1
    if is_commit and wj > 0 and not fed[wj - 1]:
        return None
    return writes[wj][wi]


async def clock_cycle(dut, wr_item, beat, out_ready):
    """Drive one cycle (a write, an input beat, output ready; None for none) and sample it.
    Returns ``(wr_fire, in_fire, out_payload)``; ``out_payload`` is None when no output beat
    was taken.  Returns on the next falling edge."""
    dut.wr__en.value = int(wr_item is not None)
    if wr_item is not None:
        dut.wr__addr.value, dut.wr__data.value = wr_item
    dut.i__valid.value = int(beat is not None)
    if beat is not None:
        dut.i__payload.value = beat
    dut.o__ready.value = int(out_ready)
    await ReadOnly()
    wr_fire = wr_item is not None and dut.wr__ready.value == 1
    in_fire = beat is not None and dut.i__ready.value == 1
    payload = dut.o__payload.value.to_unsigned() if out_ready and dut.o__valid.value == 1 else None
    await FallingEdge(dut.clk)
    return wr_fire, in_fire, payload
