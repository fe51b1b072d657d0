"""Accuracy of PQ networks on the test split: k-means, least-squares refit and PQ-aware
fine-tuning, against the float network and the int8 MAC network.

Every point converts the network (first and last layers int8, the rest PQ), evaluates the
integer network model (the RTL's arithmetic) on the test split, refits the tables, evaluates,
fine-tunes from the refit on the training split and evaluates again.  Prints the table as the
README publishes it, and with ``--json`` writes every figure.

Usage:
    python benchmarks/bench_accuracy.py [--net NAME ...] [--points P ...] [--epochs E] [--json F]

Nets: digits, mnist5k (the demo networks), mnist5k_resnet20.  Points (v, K, widths, metric):
v9k16-8 v9k8-8 v9k16-65 v9k8-65 v9k16-8-l2 v9k8-8-l2 ("65": 6-bit activations and prototypes,
5-bit tables) are fine-tuned; v3k32-8 and v3k32-6 (every width 6 bits) are the post-training
references (k-means and refit only).  "vs float" is the best column against the float network.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pqaccel.config import Widths  # noqa: E402
from pqaccel.presets import preset  # noqa: E402
from pqaccel.net import conversion, evaluation, intmodel  # noqa: E402
from pqaccel.net.datasets import load_dataset  # noqa: E402
from pqaccel.net.finetune import FinetuneSettings, finetune  # noqa: E402
from pqaccel.net.graph import load_onnx, run_float  # noqa: E402

#: (ONNX, dataset, fine-tuning epochs): about 450 steps of 32 images each (digits has 1,000
#: training images, MNIST-5k 3,500)
NETS = {
    "digits": ("models/digits_resnet.onnx", "digits", 16),
    "mnist5k": ("models/mnist5k_resnet.onnx", "mnist5k", 4),
    "mnist5k_resnet20": ("models/mnist5k_resnet20.onnx", "mnist5k", 4),
}
POINTS = {
    # post-training references (v=3 keeps accuracy without fine-tuning; not fine-tuned here)
    "v3k32-8": (3, 32, Widths(8, 8, 8, 8), "l1"),
    "v3k32-6": (3, 32, Widths(6, 6, 6, 6), "l1"),
    # the efficient engines, fine-tuned
    "v9k16-8": (9, 16, Widths(8, 8, 8, 8), "l1"),
    "v9k8-8": (9, 8, Widths(8, 8, 8, 8), "l1"),
    "v9k16-65": (9, 16, Widths(6, 6, 5, 6), "l1"),
    "v9k8-65": (9, 8, Widths(6, 6, 5, 6), "l1"),
    "v9k16-8-l2": (9, 16, Widths(8, 8, 8, 8), "l2"),
    "v9k8-8-l2": (9, 8, Widths(8, 8, 8, 8), "l2"),
}


def widths_label(w):
    return f"{w.in_bits}/{w.proto_bits}/{w.lut_bits}"


def run_point(net, data, keep, point, settings, seed=0):
    v, k, widths, metric = POINTS[point]
    engine = conversion.sweep_engine(preset("net-v9k16"), net, keep, metric, v, k, None, widths)
    x, y = data.split("test")
    out = {"point": point, "v": v, "k": k, "metric": metric, "widths": widths_label(widths)}
    t0 = time.perf_counter()
    qn = conversion.convert(net, engine, data.calib_x, keep=keep, seed=seed)
    out["kmeans"] = evaluation.accuracy(intmodel.run_int(qn, x), y)
    qr = conversion.convert(net, engine, data.calib_x, keep=keep, seed=seed, refit=True)
    out["refit"] = evaluation.accuracy(intmodel.run_int(qr, x), y)
    out["convert_s"] = time.perf_counter() - t0
    if v == 3:
        return out
    t1 = time.perf_counter()
    qf, history = finetune(qr, data, settings)
    out["finetune_s"] = time.perf_counter() - t1
    out["finetuned"] = evaluation.accuracy(intmodel.run_int(qf, x), y)
    out["history"] = history
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", action="append", choices=sorted(NETS), help="(default: all)")
    ap.add_argument("--points", nargs="*", choices=sorted(POINTS), help="(default: all)")
    ap.add_argument(
        "--epochs", type=int, help="fine-tuning epochs (default: per net, about 450 steps)"
    )
    ap.add_argument("--lr", type=float, default=FinetuneSettings().lr)
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args()
    results = []
    os.chdir(os.path.dirname(HERE))
    for name in args.net or sorted(NETS):
        path, dataset, epochs = NETS[name]
        settings = FinetuneSettings(epochs=args.epochs or epochs, lr=args.lr)
        net = load_onnx(path)
        data = load_dataset(dataset)
        names = [op.name for op in net.matmul_ops()]
        keep = [names[0], names[-1]]
        x, y = data.split("test")
        fl = evaluation.accuracy(run_float(net, x), y)
        mac = evaluation.accuracy(
            intmodel.run_int(
                conversion.int8_mac_network(net, preset("net-v9k16"), data.calib_x), x
            ),
            y,
        )
        print(
            f"{name}: {len(x)} test images; float {100 * fl:.1f} %, int8 MAC {100 * mac:.1f} %; "
            f"first and last "
            f"layers int8; fine-tuning {settings.epochs} epochs (Adam {settings.lr:g} relative, "
            f"cosine) from the refit",
            flush=True,
        )
        print(
            f"  {'point':<12}{'metric':>7}{'bits a/p/t':>11}{'k-means':>9}{'refit':>8}"
            f"{'fine-tuned':>12}"
            f"{'vs float':>10}{'tune s':>8}",
            flush=True,
        )
        for point in args.points or list(POINTS):
            r = run_point(net, data, keep, point, settings)
            r.update(net=name, float=fl, int8_mac=mac)
            results.append(r)
            best = r.get("finetuned", max(r["kmeans"], r["refit"]))
            tuned = f"{100 * r['finetuned']:>11.1f}%" if "finetuned" in r else f"{'-':>12}"
            secs = f"{r['finetune_s']:>8.0f}" if "finetune_s" in r else f"{'-':>8}"
            print(
                f"  {point:<12}{r['metric']:>7}{r['widths']:>11}{100 * r['kmeans']:>8.1f}%"
                f"{100 * r['refit']:>7.1f}%"
                f"{tuned}{100 * (best - fl):>+9.1f}{secs}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
