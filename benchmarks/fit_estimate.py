"""Synthesize a seeded sample of engines and fit the logic model of ``pqaccel estimate``.

Stage 1 (``--synth``): a seeded random sample of PQ and MAC network engines (the space ``pqaccel
dse`` explores: v, K, widths, metric, parallelism, the MAC's multipliers) is synthesized with
Yosys for each ``--target`` (cached; the points are appended to ``--points``, one JSON line
each, so an interrupted run resumes).

Stage 2 (``--fit``): every point whose index is not a multiple of ``--holdout-every`` fits the
per-block coefficients of :mod:`pqaccel.estimate` (non-negative least squares on the block
features), written to ``pqaccel/estimate_model.json``; the held-out points (every
``--holdout-every``-th) are then estimated and the error per resource is printed.

Usage:
    python benchmarks/fit_estimate.py --synth --target ecp5 --n 36
    python benchmarks/fit_estimate.py --fit
"""

import argparse
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

DEFAULT_POINTS = os.path.join(ROOT, "build", "estimate-points.jsonl")
DEFAULT_POINTS_ICE40 = os.path.join(ROOT, "build", "estimate-points-ice40.jsonl")


def sample_configs(n, seed):
    """``n`` seeded engine configurations: about 3 PQ engines for each MAC engine."""
    from pqaccel.engines.pq.config import EngineConfig
    from pqaccel.config import Parallelism, Requant, Widths
    from pqaccel.engines.mac.config import MacConfig

    rng = random.Random(seed)
    out = []
    while len(out) < n:
        if len(out) % 4 == 3:
            b = rng.choice([4, 6, 8])
            d_par = rng.choice([1, 3, 9, 18])
            m_par = rng.choice([1, 2, 4, 8, 16])
            rq = Requant(
                mode="shift",
                shift=rng.choice([11, 13]),
                rounding="half_up",
                saturate=True,
                runtime=True,
            )
            out.append(
                MacConfig(
                    d_max=rng.choice([144, 576]),
                    m_max=64,
                    d_par=d_par,
                    m_par=m_par,
                    in_bits=8,
                    w_bits=b,
                    out_bits=8,
                    requant=rq,
                    wide_port=rng.random() < 0.5,
                    mult=rng.choice(["dsp", "lut"]),
                )
            )
            continue
        v = rng.choice([2, 3, 4, 9])
        k = rng.choice([8, 16, 32, 64])
        k_par = rng.choice([d for d in (1, 2, 4, 8, 16, 32) if d <= k and k % d == 0])
        c_par = rng.choice([1, 2, 4, 8])
        m_par = rng.choice([1, 2, 4, 8, 16])
        if c_par * k_par * v > 400:  # keep one synthesis under a few minutes
            continue
        c_max = rng.choice([16, 64, 192]) if v <= 4 else rng.choice([16, 64])
        bits = rng.choice([4, 5, 6, 8])
        in_bits = rng.choice([bits, 8])
        widths = Widths(in_bits, bits, rng.choice([bits, 8]), in_bits)
        rq = Requant(mode="shift", shift=11, rounding="half_up", saturate=True, runtime=True)
        try:
            cfg = EngineConfig(
                v=v,
                k=k,
                c_max=c_max,
                m_max=rng.choice([16, 64]),
                par=Parallelism(c_par=min(c_par, c_max), k_par=k_par, m_par=m_par),
                widths=widths,
                metric=rng.choice(["l1", "l1", "l2"]),
                requant=rq,
                wide_port=rng.random() < 0.5,
            )
        except ValueError:
            continue
        out.append(cfg)
    return out


def preset_configs():
    """The network presets and their MAC baselines (both multipliers): the region a DSE front
    sits in, larger than most of the random sample."""
    from pqaccel.compare import network_engine
    from pqaccel.presets import PRESETS
    from pqaccel.engines.mac.config import MacConfig

    out = []
    for name in (
        "net-v9k16",
        "resnet20-v9k8-net",
        "net-v3k32",
        "net-v3k32-6bit",
        "resnet20-v9k8-net-lut6",
    ):
        out.append(network_engine(PRESETS[name]))
    base = network_engine(PRESETS["resnet20-v9k8-net"])
    out += [MacConfig.for_engine(base, mult="dsp"), MacConfig.for_engine(base, mult="lut")]
    return out


def all_configs(n, seed):
    """``[(index, config)]``: the sample (0..n-1), then the presets (from 100)."""
    return list(enumerate(sample_configs(n, seed))) + [
        (100 + i, c) for i, c in enumerate(preset_configs())
    ]


