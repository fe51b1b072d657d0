"""The emitted Verilog against the golden model under cocotb, on Icarus Verilog and Verilator.

Each configuration runs two layers back to back (the second's tables load while the first
computes): the first with random input gaps and output backpressure, the second free-running,
where the measured cycles per row must equal the ideal bound.

The default suite runs every case on Icarus and every third on Verilator
(:data:`VERILATOR_STRIDE`).  ``PQACCEL_MATRIX=large`` adds 120 random configurations, the
Verilator runs of the other cases (among them the three whose Verilator build takes minutes,
:data:`VERILATOR_HEAVY`) and the 64-subspace X reproduction (:data:`NO_X_CASES`; about an hour
on two cores).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import Parallelism, Requant, Widths, METRICS, ROUNDINGS
from pqaccel.presets import preset
from pqaccel.export import generate
from pqaccel.engines.mac.config import MacConfig
from pqaccel.sim.runner import simulator_available, run_cosim

R = Requant
# (v, k, c_max, m_max, (c_par, k_par, m_par), (in, proto, lut, out), metric, requant, (d, m) of
# layer 1, (d, m) of layer 2)
MATRIX = [
    (1, 2, 3, 2, (1, 1, 1), (2, 2, 2, 2), "l1", R("raw"), (3, 2), (2, 1)),
    (
        1,
        2,
        4,
        4,
        (4, 2, 4),
        (16, 16, 16, 16),
        "l2",
        R("shift", 3, "half_even", True),
        (4, 4),
        (3, 2),
    ),
    (1, 64, 2, 2, (2, 64, 2), (4, 4, 3, 8), "chebyshev", R("raw"), (2, 2), (1, 1)),
    (2, 4, 4, 3, (2, 2, 1), (3, 5, 4, 3), "l1", R("shift", 1, "floor", True), (7, 3), (8, 2)),
    (2, 4, 2, 2, (2, 4, 2), (8, 8, 8, 8), "l2", R("raw"), (4, 2), (3, 1)),
    (
        2,
        8,
        5,
        4,
        (3, 4, 2),
        (6, 7, 5, 6),
        "chebyshev",
        R("shift", 2, "half_up", False),
        (10, 4),
        (5, 3),
    ),
    (2, 16, 3, 5, (1, 16, 5), (12, 10, 9, 10), "l1", R("raw"), (6, 5), (2, 3)),
    (2, 64, 3, 3, (3, 16, 3), (5, 5, 6, 7), "l2", R("shift", 4, "half_even", True), (6, 3), (5, 2)),
    (3, 2, 4, 4, (2, 1, 2), (2, 3, 2, 2), "chebyshev", R("raw"), (12, 4), (7, 3)),
    (3, 4, 3, 6, (3, 4, 6), (9, 9, 9, 9), "l1", R("shift", 2, "half_even", False), (9, 6), (4, 5)),
    (3, 8, 6, 3, (2, 8, 1), (16, 2, 12, 16), "l2", R("raw"), (17, 3), (18, 2)),
    (
        3,
        16,
        4,
        4,
        (4, 4, 2),
        (7, 8, 6, 5),
        "chebyshev",
        R("shift", 3, "floor", True),
        (12, 4),
        (10, 1),
    ),
    (3, 64, 2, 4, (1, 8, 4), (8, 8, 8, 16), "l1", R("raw"), (6, 4), (4, 3)),
    (4, 2, 2, 2, (2, 2, 2), (16, 16, 2, 2), "l1", R("shift", 0, "half_up", True), (8, 2), (5, 1)),
    (4, 4, 4, 4, (1, 1, 1), (4, 3, 4, 4), "l2", R("shift", 1, "half_up", True), (16, 4), (9, 2)),
    (4, 8, 3, 5, (3, 2, 5), (8, 6, 5, 8), "chebyshev", R("raw"), (12, 5), (11, 4)),
    (4, 16, 4, 6, (2, 8, 3), (8, 8, 8, 12), "l1", R("shift", 2, "half_up", True), (16, 6), (13, 5)),
    (4, 16, 2, 2, (2, 16, 2), (6, 6, 5, 16), "l2", R("raw"), (8, 2), (5, 2)),
    (
        4,
        64,
        2,
        2,
        (1, 32, 1),
        (5, 6, 4, 4),
        "chebyshev",
        R("shift", 1, "half_even", True),
        (8, 2),
        (3, 1),
    ),
    (9, 2, 2, 2, (1, 2, 1), (8, 8, 8, 8), "l1", R("raw"), (18, 2), (10, 1)),
    (9, 4, 3, 4, (3, 2, 2), (3, 4, 3, 3), "l2", R("shift", 2, "floor", False), (27, 4), (20, 3)),
    (9, 8, 4, 8, (2, 8, 4), (8, 8, 8, 16), "l2", R("raw"), (36, 8), (19, 5)),
    (9, 8, 4, 4, (4, 4, 4), (6, 6, 5, 8), "l1", R("shift", 3, "half_even", True), (36, 4), (28, 3)),
    (9, 16, 2, 4, (1, 16, 2), (8, 8, 8, 16), "chebyshev", R("raw"), (18, 4), (9, 3)),
    (
        9,
        16,
        3,
        3,
        (2, 4, 3),
        (10, 12, 11, 12),
        "l2",
        R("shift", 5, "half_up", True),
        (27, 3),
        (25, 2),
    ),
    (9, 64, 2, 2, (2, 8, 1), (8, 6, 5, 16), "l1", R("raw"), (18, 2), (12, 2)),
    (1, 8, 8, 8, (8, 8, 8), (2, 2, 2, 2), "l2", R("shift", 1, "half_even", False), (8, 8), (5, 6)),
    (2, 2, 6, 2, (3, 1, 1), (14, 15, 16, 16), "chebyshev", R("raw"), (11, 2), (12, 1)),
    (3, 4, 5, 5, (5, 4, 5), (2, 16, 2, 2), "l1", R("shift", 2, "half_up", True), (15, 5), (13, 4)),
    (4, 8, 2, 9, (1, 8, 4), (8, 8, 8, 8), "l2", R("shift", 4, "half_up", True), (8, 9), (5, 7)),
    (
        1,
        16,
        5,
        3,
        (2, 4, 2),
        (5, 5, 5, 5),
        "chebyshev",
        R("shift", 1, "floor", True),
        (5, 3),
        (4, 2),
    ),
    (9, 4, 2, 16, (2, 4, 16), (8, 8, 8, 16), "l1", R("raw"), (18, 16), (12, 9)),
    # shapes that exposed X under iverilog -g2012 when combinational blocks relied on an initial
    # trigger: one output beat per row, c_par >= 2, several groups; and the ResNet20 preset
    (1, 2, 4, 1, (2, 2, 1), (2, 2, 2, 2), "l1", R("raw"), (4, 1), (3, 1)),
    (4, 64, 3, 5, (2, 1, 5), (5, 5, 5, 5), "chebyshev", R("raw"), (10, 5), (12, 5)),
    (9, 8, 64, 64, (4, 8, 16), (8, 8, 8, 16), "l1", R("raw"), (144, 16), (27, 16)),
    # run-time requantization: each layer its own shift and ReLU (random per layer)
    (
        9,
        16,
        8,
        16,
        (4, 16, 16),
        (8, 8, 8, 8),
        "l1",
        R("shift", 7, "half_up", True, True),
        (72, 16),
        (27, 10),
    ),
    (
        3,
        4,
        4,
        5,
        (2, 2, 2),
        (6, 5, 6, 5),
        "l2",
        R("shift", 4, "half_even", False, True),
        (11, 5),
        (7, 3),
    ),
]


def engine(entry):
    v, k, c_max, m_max, par, widths, metric, rq = entry[:8]
    return EngineConfig(
        v=v,
        k=k,
        c_max=c_max,
        m_max=m_max,
        par=Parallelism(*par),
        widths=Widths(*widths),
        metric=metric,
        requant=rq,
    )


def large_matrix(count=120, seed=99):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        v = int(rng.choice([1, 2, 3, 4, 9]))
        k = int(rng.choice([2, 4, 8, 16, 64]))
        c_max = int(rng.integers(1, 7))
        m_max = int(rng.integers(1, 9))
        divs = [d for d in range(1, k + 1) if k % d == 0 and d <= 16]
        par = (
            int(rng.integers(1, c_max + 1)),
            int(rng.choice(divs)),
            int(rng.integers(1, m_max + 1)),
        )
        widths = tuple(int(b) for b in rng.integers(2, 17, size=4))
        rq = (
            R("raw")
            if rng.random() < 0.3
            else R(
                "shift",
                int(rng.integers(0, 4)),
                str(rng.choice(ROUNDINGS)),
                bool(rng.random() < 0.5),
            )
        )
        entry = (v, k, c_max, m_max, par, widths, str(rng.choice(METRICS)), rq)
        try:
            engine(entry)
        except ValueError:
            continue
        l1 = (int(rng.integers(1, v * c_max + 1)), int(rng.integers(1, m_max + 1)))
        l2 = (int(rng.integers(1, v * c_max + 1)), int(rng.integers(1, m_max + 1)))
        out.append(entry + (l1, l2))
    return out


CASES = MATRIX + (large_matrix() if os.environ.get("PQACCEL_MATRIX") == "large" else [])


def test_matrix_covers_the_brief():
    assert len(MATRIX) >= 30
    assert {e[1] for e in MATRIX} >= {2, 4, 8, 16, 64}
    assert {e[0] for e in MATRIX} >= {1, 2, 3, 4, 9}
    assert {e[6] for e in MATRIX} == set(METRICS)
    bits = {b for e in MATRIX for b in e[5]}
    assert 2 in bits and 16 in bits
    cfgs = [engine(e) for e in MATRIX]
    assert any(c.par.k_par < c.k for c in cfgs) and any(c.par.k_par == c.k for c in cfgs)
    assert any(c.par.c_par < c.c_max for c in cfgs) and any(c.par.c_par == c.c_max for c in cfgs)
    assert any(c.par.m_par < c.m_max for c in cfgs) and any(c.par.m_par == c.m_max for c in cfgs)


#: Cases whose Verilator build alone takes minutes (L2 with 16-64 distance units' square tables;
#: the run-time-requantized 4 x 16 x 16 engine): the default suite runs them on Icarus only,
#: ``PQACCEL_MATRIX=large`` on both simulators.
VERILATOR_HEAVY = {7, 17, 35}
#: The default suite runs every case on Icarus and every third of the others on Verilator (whose
#: C++ build is 15-25 s of each case's time); ``PQACCEL_MATRIX=large`` runs every case on both.
VERILATOR_STRIDE = 3
LARGE = os.environ.get("PQACCEL_MATRIX") == "large"
RUNS = [
    (sim, i)
    for i in range(len(CASES))
    for sim in ("icarus", "verilator")
    if LARGE or sim == "icarus" or (i % VERILATOR_STRIDE == 0 and i not in VERILATOR_HEAVY)
]


def test_heavy_cases_still_run_on_icarus():
    assert {i for sim, i in RUNS if sim == "icarus"} == set(range(len(CASES)))


def test_verilator_runs_cover_the_matrix_kinds():
    """The cases the default suite runs on Verilator still cover every metric, every subvector
    length, raw and shifted outputs, every rounding, run-time requantization, several steps a
    row and partial parallelism."""
    cfgs = [engine(CASES[i]) for sim, i in RUNS if sim == "verilator"]
    assert {c.metric for c in cfgs} == set(METRICS)
    assert {c.v for c in cfgs} >= {1, 2, 3, 4, 9}
    assert {c.requant.mode for c in cfgs} == {"raw", "shift"}
    assert {c.requant.rounding for c in cfgs if c.requant.mode == "shift"} == set(ROUNDINGS)
    assert any(c.requant.runtime for c in cfgs)
    assert any(c.k_steps > 1 for c in cfgs) and any(c.k_steps == 1 for c in cfgs)
    assert any(c.par.c_par < c.c_max for c in cfgs) and any(c.par.m_par < c.m_max for c in cfgs)


@pytest.mark.parametrize("sim, index", RUNS, ids=[f"{i}-{sim}" for sim, i in RUNS])
def test_cosim(sim, index, tmp_path):
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    entry = CASES[index]
    cfg = engine(entry)
    (d1, m1), (d2, m2) = entry[8], entry[9]
    files = generate(cfg, tmp_path / "rtl")
    layers = [
        {"d": d1, "m": m1, "n": 12, "in_gap": 0.3, "out_stall": 0.4},
        {"d": d2, "m": m2, "n": 16, "in_gap": 0.0, "out_stall": 0.0},
    ]
    result = run_cosim(
        files["verilog"],
        files["manifest"],
        sim=sim,
        layers=layers,
        seed=index,
        build_dir=tmp_path / "build",
    )
    stalled, free = result["layers"]
    assert stalled["mismatches"] == 0, stalled["first_mismatches"]
    assert free["mismatches"] == 0, free["first_mismatches"]
    assert free["cycles_per_row"] == free["ideal_cycles_per_row"]


#: The reproductions of the X defect; the 64-subspace one (60 rows on Icarus, 100 s on a busy
#: core) runs with ``PQACCEL_MATRIX=large``: its engine is co-simulated in the default suite too
#: (``test_cosim[34-*]``).
NO_X_CASES = [
    (MATRIX[32], (4, 1), 2),
    (MATRIX[32], (4, 1), 5),
    (MATRIX[33], (10, 5), 7),
] + ([(MATRIX[34], (144, 16), 11)] if LARGE else [])


@pytest.mark.parametrize("entry, layer, seed", NO_X_CASES)
def test_no_x_on_icarus(entry, layer, seed, tmp_path):
    """The reproductions of the X defect, with their seeds: every output is a number and right."""
    cfg = engine(entry)
    files = generate(cfg, tmp_path / "rtl")
    rows = 60 if cfg.c_max == 64 else 4
    layers = [
        {"d": layer[0], "m": layer[1], "n": rows, "in_gap": 0.3, "out_stall": 0.3},
        {"d": layer[0], "m": layer[1], "n": rows, "in_gap": 0.0, "out_stall": 0.0},
    ]
    result = run_cosim(
        files["verilog"],
        files["manifest"],
        sim="icarus",
        layers=layers,
        seed=seed,
        build_dir=tmp_path / "build",
    )
    assert [ly["mismatches"] for ly in result["layers"]] == [0, 0]


def test_no_combinational_always_blocks(tmp_path):
    """Combinational logic is written as continuous assignments (evaluated at time zero by every
    simulator), registers as clocked blocks: no `always @*` that needs an initial trigger."""
    text = Path(generate(engine(MATRIX[32]), tmp_path)["verilog"]).read_text()
    assert "always @*" not in text and "always @(posedge clk)" in text


MAC_MATRIX = [
    (MacConfig(d_max=20, m_max=7, d_par=3, m_par=2), (20, 7), (11, 5)),
    (MacConfig(d_max=9, m_max=16, d_par=9, m_par=16, in_bits=8, w_bits=8), (9, 16), (5, 3)),
    (
        MacConfig(
            d_max=12,
            m_max=4,
            d_par=4,
            m_par=1,
            in_bits=2,
            w_bits=16,
            requant=R("shift", 4, "half_up", True),
            out_bits=8,
        ),
        (12, 4),
        (7, 2),
    ),
    (
        MacConfig(
            d_max=18,
            m_max=6,
            d_par=9,
            m_par=3,
            in_bits=8,
            w_bits=8,
            requant=R("shift", 10, "half_up", True, True),
            out_bits=8,
        ),
        (18, 6),
        (11, 4),
    ),
    # multipliers from logic only (no DSP), odd widths, run-time requantization
    (
        MacConfig(
            d_max=18,
            m_max=6,
            d_par=9,
            m_par=3,
            in_bits=7,
            w_bits=5,
            requant=R("shift", 8, "half_up", True, True),
            out_bits=8,
            mult="lut",
        ),
        (18, 6),
        (11, 4),
    ),
    # the wide table port (a row of every bank per write), both engines
    (
        MacConfig(
            d_max=20,
            m_max=7,
            d_par=3,
            m_par=2,
            requant=R("shift", 5, "half_even", True, True),
            out_bits=8,
            wide_port=True,
        ),
        (20, 7),
        (8, 3),
    ),
    (
        EngineConfig(
            v=9,
            k=8,
            c_max=8,
            m_max=20,
            par=Parallelism(2, 4, 8),
            widths=Widths(8, 8, 8, 8),
            requant=R("shift", 6, "half_up", True, True),
            wide_port=True,
        ),
        (70, 20),
        (27, 5),
    ),
]


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("index", range(len(MAC_MATRIX)))
def test_cosim_engine(sim, index, tmp_path):
    """The MAC baseline, and both engines with the wide table port, with random gaps and
    backpressure, then free-running at the ideal cycles per row."""
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    cfg, (d1, m1), (d2, m2) = MAC_MATRIX[index]
    files = generate(cfg, tmp_path / "rtl")
    layers = [
        {"d": d1, "m": m1, "n": 10, "in_gap": 0.3, "out_stall": 0.4},
        {"d": d2, "m": m2, "n": 32, "in_gap": 0.0, "out_stall": 0.0},
    ]
    result = run_cosim(
        files["verilog"],
        files["manifest"],
        sim=sim,
        layers=layers,
        seed=index,
        build_dir=tmp_path / "build",
    )
    stalled, free = result["layers"]
    assert stalled["mismatches"] == 0 and free["mismatches"] == 0, stalled["first_mismatches"]
    assert free["cycles_per_row"] == free["ideal_cycles_per_row"]


def test_sim_example_script():
    """The standalone example in sim/ generates, co-simulates and reports 0 mismatches."""
    import runpy

    if not simulator_available("icarus"):
        pytest.skip("icarus is not installed")
    path = os.path.join(os.path.dirname(__file__), "..", "sim", "example.py")
    assert runpy.run_path(path)["main"]("icarus") == 0


@pytest.mark.parametrize("preset_name, wide", [("default", False), ("default", True)])
def test_soak_with_reloads_and_resets(preset_name, wide, tmp_path):
    """A short soak on Verilator: table reloads every job, gaps, backpressure and resets at
    random times; 0 mismatches, nothing out of a reset, every row once
    (``benchmarks/bench_soak.py`` runs 20,000 rows)."""
    from pqaccel.presets import preset
    from pqaccel.sim.runner import run_soak

    if not simulator_available("verilator"):
        pytest.skip("verilator is not installed")
    cfg = preset(preset_name).replace(wide_port=wide)
    files = generate(cfg, tmp_path / "rtl")
    r = run_soak(
        files["verilog"],
        files["manifest"],
        rows=1500,
        rows_per_job=(20, 80),
        reset_prob=0.5,
        seed=3,
        build_dir=tmp_path / "build",
    )
    assert r["mismatches"] == 0 and r["leaks"] == 0
    assert r["rows_checked"] >= 1500 and r["resets"] >= 3 and r["reloads"] > r["jobs"]


AXI_CASES = {
    "default": lambda: preset("default"),
    "default-wide": lambda: preset("default").replace(wide_port=True),
    "mac": lambda: MacConfig(d_max=20, m_max=6, d_par=3, m_par=2),
}


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("case", list(AXI_CASES))
def test_axi_wrapper_with_cocotbext_axi(sim, case, tmp_path):
    """``generate --wrapper axi``: tables over AXI4-Lite, rows and results over AXI4-Stream with
    cocotbext-axi's bus models, random pauses and backpressure; bit-exact, and at the ideal
    rate when free-running."""
    from pqaccel.sim.runner import run_axi

    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    cfg = AXI_CASES[case]()
    files = generate(cfg, tmp_path / "rtl", wrapper="axi")
    d = cfg.d_max
    layers = [
        {"d": d, "m": cfg.m_max, "n": 6, "in_gap": 0.3, "out_stall": 0.4},
        {"d": max(1, d - 3), "m": max(1, cfg.m_max - 1), "n": 16, "in_gap": 0.0, "out_stall": 0.0},
    ]
    r = run_axi(
        files["verilog"],
        files["manifest"],
        sim=sim,
        layers=layers,
        seed=2,
        build_dir=tmp_path / "build",
    )
    stalled, free = r["layers"]
    assert stalled["mismatches"] == 0 and free["mismatches"] == 0, r
    assert free["cycles_per_row"] == free["ideal_cycles_per_row"]


# The engines as built for ECP5: the MAC's multipliers are MULT18X18D instances with their
# input and output registers (simulated by pqaccel's model of that subset), the PQ engine's
# LUT-RAM codebook one memory per (lane, slot, element); the same manifest, the same behaviour.
FAMILY_MATRIX = [
    MacConfig(d_max=20, m_max=7, d_par=3, m_par=2),
    MacConfig(
        d_max=18,
        m_max=6,
        d_par=9,
        m_par=3,
        in_bits=16,
        w_bits=16,
        requant=R("shift", 10, "half_up", True, True),
        out_bits=8,
    ),
    EngineConfig(
        v=9,
        k=8,
        c_max=8,
        m_max=20,
        par=Parallelism(2, 8, 4),
        widths=Widths(8, 8, 8, 8),
        requant=R("shift", 6, "half_up", True, True),
    ),
]


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("index", range(len(FAMILY_MATRIX)))
def test_cosim_ecp5_form(sim, index, tmp_path):
    from pqaccel.export import make_engine, to_verilog
    from pqaccel.rtl.ecp5 import MODELS

    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    cfg = FAMILY_MATRIX[index]
    files = generate(cfg, tmp_path / "rtl")
    text = to_verilog(make_engine(cfg, family="ecp5"), "pq_engine")
    assert ("MULT18X18D" in text) == (cfg.kind == "mac")
    assert ("DP16KD" in text) == (cfg.kind == "pq")  # the tables; MAC weight words are wider
    verilog = tmp_path / "ecp5.v"
    verilog.write_text(text + MODELS["ecp5"])
    d, m = cfg.d_max, cfg.m_max
    layers = [
        {"d": d, "m": m, "n": 10, "in_gap": 0.3, "out_stall": 0.4},
        {"d": d - 3, "m": m - 1, "n": 12, "in_gap": 0.0, "out_stall": 0.0},
    ]
    result = run_cosim(
        verilog, files["manifest"], sim=sim, layers=layers, seed=index, build_dir=tmp_path / "b"
    )
    stalled, free = result["layers"]
    assert stalled["mismatches"] == 0 and free["mismatches"] == 0, stalled["first_mismatches"]
    assert free["cycles_per_row"] == free["ideal_cycles_per_row"]
