"""Networks: ONNX import against onnxruntime, rejected models, the integer network model against a
naive reference, seeded calibration, the bundle, and the ``net`` commands."""

import json
import math
from fractions import Fraction
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import Parallelism, Requant, Widths
from pqaccel.presets import preset
from pqaccel.engines.pq.layer import refit_tables
from pqaccel.net import conversion, evaluation, intmodel
from pqaccel.net.layer import qmax
from pqaccel.net.bundle import load_bundle, save_bundle
from pqaccel.net.graph import UnsupportedModel, load_onnx, run_float

from naive_reference import naive_forward, naive_requant

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "models", "digits_resnet.onnx")


def make_model(nodes, inits, in_shape, out_name, batch="N"):
    rng_inits = [
        numpy_helper.from_array(
            np.asarray(a, np.int64 if np.asarray(a).dtype.kind == "i" else np.float32), n
        )
        for n, a in inits.items()
    ]
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *in_shape])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)],
        rng_inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def ort_run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.astype(np.float32)})[0]


def r(*shape, seed=0):
    return np.random.default_rng(seed + sum(shape)).normal(size=shape)


def conv(name, x, y, w, **kw):
    return helper.make_node("Conv", [x, w, w + "b"], [y], name=name, **kw)


# every supported operator, with its attributes, in small graphs
GRAPHS = {
    "conv_bn_relu": (
        lambda: make_model(
            [
                conv("c", "x", "c", "w", kernel_shape=[5, 3], strides=[2, 1], pads=[2, 0, 1, 1]),
                helper.make_node(
                    "BatchNormalization",
                    ["c", "g", "be", "mu", "var"],
                    ["bn"],
                    name="bn",
                    epsilon=1e-3,
                ),
                helper.make_node("Relu", ["bn"], ["y"], name="relu"),
            ],
            {
                "w": r(4, 3, 5, 3),
                "wb": r(4),
                "g": r(4) + 2,
                "be": r(4),
                "mu": r(4),
                "var": np.abs(r(4)) + 0.5,
            },
            (3, 9, 8),
            "y",
        ),
        (2, 3, 9, 8),
    ),
    "pools": (
        lambda: make_model(
            [
                conv("c", "x", "c", "w", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                helper.make_node(
                    "MaxPool",
                    ["c"],
                    ["mp"],
                    name="mp",
                    kernel_shape=[3, 3],
                    strides=[2, 2],
                    pads=[1, 1, 1, 1],
                ),
                helper.make_node(
                    "AveragePool",
                    ["mp"],
                    ["ap"],
                    name="ap",
                    kernel_shape=[2, 2],
                    strides=[1, 1],
                    pads=[0, 0, 1, 1],
                    count_include_pad=0,
                ),
                helper.make_node(
                    "AveragePool",
                    ["ap"],
                    ["y"],
                    name="ap2",
                    kernel_shape=[3, 2],
                    strides=[2, 1],
                    pads=[1, 1, 1, 0],
                    count_include_pad=1,
                ),
            ],
            {"w": r(5, 2, 3, 3), "wb": r(5)},
            (2, 11, 10),
            "y",
        ),
        (3, 2, 11, 10),
    ),
    "residual_gap_gemm": (
        lambda: make_model(
            [
                conv("c1", "x", "c1", "w1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                helper.make_node("Relu", ["c1"], ["r1"], name="r1"),
                conv("c2", "r1", "c2", "w2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                helper.make_node("Add", ["c2", "c1"], ["a"], name="add"),
                helper.make_node("GlobalAveragePool", ["a"], ["gap"], name="gap"),
                helper.make_node("Flatten", ["gap"], ["f"], name="flat", axis=1),
                helper.make_node(
                    "Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1, alpha=0.5, beta=2.0
                ),
            ],
            {
                "w1": r(6, 3, 3, 3),
                "w1b": r(6),
                "w2": r(6, 6, 3, 3),
                "w2b": r(6),
                "fw": r(4, 6),
                "fb": r(4),
            },
            (3, 6, 6),
            "y",
        ),
        (2, 3, 6, 6),
    ),
    "matmul_add_reshape": (
        lambda: make_model(
            [
                conv("c", "x", "c", "w", kernel_shape=[1, 1]),
                helper.make_node("Reshape", ["c", "shape"], ["f"], name="reshape"),
                helper.make_node("Identity", ["f"], ["f2"], name="id"),
                helper.make_node("MatMul", ["f2", "mw"], ["mm"], name="mm"),
                helper.make_node("Add", ["mm", "mb"], ["y"], name="bias"),
            ],
            {
                "w": r(2, 3, 1, 1),
                "wb": r(2),
                "shape": np.array([0, -1]),
                "mw": r(2 * 4 * 4, 5),
                "mb": r(5),
            },
            (3, 4, 4),
            "y",
        ),
        (4, 3, 4, 4),
    ),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_import_matches_onnxruntime(name):
    build, shape = GRAPHS[name]
    model = build()
    x = np.random.default_rng(7).normal(size=shape)
    got = run_float(load_onnx(model), x)
    want = ort_run(model, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 2e-4 * max(1.0, np.abs(want).max())


def test_demo_network_matches_onnxruntime():
    """The digits demo network on its whole test split: max |logit difference| below 1e-4 (float32
    in onnxruntime against float64 here) and the same predictions."""
    from pqaccel.net.datasets import load_dataset

    data = load_dataset("digits")
    net = load_onnx(DIGITS)
    model = onnx.load(DIGITS)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": data.test_x.astype(np.float32)})[0]
    got = run_float(net, data.test_x)
    assert np.abs(got - ref).max() < 1e-4
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert evaluation.accuracy(got, data.test_y) > 0.95


def _one(node, inits=None, shape=(2, 5, 5), out="y", batch="N"):
    return make_model([node], inits or {}, shape, out, batch)


@pytest.mark.parametrize(
    "model, message",
    [
        (
            lambda: _one(helper.make_node("Sigmoid", ["x"], ["y"], name="sig")),
            "1 node(s) use operators pqaccel does not import: 'sig' (Sigmoid); supported "
            "operators: Conv,",
        ),
        (
            lambda: make_model(
                [
                    helper.make_node("Sigmoid", ["x"], ["t"], name="sig"),
                    helper.make_node("Relu", ["t"], ["u"], name="ok"),
                    helper.make_node("Tanh", ["u"], ["y"], name="th"),
                ],
                {},
                (2, 5, 5),
                "y",
                "N",
            ),
            "2 node(s) use operators pqaccel does not import: 'sig' (Sigmoid), 'th' (Tanh); "
            "supported operators:",
        ),
        (
            lambda: _one(
                helper.make_node("Conv", ["x", "w"], ["y"], name="g", group=2, kernel_shape=[1, 1]),
                {"w": r(4, 1, 1, 1)},
            ),
            "node 'g' (Conv): group=2 is not supported (only group=1)",
        ),
        (
            lambda: _one(
                helper.make_node(
                    "Conv", ["x", "w"], ["y"], name="d", dilations=[2, 2], kernel_shape=[3, 3]
                ),
                {"w": r(4, 2, 3, 3)},
            ),
            "node 'd' (Conv): dilations=[2, 2] are not supported (only 1)",
        ),
        (
            lambda: _one(
                helper.make_node(
                    "Conv", ["x", "w"], ["y"], name="a", auto_pad="SAME_UPPER", kernel_shape=[3, 3]
                ),
                {"w": r(4, 2, 3, 3)},
            ),
            "node 'a' (Conv): auto_pad=b'SAME_UPPER' is not supported",
        ),
        (
            lambda: _one(
                helper.make_node(
                    "MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], ceil_mode=1
                )
            ),
            "node 'p' (MaxPool): ceil_mode=1 is not supported",
        ),
        (
            lambda: _one(
                helper.make_node("Reshape", ["x", "s"], ["y"], name="rs"),
                {"s": np.array([1, 2, 25])},
            ),
            "node 'rs' (Reshape): only a reshape to (batch, features) is supported, got shape [1, "
            "2, 25]",
        ),
        (
            lambda: make_model(
                [helper.make_node("Relu", ["x"], ["y"], name="r")], {}, ("H", 5, 5), "y"
            ),
            "input 'x': dimension 1 is dynamic (H); only the batch dimension may be",
        ),
        (
            lambda: _one(helper.make_node("Add", ["x", "c"], ["y"], name="ac"), {"c": r(1)}),
            "node 'ac' (Add): adding a constant is supported only as the bias of a MatMul/Gemm",
        ),
    ],
)
def test_rejected_models(model, message):
    with pytest.raises(UnsupportedModel) as e:
        load_onnx(model())
    assert str(e.value).startswith(message), str(e.value)


# -- the integer network model --------------------------------------------------------------------


def small_engine(k=8, v=9, bits=8, metric="l1", wide=False, par=(1, 1, 1)):
    return EngineConfig(
        v=v,
        k=k,
        c_max=8,
        m_max=8,
        par=Parallelism(*par),
        metric=metric,
        widths=Widths(8, bits, bits, 8),
        requant=Requant("shift", 10, "half_up", True, runtime=True),
        wide_port=wide,
    )


def tiny_net():
    """conv -> relu -> conv, residual add with the first conv, relu, maxpool, avgpool, gap, fc."""
    model = make_model(
        [
            conv("c1", "x", "c1", "w1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c1"], ["r1"], name="r1"),
            conv("c2", "r1", "c2", "w2", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("Add", ["c2", "r1"], ["a"], name="add"),
            helper.make_node("Relu", ["a"], ["r2"], name="r2"),
            helper.make_node(
                "MaxPool", ["r2"], ["mp"], name="mp", kernel_shape=[2, 2], strides=[2, 2]
            ),
            helper.make_node(
                "AveragePool",
                ["mp"],
                ["ap"],
                name="ap",
                kernel_shape=[2, 2],
                strides=[1, 1],
                pads=[0, 0, 1, 1],
            ),
            helper.make_node("GlobalAveragePool", ["ap"], ["gap"], name="gap"),
            helper.make_node("Flatten", ["gap"], ["f"], name="flat"),
            helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc"),
        ],
        {
            "w1": r(4, 1, 3, 3),
            "w1b": r(4),
            "w2": r(4, 4, 3, 3) * 0.3,
            "w2b": r(4),
            "fw": r(4, 3),
            "fb": r(3),
        },
        (1, 6, 6),
        "y",
    )
    return load_onnx(model)


def naive_run_int(qn, x):
    """The integer network with Python loops only (no im2col, no vectorization)."""
    e = qn.engine
    q = 2 ** (e.widths.in_bits - 1) - 1
    env = {
        qn.net.input: [
            [
                [
                    [int(min(q, max(-q, round_half_even(v / qn.in_scale)))) for v in row]
                    for row in ch
                ]
                for ch in img
            ]
            for img in x.tolist()
        ]
    }
    for op in qn.net.ops:
        a = env[op.inputs[0]]
        if op.kind == "conv":
            lq = qn.layers[op.name]
            kh, kw = op.w.shape[2:]
            t, ly, b, rr = op.pads
            out = []
            for img in a:
                c, h, w = len(img), len(img[0]), len(img[0][0])
                ho, wo = (
                    (h + t + b - kh) // op.stride[0] + 1,
                    (w + ly + rr - kw) // op.stride[1] + 1,
                )
                rows = []
                for i in range(ho):
                    for j in range(wo):
                        row = []
                        for ci in range(c):
                            for di in range(kh):
                                for dj in range(kw):
                                    y, xx = i * op.stride[0] + di - t, j * op.stride[1] + dj - ly
                                    row.append(img[ci][y][xx] if 0 <= y < h and 0 <= xx < w else 0)
                        rows.append(row)
                res = layer_naive(qn, lq, rows)
                out.append(
                    [
                        [[res[i * wo + j][m] for j in range(wo)] for i in range(ho)]
                        for m in range(lq.m)
                    ]
                )
            env[op.output] = out
        elif op.kind == "gemm":
            env[op.output] = layer_naive(qn, qn.layers[op.name], a)
        elif op.kind == "relu":
            env[op.output] = deep_map(lambda v: max(v, 0), a)  # idempotent after a fused ReLU
        elif op.kind == "add":
            ma, mb = qn.add_mult[op.name]
            bt = env[op.inputs[1]]
            env[op.output] = deep_zip(
                lambda u, v: min(q, max(-q - 1, (u * ma + v * mb + 2**15) // 2**16)), a, bt
            )
        elif op.kind in ("maxpool", "avgpool"):
            kh, kw = op.kernel
            t, ly, b, rr = op.pads
            out = []
            for img in a:
                chans = []
                for ch in img:
                    h, w = len(ch), len(ch[0])
                    ho, wo = (
                        (h + t + b - kh) // op.stride[0] + 1,
                        (w + ly + rr - kw) // op.stride[1] + 1,
                    )
                    plane = []
                    for i in range(ho):
                        line = []
                        for j in range(wo):
                            vals = [
                                ch[i * op.stride[0] + di - t][j * op.stride[1] + dj - ly]
                                for di in range(kh)
                                for dj in range(kw)
                                if 0 <= i * op.stride[0] + di - t < h
                                and 0 <= j * op.stride[1] + dj - ly < w
                            ]
                            if op.kind == "maxpool":
                                line.append(max(vals))
                            else:
                                n = kh * kw if op.count_include_pad else len(vals)
                                line.append(math.floor(Fraction(sum(vals), n) + Fraction(1, 2)))
                        plane.append(line)
                    chans.append(plane)
                out.append(chans)
            env[op.output] = out
        elif op.kind == "gap":
            env[op.output] = [
                [
                    [
                        [
                            math.floor(
                                Fraction(sum(sum(r) for r in ch), len(ch) * len(ch[0]))
                                + Fraction(1, 2)
                            )
                        ]
                    ]
                    for ch in img
                ]
                for img in a
            ]
        elif op.kind == "flatten":
            env[op.output] = [flatten(img) for img in a]
    return env[qn.net.output]


def layer_naive(qn, lq, rows):
    e = qn.engine
    if lq.mode == "pq":
        return naive_forward(e, rows, lq.protos.tolist(), lq.lut.tolist(), lq.shift, lq.relu)
    q = 2 ** (e.widths.in_bits - 1) - 1
    w = lq.w.tolist()
    out = []
    for row in rows:
        xx = list(row) + [q] * lq.bias_cols
        acc = [sum(xx[i] * w[i][m] for i in range(len(xx))) for m in range(lq.m)]
        out.append([naive_requant(e, a, lq.shift, lq.relu) for a in acc])
    return out


def round_half_even(v):
    return round(v)


def deep_map(f, a):
    return [deep_map(f, e) for e in a] if isinstance(a, list) else f(a)


def deep_zip(f, a, b):
    return [deep_zip(f, u, v) for u, v in zip(a, b)] if isinstance(a, list) else f(a, b)


def flatten(a):
    return [v for e in a for v in flatten(e)] if isinstance(a, list) else [a]


@pytest.mark.parametrize("keep, metric", [((), "l1"), (("c1",), "l2"), (("fc",), "chebyshev")])
def test_integer_network_equals_naive_reference(keep, metric):
    net = tiny_net()
    rng = np.random.default_rng(5)
    calib = rng.normal(size=(40, 1, 6, 6))
    x = rng.normal(size=(5, 1, 6, 6))
    qn = conversion.convert(net, small_engine(metric=metric), calib, keep=keep)
    got = intmodel.run_int(qn, x)
    want = naive_run_int(qn, x)
    assert got.tolist() == want
    assert len({tuple(r) for r in got.tolist()}) > 1  # not a constant network
    assert {lq.mode for lq in qn.engine_layers()} == ({"pq", "mac"} if keep else {"pq"})
    assert any(lq.relu for lq in qn.engine_layers()) and not all(
        lq.relu for lq in qn.engine_layers()
    )


def test_calibration_is_seeded():
    net = tiny_net()
    calib = np.random.default_rng(1).normal(size=(40, 1, 6, 6))
    a = conversion.convert(net, small_engine(), calib, seed=3)
    b = conversion.convert(net, small_engine(), calib, seed=3)
    c = conversion.convert(net, small_engine(), calib, seed=4)
    for name in a.layers:
        assert np.array_equal(a.layers[name].protos, b.layers[name].protos)
        assert np.array_equal(a.layers[name].lut, b.layers[name].lut)
    assert any(not np.array_equal(a.layers[n].protos, c.layers[n].protos) for n in a.layers)


def test_refit_tables_is_the_ridge_least_squares_solution():
    """Block coordinate descent converges to the closed-form ridge solution (built here from the
    one-hot design matrix with numpy's solver), and never raises the objective."""
    rng = np.random.default_rng(5)
    n, c, k, m = 300, 3, 4, 2
    codes = rng.integers(0, k, size=(n, c))
    target = rng.normal(size=(n, m)) * 3
    lut0 = rng.normal(size=(c, k, m))
    ridge = 2.0
    a = np.zeros((n, c * k))
    a[np.arange(n)[:, None], np.arange(c) * k + codes] = 1
    exact = np.linalg.solve(
        a.T @ a + ridge * np.eye(c * k), a.T @ target + ridge * lut0.reshape(c * k, m)
    )

    def objective(lut):
        pred = lut[np.arange(c)[None, :], codes, :].sum(axis=1)
        return ((pred - target) ** 2).sum() + ridge * ((lut - lut0) ** 2).sum()

    prev = objective(lut0)
    for sweeps in (1, 2, 4, 8):
        cur = objective(refit_tables(codes, target, lut0, ridge=ridge, sweeps=sweeps))
        assert cur <= prev + 1e-9
        prev = cur
    fitted = refit_tables(codes, target, lut0, ridge=ridge, sweeps=3000)
    assert np.abs(fitted.reshape(c * k, m) - exact).max() < 1e-6


def test_refit_brings_pq_outputs_closer_to_the_float_network():
    """With ``refit`` the integer network's logits are closer to the float network's on held-out
    images (the tables absorb the PQ error), and the converted network is still run exactly by
    the integer model (the tables are integers of the same widths)."""
    net = tiny_net()
    rng = np.random.default_rng(6)
    calib, x = rng.normal(size=(60, 1, 6, 6)), rng.normal(size=(30, 1, 6, 6))
    ref = run_float(net, x)
    err = {}
    for refit in (False, True):
        qn = conversion.convert(net, small_engine(), calib, keep=("c1",), refit=refit)
        out = intmodel.run_int(qn, x) * qn.scales[net.output]
        err[refit] = np.abs(out - ref).mean()
        ql = qmax(qn.engine.widths.lut_bits)
        assert all(np.abs(lq.lut).max() <= ql for lq in qn.engine_layers() if lq.mode == "pq")
    assert err[True] < err[False]


def test_bundle_roundtrip(tmp_path):
    net = tiny_net()
    rng = np.random.default_rng(2)
    calib, x = rng.normal(size=(40, 1, 6, 6)), rng.normal(size=(6, 1, 6, 6))
    qn = conversion.convert(net, small_engine(), calib, keep=("fc",))
    (tmp_path / "mine.txt").write_text("keep")
    save_bundle(qn, tmp_path)
    back = load_bundle(tmp_path)
    assert np.array_equal(intmodel.run_int(back, x), intmodel.run_int(qn, x))
    assert np.allclose(evaluation.run_pq_float(back, x), evaluation.run_pq_float(qn, x))
    assert (tmp_path / "mine.txt").read_text() == "keep"
    save_bundle(qn, tmp_path)  # its own files may be replaced
    with pytest.raises(ValueError, match=r"is not a network bundle: network.json is missing"):
        load_bundle(tmp_path / "nope")


def test_layer_that_does_not_fit():
    net = load_onnx(DIGITS)
    with pytest.raises(
        ValueError,
        match=r"^layer 's3.conv1' \(d=288, m=64\) does not fit the engine: m must be "
        r"an integer from 1 to m_max=32, got 64$",
    ):
        conversion.check_fit(net, preset("net-v9k16").replace(m_max=32))
    with pytest.raises(
        ValueError,
        match=r"^this engine cannot run a network: it lacks requant.runtime=true .*; network "
        r"presets: net-v9k16",
    ):
        conversion.convert(net, preset("default"), np.zeros((1, 1, 8, 8)))


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "pqaccel", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_net_convert_and_eval(tmp_path):
    """The digits demo network, converted and evaluated end to end: the integer PQ network with
    the first and last layer kept is accurate (v=3, K=64), the int8 MAC network too."""
    out = tmp_path / "bundle"
    rc, stdout, err = run_cli(
        "net",
        "convert",
        "--onnx",
        DIGITS,
        "--dataset",
        "digits",
        "--set",
        "v=3",
        "--set",
        "c_max=192",
        "--set",
        "k=64",
        "--set",
        "par.k_par=16",
        "--keep",
        "first,last",
        "--out",
        str(out),
    )
    assert rc == 0, err
    assert "s3.conv2" in stdout and os.path.exists(out / "arrays.npz")
    rc, stdout, err = run_cli(
        "net", "eval", "--bundle", str(out), "--json", str(tmp_path / "e.json")
    )
    assert rc == 0, err
    r = json.loads((tmp_path / "e.json").read_text())
    assert r["float"] == r["float_onnxruntime"] and r["float_max_abs_diff"] < 1e-4
    assert r["int8_mac"] >= r["float"] - 0.02
    assert r["pq_int"] >= r["float"] - 0.03
    assert set(r["layer_rel_rms_error"]) == {op.name for op in load_onnx(DIGITS).matmul_ops()}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--keep", "nope"], "--keep names unknown layer 'nope'; layers: first, last, stem,"),
        (
            ["--preset", "default"],
            "this engine cannot run a network: it lacks requant.runtime=true",
        ),
        (
            ["--set", "par.m_par=8", "--set", "m_max=8"],
            "layer 'stem' (d=9, m=16) does not fit the engine: m must be an integer from 1 to "
            "m_max=8",
        ),
    ],
)
def test_net_convert_errors(tmp_path, args, message):
    rc, _, err = run_cli(
        "net",
        "convert",
        "--onnx",
        DIGITS,
        "--dataset",
        "digits",
        "--out",
        str(tmp_path / "b"),
        *args,
    )
    assert rc == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "b").exists()


def test_net_convert_bad_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    rc, _, err = run_cli(
        "net", "convert", "--onnx", str(bad), "--dataset", "digits", "--out", str(tmp_path / "b")
    )
    assert rc == 2 and "cannot be read" in err and "Traceback" not in err
    rc, _, err = run_cli(
        "net", "convert", "--onnx", DIGITS, "--dataset", "mnist5k", "--out", str(tmp_path / "b")
    )
    assert (
        rc == 2
        and "takes inputs of shape (1, 8, 8), but dataset 'mnist5k' has images of shape (1, 28, 28)"
        in err
    )


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_network_on_the_rtl(sim, tmp_path):
    """A tiny residual network with every host operation: its PQ layers run on the emitted engine
    with the next layer's tables loading during compute, under random gaps and backpressure; every
    layer's outputs and the predictions equal the golden network model, and cycles are counted."""
    from pqaccel.net.rtlrun import run_rtl
    from pqaccel.sim.runner import simulator_available

    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    net = tiny_net()
    rng = np.random.default_rng(8)
    calib, x = rng.normal(size=(40, 1, 6, 6)), rng.normal(size=(3, 1, 6, 6))
    qn = conversion.convert(net, small_engine(), calib, keep=("c1",))
    save_bundle(qn, tmp_path / "b")
    r = run_rtl(
        load_bundle(tmp_path / "b"), tmp_path / "b", x, sim=sim, in_gap=0.3, out_stall=0.3, seed=1
    )
    assert r["mismatch"] is None and r["equal_to_golden"]
    assert r["predictions"] == intmodel.run_int(qn, x).argmax(axis=1).tolist()
    assert [ly["layer"] for ly in r["layers"]] == ["c2", "fc"]
    for ly in r["layers"]:
        assert ly["compute_cycles"] >= ly["ideal_compute_cycles"] > 0
        assert ly["load_cycles"] >= ly["writes"] > 0


@pytest.mark.parametrize("wide,link", [(False, None), (True, None), (True, 5)])
def test_analytical_model_matches_the_rtl(tmp_path, wide, link):
    """The cycle model (compute + loads, overlapped) against the cycles measured on the RTL for a
    free-running batch, with the narrow and the wide table port, and with the wide port behind a
    link of a fifth of its word per cycle (loads then dominate): every layer's compute exactly,
    the writes exactly, the total within 2 %."""
    from pqaccel.net.rtlrun import compare_model, run_rtl
    from pqaccel.sim.runner import simulator_available

    if not simulator_available("verilator"):
        pytest.skip("verilator is not installed")
    net = tiny_net()
    rng = np.random.default_rng(9)
    calib, x = rng.normal(size=(40, 1, 6, 6)), rng.normal(size=(4, 1, 6, 6))
    qn = conversion.convert(net, small_engine(wide=wide, par=(2, 4, 2)), calib)
    save_bundle(qn, tmp_path / "b")
    load_bits = None
    if link:
        from pqaccel.net.perf import word_bits

        load_bits = max(1, word_bits(qn.engine) // link)
    r = run_rtl(qn, tmp_path / "b", x, sim="verilator", load_bits=load_bits)
    assert r["mismatch"] is None and r["equal_to_golden"]
    model = compare_model(qn, r)
    assert [ly["compute"] for ly in model["layers"]] == [ly["compute_cycles"] for ly in r["layers"]]
    assert abs(model["total"] - r["cycles"]) <= 0.02 * r["cycles"]
    assert [ly["writes"] for ly in model["layers"]] == [ly["writes"] for ly in r["layers"]]
    slack = 2 * (link or 1)  # the link's buffer may hold up to a word when a load starts
    for ly, ml in zip(r["layers"], model["layers"]):
        assert ly["load_cycles"] >= ml["load"] - slack
    if link:
        # the link, not the port, sets the load time: every layer's loads take >= link x writes
        assert all(ml["load"] >= link * ml["writes"] for ml in model["layers"])
        unlimited = run_rtl(qn, tmp_path / "b", x, sim="verilator")
        assert r["cycles"] > unlimited["cycles"]


def test_int8_mac_network_on_the_mac_engine(tmp_path):
    """The int8 MAC network (every layer conventional, biases on extra input columns) on the
    emitted MAC engine: bit-exact, and its cycles as the analytical model says."""
    from pqaccel.net.rtlrun import compare_model, rtl_engine, run_rtl
    from pqaccel.engines.mac.config import MacConfig
    from pqaccel.sim.runner import simulator_available

    if not simulator_available("verilator"):
        pytest.skip("verilator is not installed")
    net = tiny_net()
    rng = np.random.default_rng(10)
    calib, x = rng.normal(size=(40, 1, 6, 6)), rng.normal(size=(3, 1, 6, 6))
    qn = conversion.convert(net, small_engine(wide=True), calib, mac_only=True)
    assert isinstance(rtl_engine(qn), MacConfig) and rtl_engine(qn).wide_port
    save_bundle(qn, tmp_path / "b")
    r = run_rtl(qn, tmp_path / "b", x, sim="verilator", in_gap=0.2, out_stall=0.2, seed=3)
    assert r["mismatch"] is None and r["equal_to_golden"]
    assert [ly["layer"] for ly in r["layers"]] == ["c1", "c2", "fc"]
    free = run_rtl(qn, tmp_path / "b", x, sim="verilator")
    model = compare_model(qn, free)
    assert [ly["compute"] for ly in model["layers"]] == [
        ly["compute_cycles"] for ly in free["layers"]
    ]
    assert abs(model["total"] - free["cycles"]) <= 0.02 * free["cycles"]


def test_resnet20_cifar_shapes():
    """ResNet20 with seeded random weights: imports faithfully (against onnxruntime), has its 19
    convolutions, 2 projections and the classifier, and every layer fits the ResNet20 net preset."""
    from pqaccel.net.datasets import load_dataset
    from pqaccel.net.zoo import resnet20_onnx

    model = resnet20_onnx(seed=0)
    net = load_onnx(model)
    assert len(net.matmul_ops()) == 22 and net.input_shape == (3, 32, 32)
    x = load_dataset("cifar-shapes").test_x[:4]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": x.astype(np.float32)})[0]
    assert np.abs(run_float(net, x) - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())
    conversion.check_fit(net, preset("resnet20-v9k8-net"))
    assert resnet20_onnx(seed=0).SerializeToString() == model.SerializeToString()


def test_sweep_engine_widths():
    """A sweep point sets every width, so prototypes keep the activations' range; c_max follows
    the widest PQ layer."""
    from pqaccel.net.conversion import sweep_engine

    net = load_onnx(DIGITS)
    e = sweep_engine(preset("net-v9k16"), net, ["stem", "fc"], "l2", 3, 32, 5)
    assert e.widths == Widths(5, 5, 5, 5) and (e.v, e.k, e.metric) == (3, 32, "l2")
    assert e.c_max == 576 // 3 and e.requant.runtime and e.requant.shift < e.acc_bits


# -- ops added through the op table: Pad and Clip ------------------------------------------------


def _pad_node(name, x, y, pads, opset_input=True):
    return helper.make_node("Pad", [x, name + ".p"], [y], name=name, mode="constant")


PAD_CLIP = {
    # Pad before a Conv: folded into its padding
    "pad_conv_clip6": (
        lambda: make_model(
            [
                _pad_node("pd", "x", "xp", None),
                conv("c", "xp", "c", "w", kernel_shape=[3, 3]),
                helper.make_node("Clip", ["c", "lo", "hi"], ["y"], name="clip"),
            ],
            {
                "pd.p": np.array([0, 0, 1, 2, 0, 0, 1, 0]),
                "w": r(4, 2, 3, 3),
                "wb": r(4),
                "lo": np.array(0.0),
                "hi": np.array(0.5),
            },
            (2, 6, 5),
            "y",
        )
    ),
    # Pad before a pool (host), Clip with a negative lower bound (host)
    "pad_pool_clip": (
        lambda: make_model(
            [
                conv("c", "x", "c", "w", kernel_shape=[1, 1]),
                _pad_node("pd", "c", "cp", None),
                helper.make_node(
                    "MaxPool", ["cp"], ["m"], name="mp", kernel_shape=[2, 2], strides=[2, 2]
                ),
                helper.make_node("Clip", ["m", "lo", "hi"], ["y"], name="clip"),
            ],
            {
                "w": r(4, 2, 1, 1),
                "wb": r(4),
                "pd.p": np.array([0, 0, 1, 1, 0, 0, 1, 1]),
                "lo": np.array(-0.3),
                "hi": np.array(0.4),
            },
            (2, 6, 6),
            "y",
        )
    ),
}


@pytest.mark.parametrize("name", list(PAD_CLIP))
def test_pad_and_clip_against_onnxruntime(name):
    model = PAD_CLIP[name]()
    x = np.random.default_rng(3).normal(size=(3, 2, 6, 6 if name == "pad_pool_clip" else 5))
    net = load_onnx(model)
    got, ref = run_float(net, x), ort_run(model, x)
    assert np.abs(got - ref).max() < 1e-5
    kinds = [op.kind for op in net.ops]
    if name == "pad_conv_clip6":
        assert "pad" not in kinds and net.ops[0].pads == (
            1,
            2,
            1,
            0,
        )  # folded: top, left, bottom, right
    else:
        assert "pad" in kinds


def test_pad_and_clip_in_the_integer_model():
    """The folded Pad gives the same integer network as the padding written on the Conv; a Clip
    with lower bound 0 makes its layer's ReLU (the engine's) with the ceiling on the host grid."""
    x = np.random.default_rng(4).normal(size=(6, 2, 6, 5))
    engine = small_engine(k=4, v=9)
    padded = load_onnx(PAD_CLIP["pad_conv_clip6"]())
    direct = load_onnx(
        make_model(
            [
                conv("c", "x", "c", "w", kernel_shape=[3, 3], pads=[1, 2, 1, 0]),
                helper.make_node("Clip", ["c", "lo", "hi"], ["y"], name="clip"),
            ],
            {"w": r(4, 2, 3, 3), "wb": r(4), "lo": np.array(0.0), "hi": np.array(0.5)},
            (2, 6, 5),
            "y",
        )
    )
    qa = conversion.convert(padded, engine, x, seed=0)
    qb = conversion.convert(direct, engine, x, seed=0)
    assert qa.layers["c"].relu and qb.layers["c"].relu
    ya, yb = intmodel.run_int(qa, x, keep=True), intmodel.run_int(qb, x, keep=True)
    assert np.array_equal(ya["y"], yb["y"])
    s = qa.scales["c"]
    assert ya["y"].min() >= 0 and ya["y"].max() <= int(np.floor(0.5 / s + 1e-9))
    assert np.array_equal(ya["y"], np.clip(ya["c"], 0, int(np.floor(0.5 / s + 1e-9))))
    # host Pad and a two-sided Clip on the integers
    net = load_onnx(PAD_CLIP["pad_pool_clip"]())
    x2 = np.random.default_rng(5).normal(size=(6, 2, 6, 6))
    qn = conversion.convert(net, engine.replace(v=1, k=4), x2, seed=0)
    env = intmodel.run_int(qn, x2, keep=True)
    s = qn.scales["m"]
    lo, hi = int(np.ceil(-0.3 / s - 1e-9)), int(np.floor(0.4 / s + 1e-9))
    assert np.array_equal(env["y"], np.clip(env["m"], lo, hi))
    assert np.array_equal(env["cp"][:, :, 1:-1, 1:-1], env["c"]) and not env["cp"][:, :, 0].any()
