"""Soak: 20,000 rows (default) on Verilator with table reloads every job (20-400 rows), random
input gaps and output backpressure, and synchronous resets at random times; prints rows,
reloads, resets, mismatches, leaks and wall time.

    python benchmarks/bench_soak.py [--preset default] [--rows 20000] [--wide] [--seed 0]
"""

import argparse
import sys
import tempfile
import time

from pqaccel.presets import preset
from pqaccel.export import generate
from pqaccel.sim.runner import run_soak


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--wide", action="store_true", help="the wide table port")
    p.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = preset(args.preset).replace(wide_port=args.wide or preset(args.preset).wide_port)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pqaccel-soak-") as tmp:
        files = generate(cfg, tmp + "/rtl")
        r = run_soak(
            files["verilog"],
            files["manifest"],
            sim=args.sim,
            rows=args.rows,
            rows_per_job=(20, 400),
            reset_prob=0.3,
            seed=args.seed,
            build_dir=tmp + "/build",
        )
    wall = time.perf_counter() - t0
    print(
        f"soak on {args.sim}, preset {args.preset}{' (wide port)' if args.wide else ''}, seed "
        f"{args.seed}"
    )
    for key in (
        "rows_checked",
        "jobs",
        "reloads",
        "resets",
        "rerun_jobs",
        "mismatches",
        "leaks",
        "cycles",
    ):
        print(f"  {key:<14}{r[key]:>10}")
    print(f"  wall time     {wall:>9.1f} s (build {r['build_s']:.1f} s)")
    return 1 if r["mismatches"] or r["leaks"] else 0


if __name__ == "__main__":
    sys.exit(main())
