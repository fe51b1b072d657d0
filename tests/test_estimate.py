"""pqaccel estimate: memories and DSPs exact against Yosys, logic from the fitted model."""

import pytest

from pqaccel import estimate
from pqaccel.cli import main
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import Parallelism, Requant, Widths
from pqaccel.presets import preset
from pqaccel.compare import network_engine, synth_design
from pqaccel.engines.mac.config import MacConfig


def test_memory_mapping_by_hand():
    # 2048 x 8: one 18-kbit block RAM as 2048 x 9
    assert estimate.map_memory(2048, 8, 8, "ecp5")["bram"] == 1
    # 256 x 96 written in 24-bit groups: each group takes 3 whole 9-bit bytes -> 108 bits -> 3 x
    # (512 x 36)
    assert estimate.map_memory(256, 96, 24, "ecp5")["bram"] == 3
    # 9 x 65 (a FIFO): LUT-RAM, one 16 x 4 per 4 bits
    m = estimate.map_memory(9, 65, 65, "ecp5")
    assert (m["bram"], m["lutram"]) == (0, 17)
    # iCE40 has no LUT-RAM: 585 bits of flip-flops cost more than 5 RAM4K (256 x 16) -> block RAM
    m = estimate.map_memory(9, 65, 65, "ice40")
    assert (m["bram"], m["ff"]) == (5, 0)
    # 48 x 384 in 24-bit groups: LUT-RAM takes 3 x 96 = 288 cells (cost 1152) plus the read mux over
    # 3 depth pieces (0.5 x 2 x 384) and the write demux (0.5 x 3 x 16) = 1560 > 12 block RAMs
    # (1536)
    m = estimate.map_memory(48, 384, 24, "ecp5")
    assert (m["bram"], m["lutram"]) == (12, 0)
    # 16 x 384: one depth piece, no mux: 96 LUT-RAM cells (384) beat the block RAMs
    assert estimate.map_memory(16, 384, 24, "ecp5")["lutram"] == 96
    # 2 x 2 bits: flip-flops are cheaper than any RAM
    assert estimate.map_memory(2, 2, 2, "ice40")["ff"] == 4


SMALL_PQ = EngineConfig(
    v=3,
    k=8,
    c_max=16,
    m_max=16,
    par=Parallelism(2, 4, 4),
    widths=Widths(6, 6, 8, 6),
    metric="l1",
    requant=Requant(mode="shift", shift=11, rounding="half_up", saturate=True, runtime=True),
    wide_port=True,
)
SMALL_MAC = MacConfig(
    d_max=144,
    m_max=16,
    d_par=3,
    m_par=4,
    in_bits=8,
    w_bits=8,
    out_bits=8,
    requant=Requant(mode="shift", shift=11, rounding="half_up", saturate=True, runtime=True),
)


@pytest.mark.parametrize(
    "cfg,target",
    [
        (SMALL_PQ, "ecp5"),
        (SMALL_MAC, "ecp5"),
        (SMALL_PQ, "ice40"),
        (SMALL_MAC.replace(mult="lut"), "ecp5"),
    ],
    ids=["pq-ecp5", "mac-ecp5", "pq-ice40", "maclut-ecp5"],
)
def test_exact_resources_match_yosys(cfg, target):
    syn = synth_design(cfg, target)["resources"]
    est = estimate.estimate(cfg, target)["resources"]
    for col in ("bram", "lutram", "dsp"):
        assert est[col] == syn[col], (col, est, syn)
    # logic is a fitted model: near, not exact (benchmarks/fit_estimate.py prints the errors)
    assert abs(est["lut"] - syn["lut"]) <= 0.5 * syn["lut"], (est, syn)


def test_blocks_add_up_and_area():
    r = estimate.estimate(network_engine(preset("resnet20-v9k8-net")), "ecp5")
    for col in ("bram", "lutram", "dsp"):
        assert sum(b.get(col, 0) for b in r["blocks"].values()) == r["resources"][col]
    assert abs(sum(r["block_area"].values()) - r["area"]) < 1e-6 * r["area"] + 2
    assert {"distance", "argmin", "tables", "accumulate"} <= set(r["blocks"])


def test_more_parallel_is_bigger():
    base = network_engine(preset("net-v9k16"))
    small = estimate.estimate(base.replace(par=Parallelism(2, 16, 8)), "ecp5")
    big = estimate.estimate(base.replace(par=Parallelism(4, 16, 16)), "ecp5")
    assert big["resources"]["lut"] > small["resources"]["lut"]
    assert big["area"] > small["area"]


def test_unknown_family_names_the_fitted_ones():
    with pytest.raises(ValueError, match=r"target must be one of .*ecp5.*got 'xilinx'"):
        estimate.estimate(SMALL_PQ, "xilinx")


def test_cli(capsys, tmp_path):
    out = tmp_path / "e.json"
    assert (
        main(["estimate", "--preset", "resnet20-v9k8-net", "--target", "ecp5", "--json", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    assert "tables" in text and "total" in text and out.exists()
    assert main(["estimate", "--preset", "default", "--target", "vhdl"]) == 2
    assert "got 'vhdl'" in capsys.readouterr().err
    assert main(["estimate", "--preset", "default", "--design", "mac", "--mac-mult", "lut"]) == 0
