"""`compare` end to end on a small engine and small layers: measured cycles, Fmax, perf/area."""

import pytest

from pqaccel import area
from pqaccel.compare import compare, measure_cycles, lowbit_study
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import LayerConfig, Parallelism, Widths
from pqaccel.engines.mac.config import MacConfig

SMALL = EngineConfig(
    v=2,
    k=4,
    c_max=4,
    m_max=4,
    par=Parallelism(2, 4, 2),
    widths=Widths(in_bits=4, proto_bits=4, lut_bits=4, out_bits=8),
)
MAC = MacConfig.for_engine(SMALL, d_par=2, m_par=2, w_bits=4)
LAYERS = [("wide", LayerConfig(d=8, m=4, n=10), 3), ("narrow", LayerConfig(d=3, m=1, n=6), 2)]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PQACCEL_CACHE", str(tmp_path / "cache"))


def test_compare_small_on_ice40():
    lut = MAC.replace(mult="lut")
    r = compare(SMALL, MAC, "ice40", layers=LAYERS, sim="icarus", rows=8, baselines=[lut])
    for kind, cfg in (("pq", SMALL), ("mac", MAC)):
        d = r["designs"][kind]
        assert d["area"] == area.area(d["resources"], "ice40")
        assert d["fmax_mhz"] > 10
        total = 0
        for row, (name, layer, count) in zip(d["layers"], LAYERS):
            assert row["layer"] == name and row["mismatches"] == 0
            # free-running: the measured rate is the analytical one
            assert row["cycles_per_row"] == cfg.ideal_cycles_per_row(layer)
            assert row["cycles"] > layer.n * row["cycles_per_row"]  # plus the pipeline fill
            total += count * row["cycles"]
        assert d["cycles"] == total
        assert d["ideal_cycles"] == sum(
            c * ly.n * cfg.ideal_cycles_per_row(ly) for _, ly, c in LAYERS
        )
        assert d["inferences_per_s"] == pytest.approx(d["fmax_mhz"] * 1e6 / d["cycles"])
    pq, mac = r["designs"]["pq"], r["designs"]["mac"]
    assert r["ratio"] == pytest.approx(pq["perf_per_area"] / mac["perf_per_area"])
    # useful multiplies d*m per row over issued slots (4 multipliers x cycles): "wide" takes
    # 4 groups x 2 output beats = 8 cycles a row, "narrow" 2 groups x 1 beat = 2 cycles
    useful = 3 * 10 * (8 * 4) + 2 * 6 * (3 * 1)
    slots = (3 * 10 * 8 + 2 * 6 * 2) * 4
    assert mac["multiplier_utilization"] == pytest.approx(useful / slots)
    assert set(r["sensitivity"]) == {"bram/2", "bram*2", "dsp/2", "dsp*2"}
    assert r["bram_loop_fmax_mhz"] > 10
    assert "does not fit the PQ engine" in r["network"]["skipped"]  # ResNet20 on a 4x4 engine
    # the DSP-free baseline: its own synthesis, P&R and cosim, and PQ's ratio against it
    b = r["baselines"]["mac-lut"]
    assert b["config"]["mult"] == "lut" and b["resources"]["dsp"] == 0
    assert all(row["mismatches"] == 0 for row in b["layers"])
    assert b["cycles"] == mac["cycles"]  # same parallelism, same cycles
    assert b["ratio"] == pytest.approx(pq["perf_per_area"] / b["perf_per_area"])
    assert set(b["sensitivity"]) == set(r["sensitivity"])


@pytest.mark.parametrize("name", ["resnet20-v9k8-net", "resnet20-v9k8"])
def test_network_level_cycles(name):
    """Whole ResNet20 inferences on both engines: compute as the per-layer ideal, loads from the
    port words and the shared bandwidth, batches amortizing loads, bandwidth scan monotone."""
    from pqaccel.compare import network_cycles
    from pqaccel.presets import preset

    e = preset(name)
    mac = MacConfig.for_engine(e)
    r = network_cycles(e, mac, load_bits=256, scan=(16, 256, 4096))
    assert r["pq_word_bits"] == (
        e.par.c_par * e.par.m_par * e.widths.lut_bits if e.wide_port else 72
    )
    for kind in ("pq", "mac"):
        b1, b32 = r["batches"]["1"][kind], r["batches"]["32"][kind]
        assert len(b1["layers"]) == 22  # 19 conv + 2 projections + classifier
        word = r[f"{kind}_word_bits"]
        for ly in b1["layers"]:
            assert ly["load"] == (ly["writes"] if word <= 256 else -(-ly["writes"] * word // 256))
        # 32 images: the same loads, 32x the rows; never worse per image than one
        assert b32["load"] == b1["load"] and b32["cycles_per_image"] <= b1["cycles_per_image"]
        assert b32["cycles"] >= 32 * sum(ly["compute"] for ly in b1["layers"]) - 32 * 22 * 40
        scan = [r["scan"][str(bw)][kind] for bw in (16, 256, 4096)]
        assert scan[0] >= scan[1] >= scan[2] >= b1["compute"]
    # the PQ engine does the same network in fewer cycles than the MAC engine of the same preset
    assert r["batches"]["32"]["pq"]["cycles"] < r["batches"]["32"]["mac"]["cycles"]


def test_cycle_measurement_is_cached():
    layers = [ly for _, ly, _ in LAYERS]
    first = measure_cycles(SMALL, layers, sim="icarus", rows=6)
    again = measure_cycles(SMALL, layers, sim="icarus", rows=6)
    assert not first["cached"] and again["cached"]
    assert again["layers"] == first["layers"]
    other = measure_cycles(SMALL, layers, sim="icarus", rows=7)
    assert not other["cached"]


def test_lowbit_study_widths():
    rows = lowbit_study(SMALL, "generic", bits=(2, 3), metrics=("l1", "l2"))
    assert [(r["metric"], r["bits"]) for r in rows] == [("l1", 2), ("l1", 3), ("l2", 2), ("l2", 3)]
    # narrower operands, fewer cells
    assert rows[0]["resources"]["cells"] < rows[1]["resources"]["cells"]
    assert rows[2]["resources"]["cells"] < rows[3]["resources"]["cells"]
