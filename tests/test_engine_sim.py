import pytest

from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import LayerConfig, Parallelism, Requant, Widths
from pqaccel.presets import preset
from pqaccel.engines.mac.config import MacConfig
from pqaccel.sim.schedule import steady_cycles_per_row

from engine_tb import run_engine, shallow_output_fifo


def check(cfg, layers, **kw):
    jobs, outputs, stats = run_engine(cfg, layers, **kw)
    for job, out in zip(jobs, outputs):
        assert job.check(out) == []
    return jobs, outputs, stats


def test_default_two_layers_with_reload():
    cfg = preset("default")
    layers = [LayerConfig(d=32, m=8, n=6), LayerConfig(d=13, m=3, n=5)]
    check(cfg, layers)


@pytest.mark.parametrize("in_gap, out_stall", [(0.3, 0.0), (0.0, 0.5), (0.4, 0.6)])
def test_default_backpressure(in_gap, out_stall):
    cfg = preset("default")
    check(
        cfg,
        [LayerConfig(d=30, m=7, n=6), LayerConfig(d=32, m=8, n=4)],
        seed=3,
        in_gap=in_gap,
        out_stall=out_stall,
    )


@pytest.mark.parametrize(
    "cfg, layer",
    [
        (
            EngineConfig(
                v=1,
                k=2,
                c_max=3,
                m_max=1,
                par=Parallelism(1, 1, 1),
                metric="l1",
                widths=Widths(2, 2, 2, 2),
            ),
            LayerConfig(d=3, m=1, n=8),
        ),
        (
            EngineConfig(
                v=3,
                k=8,
                c_max=5,
                m_max=5,
                par=Parallelism(2, 8, 2),
                metric="l2",
                widths=Widths(16, 16, 16, 16),
                requant=Requant("shift", 5, "half_even", False),
            ),
            LayerConfig(d=14, m=5, n=5),
        ),
        (
            EngineConfig(
                v=2,
                k=4,
                c_max=4,
                m_max=3,
                par=Parallelism(4, 1, 3),
                metric="chebyshev",
                widths=Widths(5, 3, 4, 3),
                requant=Requant("shift", 1, "floor", True),
            ),
            LayerConfig(d=7, m=2, n=6),
        ),
    ],
)
def test_small_configs(cfg, layer):
    check(cfg, [layer], seed=11)


@pytest.mark.parametrize(
    "name, layer",
    [
        ("default", LayerConfig(d=32, m=8, n=10)),  # k_steps = 4 = m_steps
        ("default", LayerConfig(d=32, m=2, n=10)),  # encoder-bound: k_steps = 4 > m_steps = 1
    ],
)
def test_initiation_interval_is_ideal(name, layer):
    cfg = preset(name)
    jobs, outputs, stats = check(cfg, [layer])
    measured = steady_cycles_per_row(jobs[0], stats["out_cycles"][0])
    assert measured == cfg.ideal_cycles_per_row(layer)


def test_lookup_bound_ii():
    cfg = EngineConfig(v=2, k=4, c_max=4, m_max=8, par=Parallelism(2, 4, 1), metric="l1")
    layer = LayerConfig(d=8, m=8, n=10)  # k_steps = 1, m_steps = 8
    jobs, outputs, stats = check(cfg, [layer])
    assert steady_cycles_per_row(jobs[0], stats["out_cycles"][0]) == cfg.ideal_cycles_per_row(layer)


@pytest.mark.parametrize(
    "cfg, layers",
    [
        (
            MacConfig(d_max=20, m_max=7, d_par=3, m_par=2),
            [LayerConfig(d=20, m=7, n=5), LayerConfig(d=4, m=1, n=4)],
        ),
        (
            MacConfig(
                d_max=9,
                m_max=4,
                d_par=9,
                m_par=4,
                in_bits=2,
                w_bits=16,
                requant=Requant("shift", 3, "half_even", True),
                out_bits=6,
            ),
            [LayerConfig(d=9, m=4, n=6)],
        ),
        (
            MacConfig(d_max=5, m_max=5, d_par=1, m_par=1, in_bits=16, w_bits=16),
            [LayerConfig(d=5, m=3, n=4)],
        ),
    ],
)
def test_mac_engine(cfg, layers):
    jobs, outputs, stats = check(cfg, layers, seed=4, in_gap=0.2, out_stall=0.3)


def test_mac_initiation_interval():
    cfg = MacConfig(d_max=16, m_max=8, d_par=4, m_par=2)
    layer = LayerConfig(d=16, m=8, n=8)
    jobs, outputs, stats = check(cfg, [layer])
    assert (
        steady_cycles_per_row(jobs[0], stats["out_cycles"][0])
        == cfg.ideal_cycles_per_row(layer)
        == 16
    )


