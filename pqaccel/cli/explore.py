"""Exploration commands: ``estimate`` (resources without synthesis) and ``dse`` (the accuracy x
perf/area sweep on Dask)."""

import json
import os
import time

from .common import add_config_args, config_label, int_arg, resolve_config, write_json

__all__ = ["add_commands"]

DSE_FILES = ("dse.csv", "dse.json", "dse.png", "dse-area.png")


def cmd_estimate(args):
    from .. import estimate
    from ..engines.mac.config import MacConfig

    engine, _ = resolve_config(args)
    mac = MacConfig.for_engine(
        engine, d_par=args.mac_d_par, m_par=args.mac_m_par, mult=args.mac_mult
    )
    cfg = {engine.kind: engine, mac.kind: mac}[args.design]
    if args.json:
        from ..fsutil import check_output_file

        check_output_file(args.json, "--json")
    t0 = time.perf_counter()
    r = estimate.estimate(cfg, args.target)
    ms = 1000 * (time.perf_counter() - t0)
    cols = ("lut", "ff", "carry", "mux", "lutram", "bram", "dsp")
    print(
        f"estimate for {args.target}, {args.design} engine of {config_label(args)} ({ms:.0f} ms; "
        f"memories and "
        f"DSPs exact from their shapes, logic from the fitted per-block model)"
    )
    print(f"  {'block':<12}" + "".join(f"{c:>9}" for c in cols) + f"{'area':>10}")
    for block, res in sorted(r["blocks"].items()):
        print(
            f"  {block:<12}"
            + "".join(f"{res.get(c, 0):>9,.0f}" for c in cols)
            + f"{r['block_area'][block]:>10,.0f}"
        )
    print(
        f"  {'total':<12}"
        + "".join(f"{r['resources'].get(c, 0):>9,.0f}" for c in cols)
        + f"{r['area']:>10,.0f}"
    )
    print(
        "  memories: "
        + "; ".join(
            f"{m['name']} {m['count']} x {m['depth']}x{m['width']} -> {m['how']}"
            for m in r["memories"]
        )
    )
    print("  area: LUT4-equivalents (pqaccel.area weights)")
    if args.json:
        write_json(args.json, r)
        print(f"json     {args.json}")
    return 0


def _overrides(args):
    from .net import _int_list, _names

    out = {}
    for opt, key, conv in (
        ("--k", "k", _int_list),
        ("--v", "v", _int_list),
        ("--bits", "bits", _int_list),
    ):
        vals = getattr(args, key)
        if vals:
            out[("pq", key)] = conv(opt, vals)
    if args.metric:
        out[("pq", "metric")] = _names(args.metric, "--metric")
    if args.accuracy:
        out[("accuracy", "method")] = args.accuracy
    if args.epochs:
        out[("accuracy", "epochs")] = args.epochs
    if args.target:
        out[("flow", "target")] = args.target
    return out


def _previous(out_dir):
    from ..fsutil import previous_run

    return previous_run(out_dir, "dse.json", DSE_FILES, ("points", "front"))


def cmd_dse(args):
    from .. import dse
    from ..fsutil import check_no_clobber, check_output_dir, staged_files
    from .net import _keep_names, _names
    from ..api import load_onnx

    if args.preset is None and args.config is None:
        args.preset = "net-v9k16"
    engine, _ = resolve_config(args)
    from ..net import conversion

    conversion.check_engine(engine)
    check_output_dir(args.out)
    check_no_clobber(args.out, DSE_FILES, _previous(args.out))
    space = dse.load_space(args.space, _overrides(args))
    if space.method == "finetune":
        try:
            import jax  # noqa: F401
        except ImportError:
            raise ValueError(
                "accuracy method 'finetune' needs JAX and optax: pip install 'pqaccel[train]'"
            ) from None
    net = load_onnx(args.onnx)
    keep = _keep_names(net, _names(args.keep, "--keep"))
    n_num, n_hw, n_mac = len(space.numerics()), len(space.hardware()), len(space.macs())
    where = args.scheduler or f"a local cluster of {args.workers or os.cpu_count()} workers"
    print(
        f"dse      {n_num} accuracy points x {n_hw} hardware points x {n_mac} MAC baselines = "
        f"{n_num * n_hw * n_mac} points; accuracy by {space.method}; on {where}",
        flush=True,
    )
    t0 = time.perf_counter()
    r = dse.run_dse(
        args.onnx,
        space,
        dataset=args.dataset,
        data_path=args.data,
        keep=keep,
        base=engine,
        workers=args.workers,
        scheduler=args.scheduler,
        cache_dir=args.cache,
        synth_front=not args.no_synth,
        pnr_best=args.pnr,
        log=lambda s: print(s, flush=True),
    )
    r["wall_s"] = round(time.perf_counter() - t0, 1)
    r["base"] = args.preset
    with staged_files(args.out, DSE_FILES, _previous(args.out)) as tmp:
        with open(os.path.join(tmp, "dse.csv"), "w", newline="") as f:
            f.write(dse_csv(r))
        with open(os.path.join(tmp, "dse.json"), "w") as f:
            json.dump(r, f, indent=1)
        plot_front(r, os.path.join(tmp, "dse.png"))
        plot_area(r, os.path.join(tmp, "dse-area.png"))
    report(r)
    for n in DSE_FILES:
        print(f"{'out':<9}{os.path.join(args.out, n)}")
    return 0


