"""The PQ engine's parallelism and table width with the best perf/area for ResNet20 on ECP5,
from the resource estimate (milliseconds a point) and the ideal cycles of the 3x3 layers.

Every point is ``resnet20-v9k8-net`` (v=9, K=8, 8-bit inputs and prototypes, run-time shift)
with other ``c_par``, ``k_par``, ``m_par`` and ``lut_bits``; its perf/area is set against the
MAC engine that runs the same layers (``MacConfig.for_engine``: 9 x 16 multipliers, DSP and
logic-only) at equal clock: (MAC cycles x MAC area) / (PQ cycles x PQ area), areas in the
LUT4-equivalents of :mod:`pqaccel.area`.  Points that do not fit the LFE5U-85F are left out.
Table width changes accuracy (``docs/networks.md``); parallelism does not.  Place and route the
best with ``pqaccel pnr --preset resnet20-v9k8-net --set par.c_par=.. ...`` to get its Fmax.

Usage: python benchmarks/bench_best_point.py [--top 12] [--lut-bits 8,6]
"""

import argparse
import os
import sys
import time
from dataclasses import replace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pqaccel import estimate  # noqa: E402
from pqaccel.compare import RESNET20_CONV3X3  # noqa: E402
from pqaccel.config import BITS_MAX, BITS_MIN, LayerConfig, Parallelism  # noqa: E402
from pqaccel.dse import device_misfit  # noqa: E402
from pqaccel.engines.mac.config import MacConfig  # noqa: E402
from pqaccel.presets import preset  # noqa: E402

C_PAR = (1, 2, 4, 8, 16)
K_PAR = (1, 2, 4, 8)
M_PAR = (4, 8, 16, 32, 64)


def layer_cycles(cfg):
    """Compute cycles of ResNet20's 3x3 layers at the ideal initiation interval."""
    total = 0
    for _, c_in, c_out, rows, count in RESNET20_CONV3X3:
        layer = LayerConfig(d=c_in * 9, m=c_out, n=rows)
        total += count * rows * cfg.ideal_cycles_per_row(layer)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--lut-bits", default="8,6")
    args = ap.parse_args()
    try:
        lut_bits = [int(b) for b in args.lut_bits.split(",")]
    except ValueError:
        ap.error(f"--lut-bits must be a comma-separated list of integers, got {args.lut_bits!r}")
    bad = [b for b in lut_bits if not BITS_MIN <= b <= BITS_MAX]
    if bad:
        ap.error(f"--lut-bits must be widths from {BITS_MIN} to {BITS_MAX}, got {bad[0]}")
    if args.top < 1:
        ap.error(f"--top must be at least 1, got {args.top}")
    base = preset("resnet20-v9k8-net")
    t0 = time.perf_counter()
    macs = {}
    for mult in ("dsp", "lut"):
        mac = MacConfig.for_engine(base, mult=mult)
        macs[mult] = (layer_cycles(mac), estimate.estimate(mac, "ecp5")["area"])
    points, left_out = [], 0
    for lb in lut_bits:
        for c_par in C_PAR:
            for k_par in K_PAR:
                for m_par in M_PAR:
                    try:
                        cfg = base.replace(
                            par=Parallelism(c_par, k_par, m_par),
                            widths=replace(base.widths, lut_bits=lb),
                        )
                    except ValueError:
                        continue
                    est = estimate.estimate(cfg, "ecp5")
                    if device_misfit(est["resources"], "ecp5"):
                        left_out += 1
                        continue
                    cyc = layer_cycles(cfg)
                    ratios = {m: c * a / (cyc * est["area"]) for m, (c, a) in macs.items()}
                    points.append((ratios["dsp"], ratios["lut"], cfg, cyc, est))
    points.sort(key=lambda p: -p[0])
    wall = time.perf_counter() - t0
    print(
        f"resnet20-v9k8-net variants on the ECP5 LFE5U-85F: {len(points)} points fit "
        f"({left_out} do not), estimated in {wall:.1f} s; MAC (9 x 16): "
        f"{macs['dsp'][0]:,} cycles, area {macs['dsp'][1]:,.0f} (DSP) / {macs['lut'][1]:,.0f} "
        "(logic only)"
    )
    print(
        "| c_par/k_par/m_par | lut_bits | cycles, 3x3 layers | area (LUT4-eq) | DP16KD | "
        "perf/area vs DSP MAC | vs LUT MAC |"
    )
    print("|---|---|---|---|---|---|---|")
    today = base.par

    def row(p, mark=""):
        rd, rl, cfg, cyc, est = p
        par = cfg.par
        print(
            f"| {par.c_par}/{par.k_par}/{par.m_par}{mark} | {cfg.widths.lut_bits} | {cyc:,} | "
            f"{est['area']:,.0f} | {est['resources']['bram']:.0f} | {rd:.2f} | {rl:.2f} |"
        )

    for p in points[: args.top]:
        row(p, " (today)" if p[2].par == today and p[2].widths == base.widths else "")
    for p in points[args.top :]:
        if p[2].par == today and p[2].widths == base.widths:
            row(p, " (today)")


if __name__ == "__main__":
    main()
