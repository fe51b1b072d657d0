"""Elaboration time and peak memory of ``pqaccel generate`` as the parallelism grows.

Each point runs ``pqaccel generate`` in its own process, which reports its own peak resident
memory (``getrusage(RUSAGE_SELF)``), with a time limit.  The last point fits no device: it is
refused by the capacity check (:mod:`pqaccel.capacity`) before elaboration.

Usage: python benchmarks/bench_elaborate.py [--limit SECONDS] [--points NAME ...]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

# (label, preset, --set overrides): the presets, then the parallelism doubled step by step
POINTS = [
    ("default", "default", []),
    ("resnet20-v9k8", "resnet20-v9k8", []),
    ("resnet20-v9k8-net", "resnet20-v9k8-net", []),
    ("net-v3k32 wide", "net-v3k32", ["wide_port=true"]),
    ("c_par 8", "resnet20-v9k8", ["par.c_par=8"]),
    ("c_par 16", "resnet20-v9k8", ["par.c_par=16"]),
    ("c_par 32", "resnet20-v9k8", ["par.c_par=32"]),
    ("c_par 64", "resnet20-v9k8", ["par.c_par=64"]),
    ("m_par 64", "resnet20-v9k8", ["par.m_par=64"]),
    (
        "c_max 1024 m_max 4096 full",
        "resnet20-v9k8",
        ["c_max=1024", "m_max=4096", "par.c_par=1024", "par.m_par=4096"],
    ),
]


def run_point(preset, sets, limit):
    with tempfile.TemporaryDirectory() as out:
        code = (
            "import resource, sys; from pqaccel.cli import main; rc = main(sys.argv[1:]); "
            "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
        )
        args = [sys.executable, "-c", code, "generate", "--preset", preset, "--out", out]
        for s in sets:
            args += ["--set", s]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"status": f"no result in {limit} s"}
        wall = time.perf_counter() - t0
        peak = [
            int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("peak_kib")
        ]
        r = {"wall_s": wall, "peak_mib": peak[0] / 1024 if peak else None}
        if proc.returncode != 0:
            return {**r, "status": proc.stderr.strip().splitlines()[-1][:150]}
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        return {**r, "status": "ok", "verilog_kib": size / 1024}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=float, default=300.0, help="seconds per point (default 300)")
    ap.add_argument("--points", nargs="*", help="labels to run (default: all)")
    args = ap.parse_args()
    print(f"{'point':<30}{'wall s':>9}{'peak MiB':>10}{'output KiB':>12}  status")
    for label, preset, sets in POINTS:
        if args.points and label not in args.points:
            continue
        r = run_point(preset, sets, args.limit)
        peak = f"{r['peak_mib']:.0f}" if r.get("peak_mib") else "-"
        wall = f"{r['wall_s']:.1f}" if "wall_s" in r else "-"
        out = f"{r['verilog_kib']:.0f}" if "verilog_kib" in r else "-"
        print(f"{label:<30}{wall:>9}{peak:>10}{out:>12}  {r['status']}", flush=True)


if __name__ == "__main__":
    main()
