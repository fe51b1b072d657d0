"""Property-based tests (Hypothesis): configurations and layers nobody picked by hand.

Strategies draw every engine parameter (v, k, c_max, m_max, every width from 2 to 16, metric,
requantization mode, rounding, saturation, run-time shift/ReLU, parallelism that does and does
not divide C, K and M, the wide port).  Properties:

* the golden model equals the naive loop reference;
* the whole engine in the Amaranth simulator equals the golden model, with random input gaps
  and output backpressure, at the ideal rate when free-running;
* the emitted Verilog on Verilator equals the golden model (few examples: each builds a model);
* an invalid configuration raises exactly one TypeError/ValueError that names the parameter.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (default; the example counts below) and ``large``
(10x).  Failing examples are stored in Hypothesis's database (``.hypothesis/``, not committed)
and replayed first on the next run.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from naive_reference import naive_forward
from pqaccel import fixedpoint as fx
from pqaccel.engines.pq import model
from pqaccel.config import METRICS, ROUNDINGS, LayerConfig, Parallelism, Requant, Widths
from pqaccel.engines.pq.config import EngineConfig, engine_from_dict

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("large", parent=settings.get_profile("ci"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
LARGE = os.environ.get("HYPOTHESIS_PROFILE") == "large"


def scaled(n):
    return n * 10 if LARGE else n


@st.composite
def engines(draw, max_c=12, max_m=12, max_k=16, runtime=None):
    """A valid :class:`EngineConfig` with every parameter drawn."""
    v = draw(st.integers(1, 9))
    k = draw(st.sampled_from([kk for kk in (2, 3, 4, 5, 8, 16, 32, 64) if kk <= max_k]))
    c_max = draw(st.integers(1, max_c))
    m_max = draw(st.integers(1, max_m))
    bits = st.integers(2, 16)
    widths = Widths(draw(bits), draw(bits), draw(bits), draw(bits))
    k_par = draw(st.sampled_from([d for d in range(1, k + 1) if k % d == 0]))
    par = Parallelism(
        c_par=draw(st.integers(1, c_max)), k_par=k_par, m_par=draw(st.integers(1, m_max))
    )
    lo, hi = fx.signed_range(widths.lut_bits)
    acc_bits = fx.signed_bits_for(c_max * lo, c_max * hi)
    mode = draw(st.sampled_from(["raw", "shift"]))
    if runtime is None:
        runtime = draw(st.booleans())
    if mode == "raw":
        rq = Requant(mode="raw")
    else:
        rq = Requant(
            mode="shift",
            shift=draw(st.integers(0, acc_bits - 1)),
            rounding=draw(st.sampled_from(ROUNDINGS)),
            saturate=draw(st.booleans()),
            runtime=runtime,
        )
    return EngineConfig(
        v=v,
        k=k,
        c_max=c_max,
        m_max=m_max,
        par=par,
        widths=widths,
        metric=draw(st.sampled_from(METRICS)),
        requant=rq,
        wide_port=draw(st.booleans()),
    )


@st.composite
def layers(draw, cfg, max_n=6):
    return LayerConfig(
        d=draw(st.integers(1, cfg.v * cfg.c_max)),
        m=draw(st.integers(1, cfg.m_max)),
        n=draw(st.integers(1, max_n)),
    )


def _settings_for_layer(cfg, rng):
    if not cfg.requant.runtime:
        return {}
    return {"shift": int(rng.integers(0, cfg.requant.shift + 1)), "relu": bool(rng.random() < 0.5)}


@given(data=st.data())
@settings(max_examples=scaled(300))
def test_golden_model_equals_naive_reference(data):
    cfg = data.draw(engines())
    layer = data.draw(layers(cfg))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    protos, lut = model.random_tables(cfg, layer, rng)
    x = model.random_inputs(cfg, layer, rng)
    if data.draw(st.booleans()):  # ties: inputs equal to prototypes
        for c in range(cfg.subspaces(layer)):
            seg = x[:, c * cfg.v : (c + 1) * cfg.v]
            lo, hi = fx.signed_range(cfg.widths.in_bits)
            seg[:] = np.clip(protos[c, 0, : seg.shape[1]], lo, hi)
    extra = _settings_for_layer(cfg, rng)
    got = model.forward(cfg, x, protos, lut, **extra)
    want = np.array(
        naive_forward(cfg, x.tolist(), protos.tolist(), lut.tolist(), **extra), dtype=np.int64
    )
    assert np.array_equal(got, want)


@given(data=st.data())
@settings(max_examples=scaled(40))
def test_engine_in_amaranth_simulator_equals_model(data):
    """Two layers back to back (the second's tables load while the first computes); the first
    under random gaps and backpressure, the second free-running at the ideal rate."""
    from engine_tb import run_engine

    cfg = data.draw(engines(max_c=6, max_m=6, max_k=8))
    l1 = data.draw(layers(cfg, max_n=4))
    l2 = data.draw(layers(cfg, max_n=6))
    gap = data.draw(st.sampled_from([0.0, 0.3]))
    seed = data.draw(st.integers(0, 1000))
    jobs, outputs, stats = run_engine(cfg, [l1, l2], seed=seed, in_gap=gap, out_stall=gap)
    for job, out in zip(jobs, outputs):
        assert job.check(out) == []
    assert len(outputs[1]) == jobs[1].out_beats


@given(data=st.data())
@settings(max_examples=scaled(3))
def test_verilog_on_verilator_equals_model(data, tmp_path_factory):
    from pqaccel.export import generate
    from pqaccel.sim.runner import run_cosim, simulator_available

    if not simulator_available("verilator"):
        pytest.skip("verilator is not installed")
    cfg = data.draw(engines(max_c=6, max_m=6, max_k=8))
    l1, l2 = data.draw(layers(cfg, max_n=5)), data.draw(layers(cfg, max_n=8))
    tmp = tmp_path_factory.mktemp("hyp")
    files = generate(cfg, tmp / "rtl")
    result = run_cosim(
        files["verilog"],
        files["manifest"],
        sim="verilator",
        build_dir=tmp / "build",
        seed=data.draw(st.integers(0, 1000)),
        layers=[
            {"d": l1.d, "m": l1.m, "n": l1.n, "in_gap": 0.3, "out_stall": 0.3},
            {"d": l2.d, "m": l2.m, "n": l2.n, "in_gap": 0.0, "out_stall": 0.0},
        ],
    )
    for layer in result["layers"]:
        assert layer["mismatches"] == 0, layer["first_mismatches"]


#: (parameter path, a strategy of invalid values, the words the message must contain)
INVALID = [
    ("v", st.one_of(st.integers(max_value=0), st.integers(min_value=10**4)), "v must be"),
    ("k", st.integers(max_value=1), "k must be"),
    ("c_max", st.integers(max_value=0), "c_max must be"),
    ("m_max", st.integers(max_value=0), "m_max must be"),
    ("metric", st.text(max_size=5).filter(lambda s: s not in METRICS), "metric must be"),
    (
        "widths.in_bits",
        st.one_of(st.integers(max_value=1), st.integers(min_value=33)),
        "in_bits must be",
    ),
    (
        "widths.lut_bits",
        st.one_of(st.integers(max_value=1), st.integers(min_value=33)),
        "lut_bits must be",
    ),
    ("par.c_par", st.integers(max_value=0), "c_par must be"),
    ("par.m_par", st.integers(max_value=0), "m_par must be"),
    (
        "requant.rounding",
        st.text(max_size=5).filter(lambda s: s not in ROUNDINGS),
        "rounding must be",
    ),
    ("requant.shift", st.integers(min_value=41), "requant.shift must be"),
    ("wide_port", st.integers(), "wide_port must be a boolean"),
    ("v", st.one_of(st.floats(), st.text(max_size=3)), "v must be"),
]


@pytest.mark.parametrize(
    "path, values, words", INVALID, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(INVALID)]
)
@given(data=st.data())
@settings(max_examples=scaled(25))
def test_invalid_configuration_raises_one_clear_error(path, values, words, data):
    value = data.draw(values)
    assume(not (path == "wide_port" and isinstance(value, bool)))
    section, _, name = path.rpartition(".")
    d = {section: {name: value}} if section else {path: value}
    with pytest.raises((TypeError, ValueError)) as info:
        engine_from_dict(d)
    message = str(info.value)
    assert words in message and "\n" not in message
    assert repr(value) in message or str(value) in message or words.startswith("wide_port")
