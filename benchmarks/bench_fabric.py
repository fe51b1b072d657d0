"""Fmax of the network engines and their baselines close to the fabric: one row per preset,
design (PQ, MAC with DSP multipliers, MAC with multipliers from logic) and nextpnr router, with
Fmax, the ratio to the block-RAM read loop on the same device, nextpnr's wall time and the
critical path (start -> end, logic + routing delay).

Every place-and-route result is cached (``~/.cache/pqaccel``), so a second run only prints;
``--timeout`` stops a nextpnr run that takes longer (reported as such, nothing cached).

Usage: python benchmarks/bench_fabric.py [--presets resnet20-v9k8-net,net-v3k32,...]
       [--routers router2,router1] [--designs pq,mac,mac-lut] [--target ecp5]
       [--timeout MINUTES]
"""

import argparse
import os
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
    ap.add_argument("--seed", type=int, default=1)
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
    if args.timeout is not None and args.timeout <= 0:
        ap.error(f"--timeout must be above 0 minutes, got {args.timeout:g}")
    refs = {r: bram_reference(args.target, seed=args.seed, router=r)["fmax_mhz"] for r in routers}
    print(
        f"{args.target}, 100 MHz constraint, seed {args.seed}; BRAM-loop reference: "
        + ", ".join(f"{r} {refs[r]} MHz" for r in routers)
    )
    print("| preset | design | router | Fmax (MHz) | / BRAM loop | nextpnr (s) | critical path |")
    print("|---|---|---|---|---|---|---|")
    for name in presets:
        cfg = preset(name)
        for design in designs:
            for router in routers:
                t0 = time.perf_counter()
                try:
                    p, _ = pnr_design(
                        DESIGNS[design](cfg),
                        args.target,
                        seed=args.seed,
                        router=router,
                        timeout_s=args.timeout * 60 if args.timeout else None,
                    )
                except TimeoutError:
                    print(
                        f"| {name} | {design} | {router} | not routed in {args.timeout:g} min "
                        "| | | |"
                    )
                    continue
                if not p["fits"]:
                    print(f"| {name} | {design} | {router} | {p['message']} | | | |")
                    continue
                cp = p.get("critical_path") or {}
                path = (
                    f"{short(cp['from'])} -> {short(cp['to'])}: {cp['ns']:.2f} ns "
                    f"({cp['logic_ns']:.2f} logic, {cp['routing_ns']:.2f} routing)"
                    if cp
                    else ""
                )
                print(
                    f"| {name} | {design} | {router} | {p['fmax_mhz']:.2f} | "
                    f"{p['fmax_mhz'] / refs[router]:.2f} | {p['nextpnr_s']:.0f} | {path} |",
                    flush=True,
                )
                sys.stderr.write(f"  ({time.perf_counter() - t0:.0f} s)\n")


if __name__ == "__main__":
    main()
