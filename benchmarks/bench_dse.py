"""The published design-space explorations: ``pqaccel dse`` on the trained ResNet20 (MNIST-5k,
post-training PQ with the table refit) and on the MNIST demo network (the same, and PQ-aware
fine-tuning, 4 epochs a point), each on a 2-worker LocalCluster, first and last layers int8 (on
the host).

Each sweep prints its front and the headline (best perf/area within 1.0 point of float accuracy,
against the DSP MAC and the DSP-free MAC, batch 1 and 32) and writes CSV, JSON and the two PNGs
under ``--out``.  With ``--synth`` the front points are synthesized (Yosys, cached); ``--pnr N``
places and routes the N best of each front.  Tasks are cached (``$PQACCEL_CACHE/dse``): a rerun
prints the same figures at once; ``--cache DIR`` for a cold run.

Usage: python benchmarks/bench_dse.py [--only resnet20|demo-refit|demo] [--synth] [--pnr N] [--out
build/dse]
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SWEEPS = {
    "resnet20": ("models/mnist5k_resnet20.onnx", "mnist5k", "spaces/resnet20-mnist.toml"),
    # the demo network over the same post-training space, then fine-tuned at v=9
    "demo-refit": ("models/mnist5k_resnet.onnx", "mnist5k", "spaces/resnet20-mnist.toml"),
    "demo": ("models/mnist5k_resnet.onnx", "mnist5k", "spaces/demo-finetune.toml"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=list(SWEEPS))
    ap.add_argument("--synth", action="store_true", help="real Yosys for the front points")
    ap.add_argument("--pnr", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "dse"))
    args = ap.parse_args()
    for name, (onnx, dataset, space) in SWEEPS.items():
        if args.only and name != args.only:
            continue
        cmd = [
            sys.executable,
            "-m",
            "pqaccel",
            "dse",
            "--onnx",
            os.path.join(ROOT, onnx),
            "--dataset",
            dataset,
            "--space",
            os.path.join(HERE, space),
            "--keep",
            "first,last",
            "--workers",
            str(args.workers),
            "--out",
            os.path.join(args.out, name),
            "--pnr",
            str(args.pnr),
        ]
        if not args.synth:
            cmd.append("--no-synth")
        if args.cache:
            cmd += ["--cache", args.cache]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, cwd=ROOT)
        print(f"== {name}: exit {rc}, {time.perf_counter() - t0:.0f} s wall", flush=True)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