def _label(p):
    return (
        f"{p['metric']} v={p['v']} K={p['k']} {p['bits']}/{p['lut_bits']}b "
        f"par {p['c_par']}/{p['k_par']}/{p['m_par']}"
    )


def report(r):
    budget = r["space"]["loss_budget"]
    batches = r["space"]["batches"]
    print(
        f"dse of {len(r['points'])} points ({r['accuracy_tasks']} accuracy tasks, "
        f"{r['task_wall_s']:.0f} s of task "
        f"time) in {r['wall_s']:.0f} s: float {100 * r['float']:.2f} %, int8 MAC "
        f"{100 * r['int8_mac']:.2f} % "
        f"on {r['images']} test images"
    )
    if r.get("misfits"):
        print(
            f"  {r['misfits']} points do not fit the {r['device']} (estimated) and are left out "
            f"of the fronts"
        )
    for label, front in r["front"].items():
        print(
            f"  against the int8 MAC network on the {label} MAC engine: front of {len(front)} "
            f"points"
        )
        hdr = f"    {'point':<40}{'acc %':>7}" + "".join(f"{'x b' + str(b):>8}" for b in batches)
        print(
            hdr
            + f"{'area':>9}{'syn area':>10}"
            + "".join(f"{'syn x b' + str(b):>11}" for b in batches)
        )
        for i in front:
            p = r["points"][i]
            s = p.get("synth")
            line = (
                f"    {_label(p):<40}{100 * p['accuracy']:>7.2f}"
                + "".join(f"{p[f'ratio_b{b}']:>8.2f}" for b in batches)
                + f"{p['area']:>9,.0f}"
            )
            if s:
                line += f"{s['pq_area']:>10,.0f}" + "".join(
                    f"{s[f'ratio_b{b}']:>11.2f}" for b in batches
                )
            print(line)
        for b in batches:
            i = r["headline"][label][str(b)]
            if i is None:
                print(f"  batch {b}: no point within {budget:g} point of float accuracy")
                continue
            p = r["points"][i]
            s = p.get("synth")
            real = f", {s[f'ratio_b{b}']:.2f}x with its synthesized areas" if s else ""
            fmax = ""
            if p.get("pnr") and p["pnr"].get(f"ratio_b{b}"):
                fmax = (
                    f", {p['pnr'][f'ratio_b{b}']:.2f}x at Fmax (PQ {p['pnr']['pq_fmax_mhz']} MHz, "
                    f"MAC "
                    f"{p['pnr']['mac_fmax_mhz']} MHz)"
                )
            print(
                f"  HEADLINE batch {b}: best perf/area at <= {budget:g} point loss: {_label(p)}, "
                f"{100 * p['accuracy']:.2f} % ({100 * (p['accuracy'] - r['float']):+.2f}), "
                f"{p[f'ratio_b{b}']:.2f}x the {label} MAC (estimated areas, equal "
                f"clock){real}{fmax}"
            )
            print(f"    convert it: {convert_command(r, p)}")


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def convert_command(r, p):
    """The ``net convert`` command line that makes a bundle for point ``p``."""
    from ..presets import preset

    base = _flat(preset(r["base"]).to_dict()) if r.get("base") else {}
    sets = [
        f"--set {k}={str(v).lower() if isinstance(v, bool) else v}"
        for k, v in _flat(p["engine"]).items()
        if base.get(k) != v
    ]
    data = f"--dataset {r['data']}" if not os.path.isabs(str(r["data"])) else f"--data {r['data']}"
    method = r["space"]["method"]
    how = {
        "kmeans": "",
        "refit": " --refit",
        "finetune": f" --refit --finetune {r['space']['epochs']}",
    }[method]
    keep = f" --keep {','.join(r['keep'])}" if r["keep"] else ""
    return (
        f"pqaccel net convert --onnx {r['onnx']} {data}{keep} --preset "
        f"{r.get('base') or 'net-v9k16'} " + " ".join(sets) + f"{how} --out BUNDLE"
    )


