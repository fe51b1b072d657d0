"""Network commands: ``net convert``, ``net eval``, ``net run``, ``net resnet20``, ``net sweep``."""

import dataclasses
import json
import os
import sys
import time

import numpy as np

from .common import add_config_args, int_arg, positive_float, probability, resolve_config

__all__ = ["add_commands", "apply_defaults", "NET_PRESET"]

#: The engine ``net convert`` and ``net sweep`` use when no ``--preset``/``--config`` is given.
NET_PRESET = "net-v9k16"


def _names(values, option):
    """The comma-separated entries of a repeatable option; an empty entry is an error."""
    out = []
    for v in values or ():
        parts = [s.strip() for s in v.split(",")]
        if not all(parts):
            raise ValueError(
                f"{option} takes comma-separated names without empty entries, got {v!r}"
            )
        out += parts
    return out


def _keep_names(net, keep):
    """``--keep`` names, with ``first`` and ``last`` for the first and last conv/gemm."""
    names = [op.name for op in net.matmul_ops()]
    out = []
    for k in keep:
        out.append(names[0] if k == "first" else names[-1] if k == "last" else k)
    unknown = [k for k in out if k not in names]
    if unknown:
        raise ValueError(
            f"--keep names unknown layer {unknown[0]!r}; layers: first, last, {', '.join(names)}"
        )
    return out


def _fit_shape(net, data, what, dataset):
    """The dataset with images of the shape the network takes (``what`` names the network): a
    network with a flat input (``N x F``) takes images of ``F`` elements, flattened."""
    want, have = tuple(net.input_shape), tuple(data.test_x.shape[1:])
    if have == want:
        return data
    if len(want) == 1 and int(np.prod(have)) == want[0]:
        return data.reshaped(want)
    raise ValueError(
        f"{what} takes inputs of shape {want}, but {dataset} has images of shape {have}"
    )


def _dataset(args, meta=None):
    """``(label, Dataset, meta entries)`` from ``--dataset`` or ``--data`` (for ``eval``/``run``
    falling back to the bundle's ``meta``)."""
    from ..api import load_dataset, load_npz

    meta = meta or {}
    path = getattr(args, "data", None)
    name = args.dataset
    if not path and not name:
        path, name = meta.get("data"), meta.get("dataset")
        if not path and not name:
            raise ValueError("--dataset or --data is needed: the bundle does not name its data")
    if path:
        data, note = load_npz(path)
        print(f"data     {path}: {note}")
        return f"--data {path!r}", data, {"data": os.path.abspath(path), "dataset": None}
    return f"dataset {name!r}", load_dataset(name), {"dataset": name}


def _load(args):
    from ..api import load_onnx

    net = load_onnx(args.onnx)
    label, data, entries = _dataset(args)
    return net, _fit_shape(net, data, f"--onnx {args.onnx!r}", label), label, entries


def _layer_table(qn):
    e = qn.engine
    print(
        f"  "
        f"{'layer':<12}{'mode':>5}{'d':>6}{'m':>5}{'C':>5}{'shift':>6}{'relu':>5}{'out scale':>12}"
    )
    for lq in qn.engine_layers():
        c = lq.describe(e)
        print(
            f"  {lq.name:<12}{lq.mode:>5}{lq.d:>6}{lq.m:>5}{c:>5}{lq.shift:>6}"
            f"{'yes' if lq.relu else '':>5}"
            f"{lq.out_scale:>12.4g}"
        )


