import json
import re

import pytest

from pqaccel import presets as cf
from pqaccel.engines.pq.config import engine_from_dict
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import LayerConfig, Parallelism, Requant, Widths


def test_init_derived():
    e = EngineConfig(
        v=3,
        k=64,
        c_max=10,
        m_max=20,
        par=Parallelism(c_par=3, k_par=16, m_par=8),
        widths=Widths(in_bits=5, proto_bits=7, lut_bits=6, out_bits=9),
        metric="l2",
    )
    assert e.idx_bits == 6
    # |x - p| <= 2**4 + 2**6 - 1 = 79 (x = -16, p = 63); l2 over v=3: 3 * 79**2 = 18723
    assert e.diff_max == 79
    assert e.dist_max == 18723 and e.dist_bits == 15
    # 10 entries of [-32, 31] -> [-320, 310] needs 10 signed bits
    assert e.acc_range == (-320, 310) and e.acc_bits == 10
    assert e.result_bits == 10  # raw mode: the exact accumulator
    assert e.k_steps == 4 and e.g_max == 4 and e.mt_max == 3
    layer = LayerConfig(d=20, m=17, n=5)
    assert e.subspaces(layer) == 7 and e.groups(layer) == 3 and e.m_steps(layer) == 3
    assert e.ideal_cycles_per_row(layer) == 3 * max(4, 3)


def test_dist_bits_per_metric():
    base = dict(v=9, k=2, widths=Widths(in_bits=2, proto_bits=2, lut_bits=2, out_bits=2))
    # |x-p| <= 3 for 2-bit operands
    assert EngineConfig(metric="l1", **base).dist_max == 27
    assert EngineConfig(metric="chebyshev", **base).dist_max == 3
    assert EngineConfig(metric="l2", **base).dist_max == 81
    assert EngineConfig(metric="l2", **base).dist_bits == 7


def test_presets():
    for name in cf.PRESETS:
        e = cf.preset(name)
        assert isinstance(e, EngineConfig)
    # every 3x3 convolution of ResNet20 fits the ResNet20 presets
    for name in ("resnet20-v9k8", "resnet20-v9k16", "resnet20-v9k8-lowbit"):
        e = cf.preset(name)
        for cin, cout in ((16, 16), (16, 32), (32, 32), (32, 64), (64, 64), (3, 16)):
            e.check_layer(LayerConfig(d=9 * cin, m=cout, n=64))
    low = cf.preset("resnet20-v9k8-lowbit")
    assert (low.widths.proto_bits, low.widths.lut_bits) == (6, 5)


# One test per class of invalid input, each matching the whole message.
@pytest.mark.parametrize(
    "make, exc, message",
    [
        (lambda: EngineConfig(v=0), ValueError, "v must be an integer from 1 to 64, got 0"),
        (lambda: EngineConfig(v="4"), TypeError, "v must be an integer, got '4'"),
        (lambda: EngineConfig(v=True), TypeError, "v must be an integer, got True"),
        (lambda: EngineConfig(k=1), ValueError, "k must be an integer from 2 to 256, got 1"),
        (lambda: EngineConfig(k=257), ValueError, "k must be an integer from 2 to 256, got 257"),
        (
            lambda: EngineConfig(c_max=0),
            ValueError,
            "c_max must be an integer from 1 to 1024, got 0",
        ),
        (
            lambda: EngineConfig(m_max=5000),
            ValueError,
            "m_max must be an integer from 1 to 4096, got 5000",
        ),
        (
            lambda: EngineConfig(c_max=4, par=Parallelism(c_par=5)),
            ValueError,
            "c_par must be an integer from 1 to c_max=4, got 5",
        ),
        (
            lambda: EngineConfig(k=16, par=Parallelism(k_par=3)),
            ValueError,
            "k_par must divide k=16 (one of [1, 2, 4, 8, 16]), got 3",
        ),
        (
            lambda: EngineConfig(m_max=8, par=Parallelism(m_par=9)),
            ValueError,
            "m_par must be an integer from 1 to m_max=8, got 9",
        ),
        (lambda: Parallelism(c_par=0), ValueError, "c_par must be a positive integer, got 0"),
        (lambda: Widths(in_bits=1), ValueError, "in_bits must be an integer from 2 to 16, got 1"),
        (
            lambda: Widths(proto_bits=17),
            ValueError,
            "proto_bits must be an integer from 2 to 16, got 17",
        ),
        (lambda: Widths(lut_bits=0), ValueError, "lut_bits must be an integer from 2 to 16, got 0"),
        (
            lambda: Widths(out_bits=20),
            ValueError,
            "out_bits must be an integer from 2 to 16, got 20",
        ),
        (
            lambda: EngineConfig(metric="cosine"),
            ValueError,
            "metric must be one of 'l1', 'l2', 'chebyshev', got 'cosine'",
        ),
        (
            lambda: Requant(mode="clip"),
            ValueError,
            "requant.mode must be one of 'raw', 'shift', got 'clip'",
        ),
        (
            lambda: Requant(rounding="up"),
            ValueError,
            "requant.rounding must be one of 'floor', 'half_up', 'half_even', got 'up'",
        ),
        (
            lambda: Requant(shift=-1),
            ValueError,
            "requant.shift must be an integer from 0 to 40, got -1",
        ),
        (lambda: Requant(saturate=1), TypeError, "requant.saturate must be a boolean, got 1"),
        (
            lambda: EngineConfig(
                c_max=4, widths=Widths(lut_bits=4), requant=Requant(mode="shift", shift=6)
            ),
            ValueError,
            "requant.shift must be an integer from 0 to 5 (accumulator width 6 bits), got 6",
        ),
        (
            lambda: EngineConfig(par={"c_par": 2}),
            TypeError,
            "par must be a Parallelism, got {'c_par': 2}",
        ),
        (lambda: LayerConfig(d=0, m=1), ValueError, "d must be a positive integer, got 0"),
        (lambda: LayerConfig(d=4, m=4, n=0), ValueError, "n must be a positive integer, got 0"),
        (
            lambda: EngineConfig(v=4, c_max=8).check_layer(LayerConfig(d=33, m=1)),
            ValueError,
            "d must be at most v*c_max=32 (C = ceil(d/v) <= c_max=8), got 33",
        ),
        (
            lambda: EngineConfig(m_max=8).check_layer(LayerConfig(d=4, m=9)),
            ValueError,
            "m must be an integer from 1 to m_max=8, got 9",
        ),
        (
            lambda: cf.preset("resnet50"),
            ValueError,
            "preset must be one of 'default', 'resnet20-v9k8', 'resnet20-v9k16', "
            "'resnet20-v9k8-lowbit', 'net-v9k16', 'resnet20-v9k8-net', 'resnet20-v9k8-net-lut6', "
            "'net-v3k32', 'net-v3k32-lut6', 'net-v3k32-6bit', "
            "got 'resnet50'",
        ),
        (
            lambda: engine_from_dict({"vv": 3}),
            ValueError,
            "unknown engine parameter 'vv'; valid: c_max, k, m_max, metric, par, requant, v, "
            "wide_port, widths",
        ),
        (
            lambda: engine_from_dict({"widths": {"in": 3}}),
            ValueError,
            "unknown widths parameter 'in'; valid: in_bits, lut_bits, out_bits, proto_bits",
        ),
    ],
)
def test_wrong(make, exc, message):
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        make()