def dse_csv(r):
    import csv
    import io

    batches = r["space"]["batches"]
    buf = io.StringIO()
    w = csv.writer(buf)
    head = [
        "metric",
        "v",
        "k",
        "bits",
        "lut_bits",
        "c_par",
        "k_par",
        "m_par",
        "wide_port",
        "mac",
        "accuracy",
        "table_bits",
        "area",
        "mac_area",
    ]
    head += [f"{x}_b{b}" for b in batches for x in ("cycles", "mac_cycles", "ratio")]
    head += ["fits", "front", "synth_area", "synth_mac_area"]
    w.writerow(head)
    for p in r["points"]:
        s = p.get("synth") or {}
        w.writerow(
            [p[h] for h in head[:14]]
            + [p[f"{x}_b{b}"] for b in batches for x in ("cycles", "mac_cycles", "ratio")]
            + [
                int(p["fits"]),
                int(bool(p.get("front"))),
                s.get("pq_area", ""),
                s.get("mac_area", ""),
            ]
        )
    return buf.getvalue()


def plot_front(r, path):
    """Accuracy against perf/area (batch 1) per MAC baseline, the front joined, the MAC at 1x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(r["front"])
    fig, axes = plt.subplots(
        1, max(1, len(labels)), figsize=(6.2 * max(1, len(labels)), 4.8), squeeze=False
    )
    for ax, label in zip(axes[0], labels):
        pts = [p for p in r["points"] if p["mac"] == label]
        groups = {}
        for p in pts:
            groups.setdefault((p["v"], p["k"]), []).append(p)
        for (v, k), ps in sorted(groups.items()):
            ax.scatter(
                [p["ratio_b1"] for p in ps],
                [100 * p["accuracy"] for p in ps],
                s=18,
                alpha=0.7,
                label=f"v={v} K={k}",
            )
        front = [r["points"][i] for i in r["front"][label]]
        ax.plot(
            [p["ratio_b1"] for p in front],
            [100 * p["accuracy"] for p in front],
            "k-",
            lw=1.2,
            label="front",
        )
        ax.scatter(
            [1.0],
            [100 * r["int8_mac"]],
            marker="s",
            color="k",
            s=40,
            label="int8 MAC (1x)",
            zorder=5,
        )
        ax.axhline(100 * r["float"], color="gray", ls="--", lw=1, label="float")
        ax.axhline(
            100 * r["float"] - r["space"]["loss_budget"],
            color="red",
            ls=":",
            lw=1,
            label=f"float - {r['space']['loss_budget']:g} point",
        )
        i = r["headline"][label].get("1")
        if i is not None:
            p = r["points"][i]
            ax.scatter(
                [p["ratio_b1"]],
                [100 * p["accuracy"]],
                marker="*",
                s=160,
                color="gold",
                edgecolor="k",
                zorder=6,
                label=f"best: {p['ratio_b1']:.2f}x",
            )
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"perf/area vs the {label} MAC engine (batch 1, equal clock)")
        ax.set_ylabel("test accuracy (%)")
        lo = min(100 * p["accuracy"] for p in pts)
        floor = max(lo - 1, 100 * r["float"] - 15)
        ax.set_ylim(floor, 100 * r["float"] + 1)
        below = sum(100 * p["accuracy"] < floor for p in pts)
        if below:
            ax.text(
                0.99,
                0.01,
                f"{below} points below {floor:.0f} %",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
            )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2, loc="lower left")
    name = os.path.basename(r["onnx"])
    fig.suptitle(
        f"{name} on {r['data'] if isinstance(r['data'], str) else ''}: accuracy vs perf/area, "
        f"{len(r['points'])} points",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_area(r, path):
    """Area of the front points by block (estimated), with the MAC engine's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen, pts = set(), []
    for label, front in r["front"].items():  # a PQ engine on several fronts is shown once
        for i in front:
            key = json.dumps(r["points"][i]["engine"], sort_keys=True)
            if key not in seen:
                seen.add(key)
                pts.append(r["points"][i])
    pts = sorted(pts, key=lambda p: p["area"])[:14]
    blocks = sorted({b for p in pts for b in p["block_area"]})
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(pts) + 3), 4.8))
    bottom = [0.0] * len(pts)
    for b in blocks:
        vals = [p["block_area"].get(b, 0) for p in pts]
        ax.bar(range(len(pts)), vals, bottom=bottom, label=b)
        bottom = [x + y for x, y in zip(bottom, vals)]
    macs = sorted(
        {
            (r["points"][i]["mac"], r["points"][i]["mac_area"])
            for f in r["front"].values()
            for i in f
        }
    )
    for (label, a), ls in zip(macs, ("--", ":", "-.")):
        ax.axhline(a, color="k", ls=ls, lw=1, label=f"MAC {label}: {a:,.0f}")
    ax.set_xticks(range(len(pts)))
    ax.set_xticklabels(
        [_label(p).replace(" par", "\npar") for p in pts], rotation=60, ha="right", fontsize=6
    )
    ax.set_ylabel(f"area on {r['space']['target']} (LUT4-eq, estimated)")
    ax.set_title("front points: area by block", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_commands(sub):
    from ..net.datasets import DATASETS
    from ..net.conversion import network_presets

    e = sub.add_parser(
        "estimate",
        help="resources per family from the parameters alone (milliseconds, no synthesis)",
    )
    add_config_args(e, layer=False)
    e.add_argument("--target", default="ecp5", help="FPGA family with a fitted model (ecp5, ice40)")
    e.add_argument("--design", choices=("pq", "mac"), default="pq")
    e.add_argument("--mac-d-par", type=int_arg(1), default=9)
    e.add_argument("--mac-m-par", type=int_arg(1), default=16)
    e.add_argument("--mac-mult", choices=("dsp", "lut"), default="dsp")
    e.add_argument("--json", metavar="FILE")
    e.set_defaults(func=cmd_estimate)

    d = sub.add_parser(
        "dse",
        help="design-space exploration on Dask: accuracy x perf/area front, best point "
        "at a 1-point accuracy budget",
    )
    d.add_argument("--onnx", required=True, metavar="FILE", help="trained CNN (ONNX)")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--dataset", choices=DATASETS)
    g.add_argument("--data", metavar="FILE.npz", help="your own data (as for 'net convert')")
    add_config_args(d, layer=False, default="net-v9k16", presets=network_presets())
    d.add_argument(
        "--space",
        metavar="FILE.toml",
        help="axes: [pq] metric v k bits lut_bits c_par k_par m_par wide_port; [mac] d_par m_par "
        "mult; "
        "[accuracy] method epochs seed; [flow] load_bits batches target loss_budget",
    )
    d.add_argument("--k", action="append", help="prototype counts (overrides the space file)")
    d.add_argument("--v", action="append", help="subvector lengths")
    d.add_argument("--bits", action="append", help="widths of inputs, prototypes and tables")
    d.add_argument("--metric", action="append", help="distance metrics")
    d.add_argument(
        "--accuracy",
        choices=("kmeans", "refit", "finetune"),
        help="how a point's PQ layers are fitted (default: the space's, refit)",
    )
    d.add_argument(
        "--epochs", type=int_arg(1), help="fine-tuning epochs per point (with --accuracy finetune)"
    )
    d.add_argument("--target", help="FPGA family of the area (default ecp5)")
    d.add_argument(
        "--keep",
        action="append",
        metavar="LAYERS",
        help="layers kept conventional (run on the host), e.g. first,last",
    )
    d.add_argument("--workers", type=int_arg(1), help="local Dask workers (default: one per core)")
    d.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    d.add_argument("--cache", metavar="DIR", help="task result cache (default $PQACCEL_CACHE/dse)")
    d.add_argument(
        "--no-synth", action="store_true", help="estimates only: no Yosys for the front points"
    )
    d.add_argument(
        "--pnr",
        type=int_arg(0),
        default=0,
        metavar="N",
        help="nextpnr (router2) for N points of each front, PQ and MAC: the headline point, then "
        "the best "
        "by perf/area (default 0)",
    )
    d.add_argument(
        "--out", required=True, help="folder for dse.csv, dse.json, dse.png, dse-area.png"
    )
    d.set_defaults(func=cmd_dse)