def _finetune_settings(args):
    """The fine-tuning settings of ``convert`` (None without ``--finetune``); JAX must be there."""
    if not args.finetune:
        return None
    if args.mac_only:
        raise ValueError("--finetune trains PQ layers; --mac-only converts none")
    from ..api import FinetuneSettings

    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        raise ValueError("--finetune needs JAX and optax: pip install 'pqaccel[train]'") from None
    try:
        return FinetuneSettings(
            epochs=args.finetune,
            batch=args.ft_batch,
            lr=args.ft_lr,
            distill=args.distill,
            seed=args.seed,
            relative=FinetuneSettings().relative,
        )
    except ValueError as e:  # name the option, not the field
        names = {
            "lr": "--ft-lr",
            "distill": "--distill",
            "batch": "--ft-batch",
            "epochs": "--finetune",
        }
        field = str(e).split()[0]
        raise ValueError(f"{names.get(field, field)}: {e}") from None


def cmd_convert(args):
    from ..fsutil import check_output_dir, check_no_clobber
    from ..net import conversion, intmodel
    from ..api import save_bundle
    from ..net.bundle import BUNDLE_FILES, _previous

    engine, _ = resolve_config(args)
    conversion.check_engine(engine)
    check_output_dir(args.out)
    check_no_clobber(args.out, BUNDLE_FILES, _previous(args.out))
    net, data, label, entries = _load(args)
    keep = _keep_names(net, _names(args.keep, "--keep"))
    conversion.check_fit(net, engine, keep=keep)
    settings = _finetune_settings(args)  # checked, and JAX found, before the long work
    t0 = time.perf_counter()
    qn = conversion.convert(
        net,
        engine,
        data.calib_x,
        keep=keep,
        seed=args.seed,
        mac_only=args.mac_only,
        refit=args.refit,
    )
    wall = time.perf_counter() - t0
    meta = {
        "onnx": os.path.abspath(args.onnx),
        **entries,
        "keep": keep,
        "seed": args.seed,
        "mac_only": args.mac_only,
        "refit": args.refit,
        "convert_s": round(wall, 2),
    }
    print(
        f"converted {args.onnx} for {args.preset or args.config} on {len(data.calib_x)} "
        f"calibration images of {label} in {wall:.1f} s"
    )
    if settings is not None:
        from ..api import finetune

        print(
            f"fine-tuning {settings.epochs} epochs on {len(data.train_x)} training images (batch "
            f"{settings.batch}, Adam {settings.lr:g} of each tensor's RMS, cosine, distillation "
            f"{settings.distill:g}, seed {settings.seed})",
            flush=True,
        )
        t1 = time.perf_counter()
        qn, history = finetune(
            qn,
            data,
            settings,
            progress=sys.stderr.isatty(),
            log=lambda h: print(
                f"  epoch {h['epoch']:>3}  loss {h['loss']:.4f}  train accuracy "
                f"{100 * h['train_accuracy']:.2f} %  {h['wall_s']:.1f} s",
                flush=True,
            ),
        )
        meta["finetune"] = {
            **dataclasses.asdict(settings),
            "history": history,
            "wall_s": round(time.perf_counter() - t1, 1),
        }
        print(f"  fine-tuned in {meta['finetune']['wall_s']:.1f} s")
    files = save_bundle(qn, args.out, meta)
    _layer_table(qn)
    print(f"  table bits (codebooks + tables of the PQ layers): {intmodel.table_bits(qn)}")
    for f in files:
        print(f"bundle   {f}")
    return 0


def _load_bundle(args):
    """``(bundle, its meta, data label, dataset)`` for ``eval``/``run``; ``--json`` checked
    first."""
    from ..fsutil import check_output_file
    from ..api import load_bundle

    if args.json:
        check_output_file(args.json, "--json")
    qn = load_bundle(args.bundle)
    with open(os.path.join(args.bundle, "network.json")) as f:
        meta = json.load(f).get("meta", {})
    if not isinstance(meta, dict):
        meta = {}
    label, data, _ = _dataset(args, meta)
    return (
        qn,
        meta,
        label,
        _fit_shape(qn.net, data, f"the network of bundle {args.bundle!r}", label),
    )


