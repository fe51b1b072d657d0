"""Whole networks on the RTL: convert, run on the emitted engine under Verilator (every output
checked against the golden network model), and print cycles per image measured and modelled,
with the RTL and golden accuracy on the test images run.

Rows (``--rows``, default all; the long ones take minutes each):

* ``digits-v9k16``: digits demo net, PQ ``net-v9k16``, 32 images
* ``digits-v9k16-wide``: the same with the wide table port, 32 images
* ``digits-mac``: the int8 MAC network on the MAC engine (9x16), 32 images
* ``digits-v3k32``: digits demo net, PQ ``net-v3k32``, 200 images
* ``mnist-r20-v9k8-ft``: the MNIST ResNet20 fine-tuned (refit + 4 epochs) on ``resnet20-v9k8-net``,
  100 images
* ``cifar-r20-v9k8``: ResNet20 with CIFAR-10 shapes (random weights), ``resnet20-v9k8-net``, 32
images

Usage: python benchmarks/bench_network.py [--rows NAME ...] [--keep-bundles DIR]
"""

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from pqaccel.cli import main as cli  # noqa: E402

ROWS = {
    "digits-v9k16": (
        ["--onnx", "models/digits_resnet.onnx", "--dataset", "digits", "--keep", "first,last"],
        32,
    ),
    "digits-v9k16-wide": (
        [
            "--onnx",
            "models/digits_resnet.onnx",
            "--dataset",
            "digits",
            "--keep",
            "first,last",
            "--set",
            "wide_port=true",
        ],
        32,
    ),
    "digits-mac": (
        ["--onnx", "models/digits_resnet.onnx", "--dataset", "digits", "--mac-only"],
        32,
    ),
    "digits-v3k32": (
        [
            "--onnx",
            "models/digits_resnet.onnx",
            "--dataset",
            "digits",
            "--keep",
            "first,last",
            "--preset",
            "net-v3k32",
        ],
        200,
    ),
    "mnist-r20-v9k8-ft": (
        [
            "--onnx",
            "models/mnist5k_resnet20.onnx",
            "--dataset",
            "mnist5k",
            "--keep",
            "first,last",
            "--preset",
            "resnet20-v9k8-net",
            "--refit",
            "--finetune",
            "4",
        ],
        100,
    ),
    "cifar-r20-v9k8": (
        ["--onnx", "{tmp}/r20.onnx", "--dataset", "cifar-shapes", "--preset", "resnet20-v9k8-net"],
        32,
    ),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="*", choices=sorted(ROWS))
    ap.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="use an already converted bundle for a row instead of converting",
    )
    args = ap.parse_args()
    given = dict(b.split("=", 1) for b in args.bundle)
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory(prefix="pqaccel-bench-net-") as tmp:
        for name in args.rows or list(ROWS):
            convert, images = ROWS[name]
            bundle = given.get(name) or os.path.join(tmp, name)
            t0 = time.perf_counter()
            if name not in given:
                if "{tmp}/r20.onnx" in convert:
                    assert cli(["net", "resnet20", "--out", os.path.join(tmp, "r20.onnx")]) == 0
                assert (
                    cli(["net", "convert", *[a.format(tmp=tmp) for a in convert], "--out", bundle])
                    == 0
                )
            print(
                f"=== {name}: converted in {time.perf_counter() - t0:.0f} s; on the RTL:",
                flush=True,
            )
            rc = cli(
                [
                    "net",
                    "run",
                    "--bundle",
                    bundle,
                    "--rtl",
                    "--sim",
                    "verilator",
                    "--images",
                    str(images),
                ]
            )
            print(f"=== {name}: exit {rc}, {time.perf_counter() - t0:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