@pytest.mark.parametrize(
    "cfg",
    [
        EngineConfig(
            v=3,
            k=8,
            c_max=5,
            m_max=5,
            par=Parallelism(2, 4, 2),
            metric="l1",
            widths=Widths(8, 8, 8, 8),
            requant=Requant("shift", 6, "half_even", True, runtime=True),
        ),
        EngineConfig(
            v=2,
            k=4,
            c_max=4,
            m_max=3,
            par=Parallelism(4, 4, 3),
            metric="l2",
            widths=Widths(5, 5, 6, 4),
            requant=Requant("shift", 3, "half_up", False, runtime=True),
        ),
        MacConfig(
            d_max=9,
            m_max=4,
            d_par=3,
            m_par=2,
            in_bits=8,
            w_bits=8,
            out_bits=8,
            requant=Requant("shift", 9, "half_up", True, runtime=True),
        ),
    ],
)
def test_runtime_requant_per_layer(cfg):
    """Each layer brings its own shift and ReLU (random per job) through the table port; layers
    back to back, under backpressure, every output as the model says."""
    layers = [
        LayerConfig(d=7, m=3, n=4),
        LayerConfig(d=6, m=2, n=5),
        LayerConfig(d=5, m=3, n=4),
        LayerConfig(d=7, m=2, n=4),
    ]
    jobs, _, _ = check(cfg, layers, seed=21, in_gap=0.3, out_stall=0.4)
    settings = {(j.shift, j.relu) for j in jobs}
    assert len(settings) >= 3 and any(j.relu for j in jobs) and not all(j.relu for j in jobs)


@pytest.mark.parametrize(
    "cfg",
    [
        EngineConfig(
            v=3,
            k=4,
            c_max=5,
            m_max=5,
            par=Parallelism(2, 4, 2),
            metric="l1",
            widths=Widths(8, 8, 6, 8),
            requant=Requant("shift", 4, "half_up", True, runtime=True),
            wide_port=True,
        ),
        EngineConfig(
            v=2,
            k=8,
            c_max=4,
            m_max=3,
            par=Parallelism(4, 2, 3),
            metric="l2",
            widths=Widths(5, 5, 4, 12),
            wide_port=True,
        ),
    ],
)
def test_wide_table_port(cfg):
    """One write fills a row of every bank: layers whose C and M are not multiples of c_par and
    m_par, back to back (the next layer's rows load while the current computes), as the model
    says."""
    from pqaccel.engines.pq.addrmap import PQAddressMap

    layers = [LayerConfig(d=7, m=3, n=5), LayerConfig(d=6, m=2, n=4), LayerConfig(d=5, m=3, n=4)]
    jobs, _, _ = check(cfg, layers, seed=31, in_gap=0.3, out_stall=0.4)
    row_code = PQAddressMap(cfg).regions["lut_row"]
    body = PQAddressMap(cfg).body_bits
    for job, layer in zip(jobs, layers):
        rows = [a for a, _ in job.writes if a >> body == row_code]
        assert len(rows) == cfg.groups(layer) * cfg.m_steps(layer) * cfg.k


def test_mac_wide_port():
    cfg = MacConfig(
        d_max=10,
        m_max=5,
        d_par=3,
        m_par=2,
        in_bits=6,
        w_bits=7,
        out_bits=9,
        requant=Requant("shift", 6, "half_even", True, runtime=True),
        wide_port=True,
    )
    layers = [LayerConfig(d=10, m=5, n=4), LayerConfig(d=4, m=3, n=5), LayerConfig(d=7, m=1, n=3)]
    jobs, _, _ = check(cfg, layers, seed=5, in_gap=0.3, out_stall=0.3)
    for job, layer in zip(jobs, layers):
        assert len(job.writes) == 4 + cfg.groups(layer) * cfg.m_steps(layer)


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)  # testbenches cut short
@pytest.mark.parametrize(
    "break_what, message",
    [
        ("busy", "busy count of bank"),
        ("out_depth", "output FIFO"),
    ],
)
def test_simulation_assertions_fire(monkeypatch, break_what, message):
    """The engine's simulation-only checks are live: a busy counter one bit too narrow, or an
    output FIFO shallower than the credits assume, stops the simulation with the check's name."""
    from pqaccel.engines.pq import rtl

    if break_what == "busy":
        monkeypatch.setattr(rtl, "busy_bits_for", lambda rows: 1)
    else:
        monkeypatch.setattr(rtl, "CreditFIFO", shallow_output_fifo(2))
    import gc

    with pytest.raises(AssertionError, match=message):
        run_engine(
            preset("default"),
            [LayerConfig(d=32, m=8, n=12), LayerConfig(d=8, m=2, n=12)],
            out_stall=0.5,
            seed=1,
        )
    gc.collect()  # the interrupted testbench coroutines are finalized here, not in the next test


def test_checks_are_absent_from_the_emitted_verilog(tmp_path):
    """The emitted Verilog carries no assertions (they are simulation-only)."""
    from pqaccel.export import generate

    with open(generate(preset("default"), tmp_path)["verilog"]) as f:
        text = f.read()
    assert "assert" not in text and "$check" not in text