def cmd_eval(args):
    from ..fsutil import write_text_atomic
    from ..net import conversion
    from ..api import evaluate
    from ..api import load_onnx

    qn, meta, dataset, data = _load_bundle(args)
    onnx_path = args.onnx or meta.get("onnx")
    if onnx_path and not os.path.exists(onnx_path):
        onnx_path = None
    mac = None
    if onnx_path:
        net = load_onnx(onnx_path)
        mac = conversion.int8_mac_network(net, qn.engine, data.calib_x)
    t0 = time.perf_counter()
    r = evaluate(qn, qn.net, data, onnx_path, mac=mac)
    r["eval_s"] = round(time.perf_counter() - t0, 2)
    print(f"{args.bundle}: {dataset} test split, {r['images']} images")
    rows = [
        ("float (own executor)", "float"),
        ("float (onnxruntime)", "float_onnxruntime"),
        ("int8 MAC network", "int8_mac"),
        ("PQ float", "pq_float"),
        ("PQ integer (engine)", "pq_int"),
    ]
    if not data.labelled:
        print(f"  {dataset} has random labels (no real data): there is no accuracy to report")
    for label, key in rows if data.labelled else ():
        if key in r:
            print(f"  {label:<24}{100 * r[key]:7.2f} %")
    if "float_max_abs_diff" in r:
        print(
            f"  own executor vs onnxruntime: max |logit difference| {r['float_max_abs_diff']:.2e}"
        )
    print("  per-layer output error of the PQ network (relative RMS against the float network):")
    for name, e in r["layer_rel_rms_error"].items():
        print(f"    {name:<12}{qn.layers[name].mode:>5}{e:9.4f}")
    print(f"  wall time {r['eval_s']:.1f} s")
    if args.json:
        write_text_atomic(args.json, json.dumps(r, indent=2))
    return 0


def cmd_run(args):
    from ..api import run_rtl
    from ..net.rtlrun import compare_model, rtl_engine
    from ..fsutil import write_text_atomic

    qn, meta, dataset, data = _load_bundle(args)
    x, y = data.split("test")
    if args.images > len(x):
        raise ValueError(
            f"--images must be at most {len(x)} (the {dataset} test split), got {args.images}"
        )
    x, y = x[: args.images], y[: args.images]
    r = run_rtl(
        qn,
        args.bundle,
        x,
        sim=args.sim,
        in_gap=args.in_gap,
        out_stall=args.out_stall,
        seed=args.seed,
        load_bits=args.load_bits,
    )
    kind = rtl_engine(qn).kind.upper()
    print(
        f"{args.bundle} on the emitted {kind} engine ({args.sim}): {len(x)} {dataset} test images "
        f"(one batch), "
        f"{kind} layers on the RTL, the rest on the host"
    )
    link = f"{args.load_bits} bits/cycle" if args.load_bits else "one write per cycle"
    print(f"  table port: {r['word_bits']}-bit writes, load link {link}")
    model = compare_model(qn, r)
    print(
        f"  "
        f"{'layer':<12}{'d':>5}{'m':>4}{'rows':>7}{'writes':>8}{'compute':>9}{'(model)':>9}{'stall':>8}"
        f"{'(model)':>9}{'end':>9}{'(model)':>9}"
    )
    for ly, ml in zip(r["layers"], model["layers"]):
        print(
            f"  {ly['layer']:<12}{ly['d']:>5}{ly['m']:>4}{ly['rows'] or 0:>7}{ly['writes']:>8}"
            f"{ly['compute_cycles'] or 0:>9}{ml['compute']:>9}"
            f"{ly['wait_cycles'] or 0:>8}{ml['stall']:>9}"
            f"{ly['last_out'] or 0:>9}{ml['end']:>9}"
        )
    print(
        f"  analytical model (pqaccel.net.perf): {model['total']} cycles against {r['cycles']} "
        f"measured "
        f"({100 * (model['total'] - r['cycles']) / r['cycles']:+.2f} %)"
    )
    r["model"] = model
    if r["mismatch"]:
        mm = r["mismatch"]
        print(
            f"  MISMATCH: image {mm['image']}, layer {mm['layer']}, row {mm.get('row')}, output "
            f"{mm.get('output')}: "
            f"got {mm['got']}, expected {mm['expected']}"
        )
    else:
        acc = float(np.mean(np.array(r["predictions"]) == y))
        gold = float(np.mean(np.array(r["golden_predictions"]) == y))
        print(
            f"  every layer's outputs equal the golden network model: {r['equal_to_golden']}; "
            f"mismatches 0"
        )
        if data.labelled:
            print(f"  accuracy: RTL {100 * acc:.2f} %, golden model {100 * gold:.2f} %")
            r["accuracy"], r["golden_accuracy"] = acc, gold
        else:
            print(f"  {dataset} has random labels (no real data): there is no accuracy to report")
    print(f"  engine cycles for the batch: {r['cycles']} ({r['cycles'] / len(x):.1f} per image)")
    print(f"  wall time: build {r['build_s']:.1f} s, total {r['wall_s']:.1f} s")
    if args.json:
        write_text_atomic(args.json, json.dumps(r, indent=2))
    return 1 if r["mismatch"] else 0


