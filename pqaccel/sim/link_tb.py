"""cocotb testbench of the UART host link (:class:`pqaccel.board.link.HostLink`): the host
driver (:class:`pqaccel.host.Board`, the code that talks to a real board through pyserial)
runs in a thread and talks to the Verilog through a bit-level UART model.

Configuration (JSON file named by ``PQ_COSIM``): ``{"manifest", "seed", "layers": [{"d", "m",
"n"}], "result"}``; the manifest carries the link parameters under ``link``.  Per layer: random
tables and rows (:func:`pqaccel.jobs.make_job`) through the link, every output checked
against the golden model.  Result: rows, mismatches, bytes each way, simulated and wall time.
"""

import json
import time

import cocotb
from cocotb.clock import Clock
from cocotb.queue import Queue
from cocotb.triggers import ClockCycles, FallingEdge

from pqaccel.config import LayerConfig
from pqaccel.jobs import make_job
from pqaccel.host import Board

from .tbutil import load_config

try:
    from cocotb.task import bridge, resume
except ImportError:  # older 2.x layouts
    from cocotb._bridge import bridge, resume


class UartModel:
    """Bit-level 8N1 UART against ``dut.rx``/``dut.tx`` at ``divisor`` cycles a bit."""

    def __init__(self, dut, divisor):
        self.dut, self.divisor = dut, divisor
        self.to_board = Queue()
        self.from_board = bytearray()
        self.arrived = cocotb.triggers.Event()
        self.sent = self.received = 0

    async def send_loop(self):
        dut, d = self.dut, self.divisor
        dut.rx.value = 1
        while True:
            byte = await self.to_board.get()
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                dut.rx.value = bit
                await ClockCycles(dut.clk, d)
            self.sent += 1

    async def receive_loop(self):
        dut, d = self.dut, self.divisor
        while True:
            await FallingEdge(dut.tx)
            await ClockCycles(dut.clk, d + d // 2)  # the middle of data bit 0
            byte = 0
            for i in range(8):
                byte |= int(dut.tx.value) << i
                await ClockCycles(dut.clk, d)
            assert int(dut.tx.value) == 1, "the board's stop bit is low"
            self.from_board.append(byte)
            self.received += 1
            self.arrived.set()


class SimTransport:
    """The host driver's transport into the simulation (called from the driver's thread)."""

    def __init__(self, uart, timeout_cycles):
        self.uart, self.timeout = uart, timeout_cycles

    def write(self, data):
        resume(self._write)(bytes(data))

    async def _write(self, data):
        for b in data:
            self.uart.to_board.put_nowait(b)

    def read(self, n):
        return resume(self._read)(n)

    async def _read(self, n):
        u = self.uart
        waited = 0
        while len(u.from_board) < n:
            u.arrived.clear()
            await cocotb.triggers.First(u.arrived.wait(), ClockCycles(u.dut.clk, 1000))
            if u.to_board.qsize() == 0:  # the time-out runs once the host's bytes are out
                waited += 1000
            if waited > self.timeout and len(u.from_board) < n:
                raise TimeoutError(
                    f"{n} bytes expected, {len(u.from_board)} arrived "
                    f"({u.sent} bytes sent, {u.to_board.qsize()} queued)"
                )
        data = bytes(u.from_board[:n])
        del u.from_board[:n]
        return data


@cocotb.test()
async def host_link(dut):
    cfg, manifest = load_config()
    params = manifest["link"]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    uart = UartModel(dut, params["divisor"])
    cocotb.start_soon(uart.send_loop())
    cocotb.start_soon(uart.receive_loop())
    await ClockCycles(dut.clk, 2)
    result = {"rows": 0, "mismatches": 0, "first": []}

    def host():
        board = Board(SimTransport(uart, timeout_cycles=200 * params["divisor"] * 10), params)
        if cfg.get("expect_hash") is not None:
            board.p = {**params, "hash": cfg["expect_hash"]}
        try:
            result["status"] = board.check_identity()
        except Exception as e:  # the test of a wrong design wants the message
            result["error"] = str(e)
            return
        for j, spec in enumerate(cfg["layers"]):
            job = make_job(manifest, LayerConfig(**spec), cfg["seed"] + j)
            beats = board.run_job(job)
            bad = job.check(beats)
            result["rows"] += job.layer.n
            result["mismatches"] += len(bad)
            result["first"] += bad[:3]
        result["status_after"] = board.status()
        result["bytes_to_board"] = board.bytes_sent

    t0 = time.perf_counter()
    start = cocotb.utils.get_sim_time("ns")
    await bridge(host)()
    result["wall_s"] = time.perf_counter() - t0
    result["sim_cycles"] = int((cocotb.utils.get_sim_time("ns") - start) // 10)
    result["bytes_from_board"] = uart.received
    with open(cfg["result"], "w") as f:
        json.dump(result, f)
