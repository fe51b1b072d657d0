"""PQ against both MAC baselines (DSP multipliers, and multipliers from logic) on one preset,
placed and routed with one router: the README table of ``pqaccel compare``.

Runs :func:`pqaccel.compare.compare` (synthesis, nextpnr, the cycle measurement under Verilator
and the whole-network model; every step cached, so after ``pqaccel compare`` with the same
options this only prints) and prints one Markdown table with resources, area, Fmax against the
block-RAM loop, P&R wall time, cycles, inferences/s and the perf/area ratios (per ResNet20 3x3
layer set, and whole ResNet20 inferences at batch 1 and 32).

Usage: python benchmarks/bench_compare.py [--preset resnet20-v9k8-net] [--target ecp5]
       [--router router2]
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pqaccel.compare import compare  # noqa: E402
from pqaccel.engines.mac.config import MacConfig  # noqa: E402
from pqaccel.presets import preset  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="resnet20-v9k8-net")
    ap.add_argument("--target", default="ecp5")
    ap.add_argument("--router", default="router2", choices=("router1", "router2"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    pq_cfg = preset(args.preset)
    mac = MacConfig.for_engine(pq_cfg)
    t0 = time.perf_counter()
    r = compare(
        pq_cfg,
        mac,
        args.target,
        router=args.router,
        seed=args.seed,
        baselines=[mac.replace(mult="lut")],
    )
    wall = time.perf_counter() - t0
    designs = {"pq": r["designs"]["pq"], "mac": r["designs"]["mac"], **r.get("baselines", {})}
    names = {"pq": "PQ", "mac": "MAC, DSP multipliers", "mac-lut": "MAC, logic multipliers"}
    ref = r.get("bram_loop_fmax_mhz")
    print(
        f"{args.preset} on {args.target}, nextpnr {args.router}, seed {args.seed}, 100 MHz "
        f"constraint (BRAM-loop reference {ref} MHz); compare took {wall:.0f} s (cached steps "
        "included)"
    )
    print("| | " + " | ".join(names.get(k, k) for k in designs) + " |")
    print("|---" * (len(designs) + 1) + "|")

    def row(label, f):
        print(f"| {label} | " + " | ".join(f(d) for d in designs.values()) + " |")

    res = lambda d, *ks: " / ".join(f"{d['resources'].get(k, 0):,}" for k in ks)  # noqa: E731
    row("LUT4 / FF / CCU2C", lambda d: res(d, "lut", "ff", "carry"))
    row("DP16KD / LUT-RAM / DSP", lambda d: res(d, "bram", "lutram", "dsp"))
    row("area (LUT4-eq)", lambda d: f"{d['area']:,.0f}")
    row(
        "Fmax (/ BRAM loop)",
        lambda d: (
            f"{d['fmax_mhz']:.2f} MHz ({d['fmax_mhz'] / ref:.2f})" if d.get("fmax_mhz") else "-"
        ),
    )
    row(
        "nextpnr wall time",
        lambda d: f"{d['pnr']['nextpnr_s']:.0f} s" if d.get("pnr", {}).get("nextpnr_s") else "-",
    )
    row("cycles, ResNet20 3x3 layers", lambda d: f"{d['cycles']:,.0f}")
    row("inferences / s", lambda d: f"{d.get('inferences_per_s', 0):,.1f}")
    base = {"mac": r, **r.get("baselines", {})}
    print(
        "| perf/area PQ / this (3x3 layers) | | "
        + " | ".join(f"**{base[k]['ratio']:.2f}**" if "ratio" in base[k] else "-" for k in base)
        + " |"
    )
    if r.get("network") and "batches" in r["network"]:
        for b in r["network"]["batches"]:
            vals = [r["network"]["batches"][b]] + [
                v["network"][b] for v in r.get("baselines", {}).values()
            ]
            print(
                f"| whole ResNet20, batch {b}: PQ / this at Fmax (equal clock) | | "
                + " | ".join(
                    f"{v['ratio']:.2f} ({v['ratio_equal_clock']:.2f})" if "ratio" in v else "-"
                    for v in vals
                )
                + " |"
            )
    for k, d in designs.items():
        cp = d.get("pnr", {}).get("critical_path")
        if cp:
            net, ns = cp["longest_net"] or ("-", 0)
            print(
                f"critical path, {names.get(k, k)}: {cp['from']} -> {cp['to']}, {cp['ns']:.2f} ns "
                f"({cp['routing_ns']:.2f} ns routing; longest net {net}, {ns:.2f} ns)"
            )


if __name__ == "__main__":
    main()
