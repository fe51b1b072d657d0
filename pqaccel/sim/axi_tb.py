"""cocotb testbench of the AXI wrapper (``generate --wrapper axi``) with cocotbext-axi's bus
models: :class:`AxiLiteMaster` writes the tables (staged data words, then the ``WRITE``
register), :class:`AxiStreamSource` sends the rows (``tlast`` on a row's last beat),
:class:`AxiStreamSink` collects the results.

Configuration (JSON file named by ``PQ_COSIM``): ``{"manifest", "seed", "layers": [{"d", "m",
"n", "in_gap", "out_stall"}], "result"}``.  Per layer: its tables are written, its rows sent
with random source pauses (``in_gap``) and sink backpressure (``out_stall``), and every
output beat is checked against the golden model.  Without pauses the steady-state rate is
measured (cycles per row from the output beats' arrival).
"""

import json
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

from pqaccel.config import LayerConfig
from pqaccel.jobs import make_job

from .tbutil import load_config


def _pauses(rng, p):
    while True:
        yield rng.random() < p


@cocotb.test()
async def axi_wrapper(dut):
    cfg, manifest = load_config()
    w = manifest["wrapper"]
    regs = w["axil_regs"]
    in_bytes = w["s_axis"]["tdata_bits"] // 8
    out_bytes = w["m_axis"]["tdata_bits"] // 8
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)

    ident = int.from_bytes((await axil.read(regs["id"], 4)).data, "little")
    assert ident == w["axi_id"], f"ID register reads {ident:#x}"
    words = int.from_bytes((await axil.read(regs["data_words"], 4)).data, "little")
    assert words == w["data_words"]

    cycle = [0]

    async def count():
        while True:
            await RisingEdge(dut.clk)
            cycle[0] += 1

    cocotb.start_soon(count())
    await RisingEdge(dut.clk)
    t_a = get_sim_time(unit="step")
    await RisingEdge(dut.clk)
    period = get_sim_time(unit="step") - t_a  # simulator steps per clock cycle

    rng = random.Random(cfg["seed"])
    result = {"layers": []}
    staged = [None] * words
    for j, layer in enumerate(cfg["layers"]):
        job = make_job(
            manifest, LayerConfig(d=layer["d"], m=layer["m"], n=layer["n"]), cfg["seed"] + j
        )
        t0 = cycle[0]
        for addr, data in job.writes:
            for i in range(words):
                word = (data >> (32 * i)) & 0xFFFFFFFF
                if staged[i] != word:
                    await axil.write(regs["data"] + 4 * i, word.to_bytes(4, "little"))
                    staged[i] = word
            await axil.write(regs["write"], addr.to_bytes(4, "little"))
        load_cycles = cycle[0] - t0
        for model, p in ((source, layer["in_gap"]), (sink, layer["out_stall"])):
            model.set_pause_generator(_pauses(rng, p) if p else None)
            if not p:  # removing a generator leaves its last value: un-pause explicitly
                model.pause = False
        beats_per_row = job.g
        frames = []
        for r in range(job.layer.n):
            beats = job.in_beats[r * beats_per_row : (r + 1) * beats_per_row]
            frames.append(AxiStreamFrame(b"".join(b.to_bytes(in_bytes, "little") for b in beats)))
        for frame in frames:
            await source.send(frame)
        outputs, ends = [], []
        for _ in range(job.layer.n):
            frame = await sink.recv()
            data = bytes(frame.tdata)
            assert len(data) == out_bytes * job.mt, (
                f"row of {len(data)} bytes, expected {out_bytes * job.mt}"
            )
            for t in range(job.mt):
                value = int.from_bytes(data[t * out_bytes : (t + 1) * out_bytes], "little")
                outputs.append(
                    value | ((1 << w["m_axis"]["payload_bits"]) if t == job.mt - 1 else 0)
                )
            ends.append(frame.sim_time_end / period)  # when its last beat was taken
        bad = job.check(outputs)
        half = len(ends) // 2
        cpr = (ends[-1] - ends[half - 1]) / (len(ends) - half) if len(ends) > 1 else None
        result["layers"].append(
            {
                "d": job.layer.d,
                "m": job.layer.m,
                "n": job.layer.n,
                "in_gap": layer["in_gap"],
                "out_stall": layer["out_stall"],
                "mismatches": len(bad),
                "first_mismatches": bad[:5],
                "load_cycles": load_cycles,
                "cycles_per_row": cpr,
                "ideal_cycles_per_row": job.ideal_cycles_per_row,
            }
        )
    with open(cfg["result"], "w") as f:
        json.dump(result, f, indent=2)
    total = sum(ly["mismatches"] for ly in result["layers"])
    assert total == 0, f"{total} mismatches: {result['layers']}"