def cmd_resnet20(args):
    from ..fsutil import write_text_atomic
    from ..net.zoo import resnet20_onnx

    write_text_atomic(args.out, resnet20_onnx(seed=args.seed).SerializeToString(), "--out")
    print(
        f"onnx     {args.out}  (ResNet20, CIFAR-10 shapes, random weights, seed {args.seed}; "
        f"calibrate with --dataset cifar-shapes)"
    )
    return 0


def _int_list(option, values):
    out = []
    for text in _names(values, option):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{option} takes comma-separated integers, got {text!r}") from None
        if value < 1:
            raise ValueError(f"{option} takes integers >= 1, got {value}")
        out.append(value)
    return out


def sweep_points(args):
    ks = _int_list("--k", args.k)
    vs = _int_list("--v", args.v)
    bits = _int_list("--bits", args.bits)
    metrics = _names(args.metric, "--metric")
    return [(m, v, k, b) for m in metrics for v in vs for k in ks for b in bits]


def cmd_sweep(args):
    import csv
    import io
    from ..fsutil import check_output_dir, check_no_clobber, staged_files
    from ..net.conversion import check_engine
    from ..api import sweep
    from ..net.evaluation import plot_sweep

    engine, _ = resolve_config(args)
    check_engine(engine)
    names = ("sweep.csv", "sweep.json", "sweep.png")
    check_output_dir(args.out)
    check_no_clobber(args.out, names, _previous_sweep(args.out))
    net, data, label, entries = _load(args)
    keep = _keep_names(net, _names(args.keep, "--keep"))
    points = sweep_points(args)
    result = sweep(
        net,
        data,
        engine,
        points,
        keep=keep,
        seed=args.seed,
        refit=args.refit,
        progress=not args.quiet,
    )
    result = {"onnx": args.onnx, "dataset": label, **result}
    rows, base, wall = result["points"], result, result["wall_s"]
    x = result["images"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["metric", "v", "k", "bits", "refit", "table_bits", "pq_int_accuracy"])
    for r in rows:
        w.writerow(
            [r["metric"], r["v"], r["k"], r["bits"], int(r["refit"]), r["table_bits"], r["pq_int"]]
        )
    with staged_files(args.out, names, _previous_sweep(args.out)) as tmp:
        with open(os.path.join(tmp, "sweep.csv"), "w", newline="") as f:
            f.write(buf.getvalue())
        with open(os.path.join(tmp, "sweep.json"), "w") as f:
            json.dump(result, f, indent=2)
        plot_sweep(result, os.path.join(tmp, "sweep.png"))
    print(
        f"sweep of {len(rows)} points on {label} ({x} test images) in {wall:.1f} s: "
        f"float {100 * base['float']:.2f} %, int8 MAC {100 * base['int8_mac']:.2f} %"
    )
    print(f"  {'metric':<7}{'v':>3}{'k':>5}{'bits':>5}{'table bits':>12}{'PQ int %':>10}")
    for r in rows:
        print(
            f"  {r['metric']:<7}{r['v']:>3}{r['k']:>5}{r['bits']:>5}{r['table_bits']:>12}"
            f"{100 * r['pq_int']:>10.2f}"
        )
    near = [r for r in rows if r["pq_int"] >= base["float"] - 0.01]
    if near:
        best = min(near, key=lambda r: r["table_bits"])
        print(
            f"  smallest tables within 1.0 point of float: {best['metric']} v={best['v']} "
            f"k={best['k']} "
            f"bits={best['bits']} ({best['table_bits']} bits, {100 * best['pq_int']:.2f} %)"
        )
    else:
        print("  no point is within 1.0 point of float")
    for n in names:
        print(f"{n.split('.')[1]:<9}{os.path.join(args.out, n)}")
    return 0


