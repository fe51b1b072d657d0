"""Evaluation of converted networks: accuracy on a split, the float PQ reference, per-layer
errors against the float network, and accuracy sweeps over PQ parameters."""

import numpy as np

from .graph import run_float
from .interp import matmul_rows, unrows
from .intmodel import QuantNetwork, run_int, table_bits

__all__ = ["accuracy", "run_pq_float", "rows_per_image", "evaluate", "sweep", "plot_sweep"]


def accuracy(logits, labels):
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean())


def run_pq_float(qn: QuantNetwork, x):
    """Float reference of the PQ network: float activations, float codebooks (nearest prototype
    in float) and the float tables the integer tables were quantized from (``lut_f``: after the
    refit, when there was one) for PQ layers, float weights for the kept layers."""

    def matmul(op, a):
        rows, geom = matmul_rows(op, a)
        return unrows(qn.layers[op.name].float_forward(qn.engine, op, rows), geom)

    return run_float(qn.net, x, matmul=matmul)


def rows_per_image(net):
    """Engine rows of every conv/gemm for one image: output pixels of a conv, 1 for a gemm."""
    tensors = run_float(net, np.zeros((1, *net.input_shape)), keep=True)
    return {
        op.name: (
            tensors[op.output].shape[2] * tensors[op.output].shape[3] if op.kind == "conv" else 1
        )
        for op in net.matmul_ops()
    }


def evaluate(qn, net, data, onnx_path=None, split="test", mac=None):
    """Accuracies on ``split``: float (own executor and, with ``onnx_path``, onnxruntime), the
    int8 MAC network (``mac``: its :class:`QuantNetwork`), PQ float, PQ integer; and per PQ layer
    the relative RMS error of its output against the float network's."""
    x, y = data.split(split)
    out = {"images": len(x)}
    env_f = run_float(net, x, keep=True)
    out["float"] = accuracy(env_f[net.output], y)
    if onnx_path:
        import onnxruntime as ort

        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        ref = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
        out["float_onnxruntime"] = accuracy(ref, y)
        out["float_max_abs_diff"] = float(np.abs(ref - env_f[net.output]).max())
    if mac is not None:
        out["int8_mac"] = accuracy(run_int(mac, x), y)
    out["pq_float"] = accuracy(run_pq_float(qn, x), y)
    env_q = run_int(qn, x, keep=True)
    out["pq_int"] = accuracy(env_q[net.output], y)
    errs = {}
    for op in net.matmul_ops():
        lq = qn.layers[op.name]
        f = env_f[op.output]
        if lq.relu:
            f = np.maximum(f, 0)
        q = env_q[op.output] * lq.out_scale
        errs[op.name] = float(np.sqrt(np.mean((q - f) ** 2)) / (np.sqrt(np.mean(f * f)) or 1.0))
    out["layer_rel_rms_error"] = errs
    return out


def sweep(net, data, engine, points, *, keep=(), seed=0, refit=False, progress=False):
    """Test accuracy of the PQ integer network for every ``(metric, v, k, bits)`` of ``points``
    (each engine from :func:`pqaccel.net.conversion.sweep_engine` over ``engine``), with the
    float and int8 MAC accuracies and the table bits of each point; every point is checked before
    any work."""
    import time
    from tqdm import tqdm
    from ..config import METRICS
    from .conversion import convert, int8_mac_network, sweep_engine

    for metric, v, k, b in points:
        if metric not in METRICS:
            raise ValueError(f"--metric must be among {', '.join(METRICS)}, got {metric!r}")
        sweep_engine(engine, net, keep, metric, v, k, b)
    mac = int8_mac_network(net, engine, data.calib_x)
    x, y = data.split("test")
    base = {"float": accuracy(run_float(net, x), y), "int8_mac": accuracy(run_int(mac, x), y)}
    rows = []
    t0 = time.perf_counter()
    for metric, v, k, b in tqdm(points, desc="sweep", unit="point", disable=not progress):
        qn = convert(
            net,
            sweep_engine(engine, net, keep, metric, v, k, b),
            data.calib_x,
            keep=keep,
            seed=seed,
            refit=refit,
        )
        rows.append(
            {
                "metric": metric,
                "v": v,
                "k": k,
                "bits": b,
                "refit": refit,
                "table_bits": table_bits(qn),
                "pq_int": accuracy(run_int(qn, x), y),
            }
        )
    return {
        "keep": list(keep),
        "images": len(x),
        **base,
        "points": rows,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def plot_sweep(result, path):
    """Accuracy against table bits, one line per (metric, v, k) over the widths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = {}
    for r in result["points"]:
        groups.setdefault((r["metric"], r["v"], r["k"]), []).append(r)
    for (metric, v, k), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["table_bits"])
        ax.plot(
            [r["table_bits"] / 8192 for r in rs],
            [100 * r["pq_int"] for r in rs],
            marker="o",
            label=f"{metric} v={v} K={k}",
        )
    ax.axhline(100 * result["float"], color="k", ls="--", lw=1, label="float")
    ax.axhline(100 * result["int8_mac"], color="gray", ls=":", lw=1, label="int8 MAC")
    ax.set_xscale("log")
    ax.set_xlabel("codebook + table size (KiB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"PQ integer accuracy, {result['dataset']} ({result['images']} test images)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
