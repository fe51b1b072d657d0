"""PQ-aware fine-tuning: the hard path is the integer network model, gradients reach every
trained parameter, a few epochs lift a k-means start; the user's own data files."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")  # the README's setup installs pqaccel[train]; CI has it

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from pqaccel.cli import main  # noqa: E402
from pqaccel.presets import preset  # noqa: E402
from pqaccel.net import conversion, evaluation, intmodel  # noqa: E402
from pqaccel.net.datasets import load_dataset  # noqa: E402
from pqaccel.net.finetune import (
    FinetuneSettings,
    _distance_gaps,
    finetune,
    hard_tensors,
    init_params,  # noqa: E402
    soft_forward,
    to_quant,
)
from pqaccel.net.graph import load_onnx  # noqa: E402

ROOT = Path(__file__).parent.parent
DIGITS = str(ROOT / "models" / "digits_resnet.onnx")


@pytest.fixture(scope="module")
def converted():
    net = load_onnx(DIGITS)
    data = load_dataset("digits")
    names = [op.name for op in net.matmul_ops()]
    qn = conversion.convert(
        net, preset("net-v9k16"), data.calib_x, keep=[names[0], names[-1]], seed=0
    )
    return qn, data


def test_parameters_rederive_the_converted_integers(converted):
    """init_params -> to_quant gives back exactly what the conversion wrote."""
    qn, _ = converted
    again = to_quant(qn, init_params(qn))
    for name, lq in qn.layers.items():
        lq2 = again.layers[name]
        if lq.mode == "pq":
            assert np.array_equal(lq.protos, lq2.protos) and np.array_equal(lq.lut, lq2.lut), name
        else:
            assert np.array_equal(lq.w, lq2.w) and lq.bias_cols == lq2.bias_cols, name


def _perturbed(qn, seed=1):
    rng = np.random.default_rng(seed)
    p = init_params(qn)
    for layer in p.values():
        for k, a in layer.items():
            layer[k] = a + rng.normal(scale=0.05 * (np.abs(a).mean() + 1e-3), size=np.shape(a))
    return p


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_training_forward_is_the_integer_model_bit_for_bit(converted, metric):
    """On parameters away from the conversion, the training forward's logits are run_int's
    integers times the output scale: rounding them back gives run_int exactly."""
    qn, data = converted
    if metric != qn.engine.metric:
        net = qn.net
        names = [op.name for op in net.matmul_ops()]
        qn = conversion.convert(
            net, qn.engine.replace(metric=metric), data.calib_x, keep=[names[0], names[-1]]
        )
    params = _perturbed(qn)
    q = to_quant(qn, params)
    x = data.test_x[:24]
    want = intmodel.run_int(q, x)
    jp = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    logits = np.asarray(
        soft_forward(qn, jp, hard_tensors(q, x), _distance_gaps(qn, data.calib_x[:16]))
    )
    got = np.rint(logits / qn.scales[qn.net.output]).astype(np.int64)
    assert np.array_equal(got, want)


def test_gradients_reach_every_trained_parameter(converted):
    qn, data = converted
    x, y = data.train_x[:8], data.train_y[:8]
    q = to_quant(qn, init_params(qn))
    hard = hard_tensors(q, x)
    gaps = _distance_gaps(qn, data.calib_x[:16])
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), init_params(qn))

    def loss(p):
        logits = soft_forward(qn, p, hard, gaps)
        return -jax.nn.log_softmax(logits)[jnp.arange(len(y)), y].mean()

    g = jax.grad(loss)(params)
    for name, lq in qn.layers.items():
        keys = ("P", "W", "b", "theta") if lq.mode == "pq" else ("W", "b")
        for k in keys:
            assert float(jnp.abs(g[name][k]).sum()) > 0, (name, k)


def test_a_few_epochs_lift_the_kmeans_start(converted):
    qn, data = converted
    x, y = data.split("test")
    before = evaluation.accuracy(intmodel.run_int(qn, x), y)
    tuned, history = finetune(qn, data, FinetuneSettings(epochs=2, seed=0))
    after = evaluation.accuracy(intmodel.run_int(tuned, x), y)
    assert len(history) == 2 and history[1]["loss"] < history[0]["loss"]
    assert after > before + 0.2, (before, after)
    # deterministic on the CPU: the same seed gives the same network
    again, _ = finetune(qn, data, FinetuneSettings(epochs=2, seed=0))
    for name, lq in tuned.layers.items():
        for k, a in lq.arrays().items():
            b = again.layers[name].arrays()[k]
            assert (a is None and b is None) or np.array_equal(a, b), (name, k)


def test_convert_finetune_writes_a_bundle_eval_takes(tmp_path, capsys):
    out = tmp_path / "ft"
    assert (
        main(
            [
                "net",
                "convert",
                "--onnx",
                DIGITS,
                "--dataset",
                "digits",
                "--keep",
                "first,last",
                "--finetune",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "epoch   1" in text and "fine-tuned in" in text
    meta = json.loads((out / "network.json").read_text())["meta"]
    assert meta["finetune"]["epochs"] == 1 and len(meta["finetune"]["history"]) == 1
    assert main(["net", "eval", "--bundle", str(out), "--json", str(tmp_path / "e.json")]) == 0
    r = json.loads((tmp_path / "e.json").read_text())
    assert r["pq_int"] > 0.5


# -- the user's own data
# ----------------------------------------------------------------------------


def _digits_file(path, test=True, **edits):
    data = load_dataset("digits")
    arrays = {
        "x": np.concatenate([data.train_x, data.calib_x]),
        "y": np.concatenate([data.train_y, data.calib_y]),
    }
    if test:
        arrays.update(x_test=data.test_x, y_test=data.test_y)
    arrays.update(edits)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_own_data_file_gives_the_builtin_figures(tmp_path, capsys):
    """The digits split saved as a file: same test images, same float accuracy as --dataset."""
    f = _digits_file(tmp_path / "d.npz")
    assert (
        main(
            [
                "net",
                "convert",
                "--onnx",
                DIGITS,
                "--data",
                str(f),
                "--mac-only",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    assert "its x_test/y_test for testing" in capsys.readouterr().out
    assert (
        main(["net", "eval", "--bundle", str(tmp_path / "b"), "--json", str(tmp_path / "own.json")])
        == 0
    )
    assert (
        main(
            [
                "net",
                "eval",
                "--bundle",
                str(tmp_path / "b"),
                "--dataset",
                "digits",
                "--json",
                str(tmp_path / "builtin.json"),
            ]
        )
        == 0
    )
    own, builtin = (json.loads((tmp_path / n).read_text()) for n in ("own.json", "builtin.json"))
    assert own["images"] == builtin["images"] == 500 and own["float"] == builtin["float"]


def test_flat_input_network_takes_images(tmp_path):
    """A 64-input MLP on the 8x8 digits: images are flattened for a network with a flat input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(64, 32)) * 0.2, rng.normal(size=(32, 10)) * 0.2
    g = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
            helper.make_node("Relu", ["h"], ["r"], name="r"),
            helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2"),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [
            numpy_helper.from_array(a.astype(np.float32), n)
            for n, a in (("w1", w1), ("b1", np.zeros(32)), ("w2", w2), ("b2", np.zeros(10)))
        ],
    )
    onnx.save(
        helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "mlp.onnx"
    )
    assert (
        main(
            [
                "net",
                "convert",
                "--onnx",
                str(tmp_path / "mlp.onnx"),
                "--dataset",
                "digits",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    assert main(["net", "eval", "--bundle", str(tmp_path / "b")]) == 0


BAD_FILES = {
    "no y": (dict(y=None), "has no array 'y'"),
    "NaN": (dict(x_test=np.full((5, 1, 8, 8), np.nan)), "'x_test' holds NaN or infinite values"),
    "integer images": (
        dict(x=np.zeros((20, 1, 8, 8), np.int64), y=np.zeros(20, np.int64)),
        "'x' must hold floating-point images, got dtype int64",
    ),
    "lengths": (dict(y=np.zeros(3, np.int64)), "'y' has 3 labels for 1297 images in 'x'"),
    "float labels": (dict(y_test=np.zeros(500)), "'y_test' must be a 1-D array of integer labels"),
    "shape": (
        dict(x=np.zeros((20, 1, 7, 7)), y=np.zeros(20, np.int64), x_test=None, y_test=None),
        "takes inputs of shape (1, 8, 8), but --data",
    ),
    "too few": (
        dict(x=np.zeros((3, 1, 8, 8)), y=np.zeros(3, np.int64), x_test=None, y_test=None),
        "3 images are too few to split",
    ),
}


def test_data_file_that_is_not_npz(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((4, 1, 8, 8)))
    (tmp_path / "text.npz").write_text("no numbers here")
    for name, words in (
        ("x.npy", "is a single array (.npy)"),
        ("text.npz", "is not a NumPy .npz file"),
        ("none.npz", "no such file"),
    ):
        rc = main(
            [
                "net",
                "convert",
                "--onnx",
                DIGITS,
                "--data",
                str(tmp_path / name),
                "--out",
                str(tmp_path / "b"),
            ]
        )
        err = capsys.readouterr().err
        assert rc == 2 and words in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("what", list(BAD_FILES))
def test_bad_data_file_is_one_message(tmp_path, what, capsys):
    edits, words = BAD_FILES[what]
    f = _digits_file(tmp_path / "d.npz", **edits)
    rc = main(["net", "convert", "--onnx", DIGITS, "--data", str(f), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "b").exists()