def _previous_sweep(out_dir):
    from ..fsutil import previous_run

    return previous_run(
        out_dir, "sweep.json", ("sweep.csv", "sweep.json", "sweep.png"), ("points",)
    )


def add_commands(sub):
    from ..net.datasets import DATASETS
    from ..api import FinetuneSettings

    FT_DEFAULTS = FinetuneSettings()
    n = sub.add_parser("net", help="networks: ONNX import, PQ conversion, accuracy")
    nsub = n.add_subparsers(dest="net_command", required=True)

    def common(p, preset=True):
        p.add_argument("--onnx", required=True, metavar="FILE", help="trained CNN (ONNX)")
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--dataset", choices=DATASETS, help="calibration, training and test data")
        g.add_argument(
            "--data",
            metavar="FILE.npz",
            help="your own data: arrays x (N x C x H x W, or N x F) and y (labels), optionally "
            "x_test and y_test; otherwise a seeded split",
        )
        if preset:
            from ..net.conversion import network_presets

            add_config_args(p, layer=False, default=NET_PRESET, presets=network_presets())
        p.add_argument(
            "--keep",
            action="append",
            metavar="LAYERS",
            help="conv/gemm layers kept conventional (int8 MAC), comma-separated; 'first' and "
            "'last' name the first and last",
        )
        p.add_argument("--seed", type=int_arg(0), default=0, help="k-means seed")
        p.add_argument(
            "--refit",
            action="store_true",
            help="fit each PQ layer's tables by least squares to the float network's outputs "
            "on the calibration images (after k-means)",
        )

    c = nsub.add_parser("convert", help="convert a trained CNN into a PQ network bundle")
    common(c)
    c.add_argument("--out", required=True, help="bundle folder (network.json, arrays.npz)")
    c.add_argument(
        "--mac-only",
        action="store_true",
        help="keep every layer conventional: the int8 MAC network (runs on the MAC engine)",
    )
    c.add_argument(
        "--finetune",
        type=int_arg(1),
        default=None,
        metavar="EPOCHS",
        help="PQ-aware fine-tuning for EPOCHS epochs on the training split after the k-means "
        "initialisation (and --refit): prototypes, weights, biases and temperatures, the "
        "engine's integer arithmetic in the forward pass (needs pqaccel[train])",
    )
    c.add_argument(
        "--ft-lr",
        type=positive_float,
        default=FT_DEFAULTS.lr,
        metavar="LR",
        help=f"fine-tuning: Adam learning rate as a fraction of each tensor's RMS, cosine decay "
        f"to 0 "
        f"(default {FT_DEFAULTS.lr:g})",
    )
    c.add_argument(
        "--ft-batch",
        type=int_arg(1),
        default=FT_DEFAULTS.batch,
        metavar="N",
        help=f"fine-tuning: images per step (default {FT_DEFAULTS.batch})",
    )
    c.add_argument(
        "--distill",
        type=float,
        default=FT_DEFAULTS.distill,
        metavar="W",
        help="fine-tuning: weight of distillation from the float network's logits against the "
        f"labels, 0..1 (default {FT_DEFAULTS.distill:g}; 0: labels only)",
    )
    c.set_defaults(func=cmd_convert)

    e = nsub.add_parser(
        "eval", help="accuracy of float, int8 MAC, PQ float and PQ integer networks"
    )
    e.add_argument("--bundle", required=True, help="folder written by 'net convert'")
    ge = e.add_mutually_exclusive_group()
    ge.add_argument("--dataset", choices=DATASETS, help="(default: the bundle's)")
    ge.add_argument("--data", metavar="FILE.npz", help="your own data (default: the bundle's)")
    e.add_argument("--onnx", metavar="FILE", help="the original network (default: the bundle's)")
    e.add_argument("--json", metavar="FILE")
    e.set_defaults(func=cmd_eval)

    r = nsub.add_parser(
        "run", help="run a converted network on the emitted engine (cocotb), bit-exact check"
    )
    r.add_argument("--bundle", required=True, help="folder written by 'net convert'")
    r.add_argument(
        "--rtl", action="store_true", help="run the PQ layers on the RTL (the only mode for now)"
    )
    r.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    r.add_argument("--images", type=int_arg(1), default=20, help="test images (default 20)")
    gr = r.add_mutually_exclusive_group()
    gr.add_argument("--dataset", choices=DATASETS, help="(default: the bundle's)")
    gr.add_argument("--data", metavar="FILE.npz", help="your own data (default: the bundle's)")
    r.add_argument(
        "--in-gap", type=probability, default=0.0, help="probability of an input gap per beat"
    )
    r.add_argument(
        "--out-stall", type=probability, default=0.0, help="probability of output backpressure"
    )
    r.add_argument("--seed", type=int_arg(0), default=0)
    r.add_argument(
        "--load-bits",
        type=int_arg(1),
        default=None,
        metavar="B",
        help="table-load bandwidth in bits per cycle (default: one port write per cycle)",
    )
    r.add_argument("--json", metavar="FILE")
    r.set_defaults(func=cmd_run)

    z = nsub.add_parser(
        "resnet20", help="write ResNet20 for CIFAR-10 shapes (seeded random weights) as ONNX"
    )
    z.add_argument("--out", required=True, metavar="FILE")
    z.add_argument("--seed", type=int_arg(0), default=0)
    z.set_defaults(func=cmd_resnet20)

    s = nsub.add_parser(
        "sweep", help="PQ accuracy over K, v, bits and metric: CSV, JSON and a PNG plot"
    )
    common(s)
    s.add_argument(
        "--k", action="append", default=None, help="prototype counts (default 4,8,16,32,64)"
    )
    s.add_argument("--v", action="append", default=None, help="subvector lengths (default 3,9)")
    s.add_argument(
        "--bits",
        action="append",
        default=None,
        help="prototype and table widths (default 3,4,5,6,8)",
    )
    s.add_argument(
        "--metric", action="append", default=None, help="distance metrics (default l1,l2)"
    )
    s.add_argument("--out", required=True, help="folder for sweep.csv, sweep.json, sweep.png")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)


def apply_defaults(args):
    """Fill the sweep grid and the network preset."""
    if getattr(args, "command", None) != "net":
        return
    if args.net_command in ("convert", "sweep") and args.preset is None and args.config is None:
        args.preset = NET_PRESET
    if args.net_command == "sweep":
        args.k = args.k or ["4,8,16,32,64"]
        args.v = args.v or ["3,9"]
        args.bits = args.bits or ["3,4,5,6,8"]
        args.metric = args.metric or ["l1,l2"]