def synth_stage(args):
    from pqaccel.compare import synth_design

    done = set()
    if os.path.exists(args.points):
        with open(args.points) as f:
            for line in f:
                p = json.loads(line)
                done.add((p["target"], p["index"]))
    os.makedirs(os.path.dirname(args.points), exist_ok=True)
    for i, cfg in all_configs(args.n, args.seed):
        for target in args.target:
            if (target, i) in done:
                continue
            t0 = time.perf_counter()
            s = synth_design(cfg, target)
            row = {
                "index": i,
                "target": target,
                "kind": cfg.kind,
                "config": cfg.to_dict(),
                "resources": s["resources"],
                "yosys_s": s["yosys_s"],
            }
            with open(args.points, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"{target:6} #{i:<3} {cfg.kind:3} {time.perf_counter() - t0:6.1f} s  "
                f"{ {k: v for k, v in s['resources'].items() if v} }",
                flush=True,
            )


def load_points(path):
    from pqaccel.engines.pq.config import engine_from_dict
    from pqaccel.engines.mac.config import MacConfig

    rows = []
    with open(path) as f:
        for line in f:
            p = json.loads(line)
            p["cfg"] = (
                engine_from_dict(p["config"])
                if p["kind"] == "pq"
                else MacConfig.from_dict(p["config"])
            )
            rows.append(p)
    return rows


def fit_stage(args):
    from pqaccel import estimate

    rows = [r for path in args.fit_points for r in load_points(path)]
    fit = [r for r in rows if r["index"] % args.holdout_every]
    held = [r for r in rows if not r["index"] % args.holdout_every]
    model = estimate.fit([(r["cfg"], r["target"], r["resources"]) for r in fit])
    model["fitted_on"] = len(fit)
    if os.path.exists(args.model):
        # a family without points here (its synthesis not rerun) keeps its fitted coefficients
        with open(args.model) as f:
            old = json.load(f)
        for fam in sorted(set(old.get("families", {})) - set(model["families"])):
            for key in ("families", "points", "loo_error"):
                model[key][fam] = old[key][fam]
            model["fitted_on"] += sum(old["points"][fam].values())
            print(f"{fam}: no points given, its fitted model is kept")
    estimate.save_model(model, args.model)
    print(
        f"fitted on {len(fit)} synthesized points, model written to "
        f"{os.path.relpath(args.model, ROOT)}"
    )
    report(held, estimate.Estimator(model), "held-out")


def report(rows, est, what):
    cols = ("lut", "ff", "carry", "lutram", "bram", "dsp")
    for target in sorted({r["target"] for r in rows}):
        sel = [r for r in rows if r["target"] == target]
        print(f"\n{what} points on {target}: {len(sel)}")
        print(f"  {'#':>3} {'kind':4}" + "".join(f"{c + ' syn/est':>18}" for c in cols))
        errs = {c: [] for c in cols}
        for r in sel:
            e = est.estimate(r["cfg"], target)["resources"]
            line = f"  {r['index']:>3} {r['kind']:4}"
            for c in cols:
                a, b = r["resources"].get(c, 0), e.get(c, 0)
                line += f"{a:>9,}/{b:<8,.0f}"
                if a:
                    errs[c].append(abs(b - a) / a)
                elif b:
                    errs[c].append(float("inf"))
            print(line)
        print(
            "  mean |error|: "
            + ", ".join(
                f"{c} {100 * sum(v) / len(v):.1f} % (max {100 * max(v):.1f} %)"
                for c, v in errs.items()
                if v
            )
        )
        fitted = est.model.get("points", {}).get(target, {})
        cells = [
            f"{100 * sum(errs[c]) / len(errs[c]):.1f} % ({100 * max(errs[c]):.1f})"
            if errs[c]
            else "-"
            for c in cols
        ]
        print(
            f"  README row: | {target} | {sum(fitted.values())} / {len(sel)} | "
            + " | ".join(cells)
            + " |"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", action="store_true")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--target", action="append", default=None)
    ap.add_argument("--n", type=int, default=36)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--points", default=DEFAULT_POINTS)
    ap.add_argument(
        "--fit-points",
        action="append",
        default=None,
        help="points files to fit on (default: both families' files)",
    )
    ap.add_argument("--holdout-every", type=int, default=5)
    ap.add_argument("--model", default=os.path.join(ROOT, "pqaccel", "estimate_model.json"))
    args = ap.parse_args()
    args.target = args.target or ["ecp5"]
    args.fit_points = args.fit_points or [
        p for p in (DEFAULT_POINTS, DEFAULT_POINTS_ICE40) if os.path.exists(p)
    ]
    if args.synth:
        synth_stage(args)
    if args.fit:
        fit_stage(args)


if __name__ == "__main__":
    main()