def test_load_toml_and_json(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(
        '[engine]\npreset = "resnet20-v9k8"\nk = 16\n[engine.par]\nk_par = 4\n'
        "[layer]\nd = 144\nm = 16\nn = 10\n"
    )
    e, layer = cf.load_config_file(toml)
    assert e.k == 16 and e.par.k_par == 4 and e.par.c_par == 4 and e.v == 9
    assert layer == LayerConfig(d=144, m=16, n=10)
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"engine": e.to_dict()}))
    e2, layer2 = cf.load_config_file(js)
    assert e2 == e and layer2 is None


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.toml", "[engine\n", "is not valid"),
        ("bad.yaml", "", "must end in .toml or .json"),
        ("x.toml", "[engines]\n", "unknown section 'engines'"),
        ("y.toml", "[engine]\nk = 'many'\n", "k must be an integer, got 'many'"),
    ],
)
def test_bad_files(tmp_path, name, text, message):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        cf.load_config_file(p)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        cf.load_config_file(tmp_path / "nope.toml")


def test_pure_python_layers_import_no_hdl():
    """A user who only wants the configuration, the golden models or an address map does not
    pay for Amaranth."""
    import subprocess
    import sys

    code = (
        "import sys, pqaccel.config, pqaccel.presets, pqaccel.engines, pqaccel.engines.pq.model, "
        "pqaccel.engines.pq.job, "
        "pqaccel.engines.mac.job, pqaccel.addrmap, pqaccel.jobs, pqaccel.fixedpoint; "
        "print(sorted(m for m in sys.modules if m.startswith('amaranth')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_engine_protocol_shared_by_both_engines():
    """PQ and MAC configurations answer the same questions through one protocol: registered
    kinds, groups and output steps from group size and output lanes, the same layer checks,
    manifests round-trip through ``engine_from_manifest``, and the MAC side validates like the
    PQ side (a shift beyond the accumulator, unknown keys)."""
    from pqaccel.engines import ENGINES, engine_from_manifest
    from pqaccel.config import EngineBase
    from pqaccel.presets import preset
    from pqaccel.engines.mac.config import MacConfig

    pq = preset("resnet20-v9k8")
    mac = MacConfig.for_engine(pq)
    assert ENGINES["pq"].config is EngineConfig and ENGINES["mac"].config is MacConfig
    layer = LayerConfig(d=144, m=40)
    for cfg in (pq, mac):
        assert isinstance(cfg, EngineBase)
        assert cfg.groups(layer) == -(-144 // cfg.group_size)
        assert cfg.m_steps(layer) == -(-40 // cfg.out_lanes)
        assert cfg.ideal_cycles_per_row(layer) == cfg.groups(layer) * cfg.steps_per_group(layer)
        assert engine_from_manifest({"kind": cfg.kind, "engine": cfg.to_dict()}) == cfg
        with pytest.raises(ValueError, match=r"^m must be an integer from 1 to m_max=64, got 65$"):
            cfg.check_layer(LayerConfig(d=9, m=65))
    assert pq.ideal_cycles_per_row(layer) == 4 * max(
        1, 3
    )  # C=16 in groups of 4; k/k_par=1, 3 beats
    assert mac.ideal_cycles_per_row(layer) == 16 * 3  # 144/9 beats, 3 output beats each
    with pytest.raises(
        ValueError,
        match=r"^requant.shift must be an integer from 0 to 24 \(accumulator "
        r"width 25 bits\), got 30$",
    ):
        MacConfig(requant=Requant("shift", 30))
    with pytest.raises(ValueError, match="^unknown MAC engine parameter 'c_max'"):
        MacConfig.from_dict({"c_max": 3})
    with pytest.raises(ValueError, match="^manifest kind must be one of mac, pq, got 'fft'$"):
        engine_from_manifest({"kind": "fft", "engine": {}})
