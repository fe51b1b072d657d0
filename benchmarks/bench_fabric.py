"""Fmax of the network engines and their baselines close to the fabric: one row per preset,
design (PQ, MAC with DSP multipliers, MAC with multipliers from logic) and nextpnr router, with
Fmax, the ratio to the block-RAM read loop on the same device, nextpnr's wall time and the
critical path (start -> end, logic + routing delay).

One seed is not a measurement on these designs (Fmax moves by +-10 % and more from seed to
seed): ``--seeds 1,2,3`` places and routes every design (and the block-RAM loop) at each seed and
adds a median row per design, the median Fmax and the median of the per-seed ratios.

Every place-and-route result is cached (``~/.cache/pqaccel``), so a second run only prints;
``--timeout`` stops a nextpnr run that takes longer (reported as such, nothing cached).

Usage: python benchmarks/bench_fabric.py [--presets resnet20-v9k8-net,net-v3k32,...]
       [--routers router2,router1] [--designs pq,mac,mac-lut] [--target ecp5]
       [--seeds 1,2,3] [--timeout MINUTES]
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pqaccel.compare import bram_reference, pnr_design  # noqa: E402
from pqaccel.engines.mac.config import MacConfig  # noqa: E402
from pqaccel.presets import PRESETS, preset  # noqa: E402
from pqaccel.synth import ROUTERS  # noqa: E402

NETWORK_PRESETS = (
    "resnet20-v9k8-net",
    "resnet20-v9k8-net-lut6",
    "net-v9k16",
    "net-v3k32",
    "net-v3k32-lut6",
    "net-v3k32-6bit",
)
DESIGNS = {
    "pq": lambda cfg: cfg,
    "mac": lambda cfg: MacConfig.for_engine(cfg),
    "mac-lut": lambda cfg: MacConfig.for_engine(cfg).replace(mult="lut"),
}


def short(cell):
    """A cell name without nextpnr's mapping suffixes (``core.codebook.rd_addr3``)."""
    return cell.split("_TRELLIS")[0].split("_SB_")[0].split("$")[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=",".join(NETWORK_PRESETS))
    ap.add_argument("--routers", default="router2")
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--target", default="ecp5")
    ap.add_argument("--seeds", default="1", help="nextpnr seeds, comma-separated (default 1)")
    ap.add_argument("--timeout", type=float, default=None, metavar="MINUTES")
    args = ap.parse_args()
    routers = args.routers.split(",")
    presets, designs = args.presets.split(","), args.designs.split(",")
    for what, given, valid in (
        ("--presets", presets, list(PRESETS)),
        ("--designs", designs, list(DESIGNS)),
        ("--routers", routers, list(ROUTERS)),
    ):
        bad = [g for g in given if g not in valid]
        if bad:
            ap.error(f"{what}: {', '.join(bad)} not among {', '.join(valid)}")
    try:
        seeds = [int(x) for x in args.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds: {args.seeds!r} is not a comma-separated list of integers")
    if args.timeout is not None and args.timeout <= 0:
        ap.error(f"--timeout must be above 0 minutes, got {args.timeout:g}")
    refs = {
        (r, seed): bram_reference(args.target, seed=seed, router=r)["fmax_mhz"]
        for r in routers
        for seed in seeds
    }
    print(
        f"{args.target}, 100 MHz constraint; BRAM-loop reference: "
        + ", ".join(f"{r} seed {seed} {refs[r, seed]} MHz" for r, seed in refs)
    )
    print(
        "| preset | design | router | seed | Fmax (MHz) | / BRAM loop | nextpnr (s) "
        "| critical path |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in presets:
        cfg = preset(name)
        for design in designs:
            for router in routers:
                runs = []
                for seed in seeds:
                    run = place(cfg, design, router, seed, args)
                    print(f"| {name} | {design} | {router} | {seed} | {run['cells']} |", flush=True)
                    if "fmax" in run:
                        runs.append((run["fmax"], run["fmax"] / refs[router, seed]))
                if len(seeds) > 1 and runs:
                    print(
                        f"| {name} | {design} | {router} | median of {len(runs)} | "
                        f"**{statistics.median(f for f, _ in runs):.2f}** | "
                        f"**{statistics.median(r for _, r in runs):.2f}** | | |",
                        flush=True,
                    )


def place(cfg, design, router, seed, args):
    """One design placed and routed: ``{"cells": the row's remaining cells, "fmax": MHz}``
    (no ``fmax`` where it did not fit or route in time)."""
    t0 = time.perf_counter()
    try:
        p, _ = pnr_design(
            DESIGNS[design](cfg),
            args.target,
            seed=seed,
            router=router,
            timeout_s=args.timeout * 60 if args.timeout else None,
        )
    except TimeoutError:
        return {"cells": f"not routed in {args.timeout:g} min | | |"}
    finally:
        sys.stderr.write(f"  ({time.perf_counter() - t0:.0f} s)\n")
    if not p["fits"]:
        return {"cells": f"{p['message']} | | |"}
    cp = p.get("critical_path") or {}
    path = (
        f"{short(cp['from'])} -> {short(cp['to'])}: {cp['ns']:.2f} ns "
        f"({cp['logic_ns']:.2f} logic, {cp['routing_ns']:.2f} routing)"
        if cp
        else ""
    )
    ref = bram_reference(args.target, seed=seed, router=router)["fmax_mhz"]
    return {
        "cells": f"{p['fmax_mhz']:.2f} | {p['fmax_mhz'] / ref:.2f} | {p['nextpnr_s']:.0f} | {path}",
        "fmax": p["fmax_mhz"],
    }


if __name__ == "__main__":
    main()
