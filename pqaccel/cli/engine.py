"""Engine commands: ``config show``, ``model``, ``generate``, ``tables``, ``cosim``."""

import json
import os
import tempfile
import time

import numpy as np

from ..engines.pq.config import EngineConfig
from .common import (
    CLIError,
    add_config_args,
    add_mac_args,
    chosen_design,
    int_arg,
    probability,
    resolve_config,
)

__all__ = ["add_commands", "COSIM_ROWS_MAX"]


#: Rows per phase that ``cosim`` accepts: every beat and expected output is held in memory.
COSIM_ROWS_MAX = 100_000


def cmd_config_show(args):
    engine, layer = resolve_config(args)
    if args.json:
        print(
            json.dumps(
                {
                    "engine": engine.to_dict(),
                    "derived": engine.derived(),
                    "layer": vars(layer),
                    "ideal_cycles_per_row": engine.ideal_cycles_per_row(layer),
                },
                indent=2,
            )
        )
        return 0
    print(f"engine ({args.config or args.preset or 'default'})")
    for key in ("v", "k", "c_max", "m_max", "metric"):
        print(f"  {key:<22}{getattr(engine, key)}")
    for section in ("par", "widths", "requant"):
        for key, value in vars(getattr(engine, section)).items():
            print(f"  {section + '.' + key:<22}{value}")
    print("derived")
    for key, value in engine.derived().items():
        print(f"  {key:<22}{value}")
    print(f"layer  d={layer.d} m={layer.m} n={layer.n}")
    print(f"  {'subspaces C':<22}{engine.subspaces(layer)}")
    print(f"  {'groups ceil(C/c_par)':<22}{engine.groups(layer)}")
    print(f"  {'m_steps':<22}{engine.m_steps(layer)}")
    print(f"  {'ideal cycles / row':<22}{engine.ideal_cycles_per_row(layer)}")
    return 0


def cmd_model(args):
    from ..engines.pq import model
    from ..engines.pq.model import synthetic_layer

    engine, layer = resolve_config(args, n_default=2048)
    if layer.n < 2 * engine.k:
        raise CLIError(
            f"--n must be at least 2*k={2 * engine.k} (half the rows train k={engine.k} "
            f"prototypes per subspace, half are held out), got {layer.n}"
        )
    x, w = synthetic_layer(layer, args.seed)
    n_train = layer.n // 2
    t0 = time.perf_counter()
    tables = model.train(engine, x[:n_train], w, seed=args.seed)
    t1 = time.perf_counter()
    stats = model.evaluate(engine, tables, x[n_train:], w)
    print(
        f"layer d={layer.d} m={layer.m}: trained on {n_train} rows in {t1 - t0:.2f} s, "
        f"evaluated on {layer.n - n_train} held-out rows"
    )
    print(
        f"  scales: x/proto {tables.x_scale:.4g}, lut {tables.lut_scale:.4g}, out "
        f"{tables.out_scale:.4g}"
    )
    print(f"  {'':<16}{'rel. Frobenius':>16}{'max |err|':>12}{'RMSE':>12}")
    for name in ("float_pq", "quantized_pq"):
        s = stats[name]
        print(f"  {name:<16}{s['rel_fro']:>16.4f}{s['max_abs']:>12.4f}{s['rmse']:>12.4f}")
    print(
        f"  quantized-vs-float gap (rel. Frobenius): {stats['quant_gap_rel_fro']:.4f}; "
        f"exact output RMS {stats['exact_rms']:.4f}"
    )
    return 0


def cmd_generate(args):
    from ..api import generate
    from ..export import check_output

    engine, layer = resolve_config(args, n_default=2048)
    engine = chosen_design(args)
    if args.train_seed is not None and not isinstance(engine, EngineConfig):
        raise CLIError(
            f"--train-seed trains PQ tables; the {args.design.upper()} engine (--design "
            f"{args.design}) "
            f"has none"
        )
    check_output(args.out, args.name, tables=args.train_seed is not None)
    tables = None
    if args.train_seed is not None:
        from ..engines.pq import model
        from ..engines.pq.model import synthetic_layer

        if layer.n < engine.k:
            raise CLIError(
                f"--n must be at least k={engine.k} to train k prototypes, got {layer.n}"
            )
        x, w = synthetic_layer(layer, args.train_seed)
        tables = model.train(engine, x, w, seed=args.train_seed)
    files = generate(engine, args.out, name=args.name, tables=tables, wrapper=args.wrapper)
    for kind, path in files.items():
        print(f"{kind:<9}{path}")
    with open(files["manifest"]) as f:
        m = json.load(f)
    lat = m["latency"]
    print(
        f"engine: {len(m['ports'])} ports, table port {m['address_map']['addr_bits']}-bit address "
        f"/ "
        f"{m['address_map']['data_bits']}-bit data, "
        + " + ".join(f"{k[: -len('_stages')]} {v}" for k, v in lat.items() if k.endswith("_stages"))
        + " pipeline stages"
    )
    return 0


def _load_array(path, key, what):
    """An integer array from a ``.npy`` file, or from ``.npz`` (the array named ``key``)."""
    try:
        with open(path, "rb"):
            pass
        loaded = np.load(path, allow_pickle=False)
    except OSError as e:
        raise CLIError(f"{what} {path!r} cannot be read: {e.strerror or e}") from None
    except ValueError:
        raise CLIError(
            f"{what} {path!r} is not a NumPy .npy/.npz file of integers (write one with "
            f"numpy.save or numpy.savez)"
        ) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if key in names:
                return loaded[key]
            raise CLIError(
                f"{what} {path!r} has no array named {key!r} (it holds {names}); save it with "
                f"numpy.savez(path, {key}=array) or as a .npy file"
            )
    if not isinstance(loaded, np.ndarray):
        raise CLIError(f"{what} {path!r} is not a NumPy .npy/.npz file")
    return loaded


def cmd_tables(args):
    """Table-port writes for the user's own integer codebooks and tables."""
    from ..engines.pq.addrmap import PQAddressMap
    from ..export import write_table_hex, TABLE_HEX_FORMAT
    from ..fsutil import check_output_file, write_text_atomic
    from ..engines.pq.model import check_tables

    engine, _ = resolve_config(args)
    check_output_file(args.out, "--out")
    protos = _load_array(args.protos, "protos", "--protos")
    lut = _load_array(args.lut, "lut", "--lut")
    try:
        c, m = check_tables(engine, protos, lut)
    except ValueError as e:
        raise CLIError(str(e)) from None
    amap = PQAddressMap(engine)
    writes = amap.table_writes(protos, lut, commit=not args.no_commit)
    with tempfile.TemporaryDirectory(prefix="pqaccel-tables-") as tmp:
        path = os.path.join(tmp, "t.hex")
        write_table_hex(path, amap, writes)
        with open(path) as f:
            write_text_atomic(args.out, f.read(), "--out")
    print(f"tables   {args.out}  ({len(writes)} writes: C={c}, M={m}, {TABLE_HEX_FORMAT})")
    return 0


def cmd_cosim(args):
    from ..api import generate
    from ..fsutil import check_output_file
    from ..api import run_cosim
    from ..sim.runner import WAVE_FORMATS

    engine, layer = resolve_config(args)
    if args.json:
        check_output_file(args.json, "--json")
    if args.waves:
        ext = WAVE_FORMATS[args.sim]
        if not args.waves.endswith(ext):
            raise ValueError(
                f"--waves must end in {ext!r}: {args.sim} writes {ext[1:].upper()} "
                f"waveforms, got {args.waves!r}"
            )
        check_output_file(args.waves, "--waves")
    with tempfile.TemporaryDirectory(prefix="pqaccel-cosim-") as tmp:
        files = generate(engine, os.path.join(tmp, "rtl"), name=args.name)
        layers = [
            {
                "d": layer.d,
                "m": layer.m,
                "n": args.rows,
                "in_gap": args.in_gap,
                "out_stall": args.out_stall,
            },
            {"d": layer.d, "m": layer.m, "n": args.rows, "in_gap": 0.0, "out_stall": 0.0},
        ]
        result = run_cosim(
            files["verilog"],
            files["manifest"],
            sim=args.sim,
            layers=layers,
            seed=args.seed,
            build_dir=os.path.join(tmp, "build"),
            waves=args.waves,
        )
    total = 0
    print(
        f"cosim on {args.sim}: {args.preset or args.config or 'default'}, layer d={layer.d} "
        f"m={layer.m}, "
        f"seed {args.seed}"
    )
    for name, res in zip(("random gaps/backpressure", "free-running"), result["layers"]):
        total += res["mismatches"]
        cpr = res["cycles_per_row"]
        print(
            f"  {name:<26} rows {res['n']:>5}  mismatches {res['mismatches']}  "
            f"cycles/row {cpr:.2f} (ideal {res['ideal_cycles_per_row']})  "
            f"first-row latency {res['latency_first_row']} cycles"
        )
        for bad in res["first_mismatches"]:
            print(f"    mismatch: {describe_mismatch(bad)}")
    print(f"mismatches: {total}")
    print(f"wall time: build {result['build_s']:.1f} s, total {result['wall_s']:.1f} s")
    if args.waves:
        print(f"waves    {args.waves}")
    if args.json:
        from ..fsutil import write_text_atomic

        write_text_atomic(args.json, json.dumps(result, indent=2))
    return 1 if total else 0


def describe_mismatch(bad):
    """One line for a mismatch record of :meth:`pqaccel.jobs.Job.check`."""
    if bad["what"] == "count":
        return f"{bad['got']} output beats, expected {bad['expected']}"
    if bad["what"] == "last":
        return f"row {bad['row']} beat {bad['beat']}: last={bad['got']}, expected {bad['expected']}"
    return f"row {bad['row']} output {bad['output']}: got {bad['got']}, expected {bad['expected']}"


def add_commands(sub):
    pc = sub.add_parser("config", help="configuration tools")
    csub = pc.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print every parameter, derived widths and ideal cycles")
    add_config_args(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_config_show)

    pm = sub.add_parser(
        "model", help="train PQ on a seeded random layer and print error statistics"
    )
    add_config_args(pm)
    pm.add_argument("--seed", type=int_arg(0), default=0)
    pm.set_defaults(func=cmd_model)

    g = sub.add_parser(
        "generate", help="write Verilog, manifest and (with --train-seed) table init files"
    )
    add_config_args(g)
    g.add_argument(
        "--name", default="pq_engine", help="Verilog top module name (default: pq_engine)"
    )
    g.add_argument(
        "--out",
        required=True,
        help="output folder, e.g. rtl_out/default (created if needed; other files in it are kept)",
    )
    g.add_argument(
        "--wrapper",
        choices=("axi",),
        default=None,
        help="emit the engine behind a bus wrapper: axi = AXI4-Stream rows/results and AXI4-Lite "
        "tables/control (see the manifest's 'wrapper' section)",
    )
    g.add_argument(
        "--train-seed",
        type=int_arg(0),
        default=None,
        help="train PQ on a seeded random layer (--d/--m/--n) and write its tables",
    )
    g.add_argument(
        "--design",
        choices=("pq", "mac"),
        default="pq",
        help="the PQ engine (default) or its MAC baseline (--mac-* options)",
    )
    add_mac_args(g)
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("tables", help="table-port writes for your own integer codebooks and tables")
    add_config_args(t, layer=False)
    t.add_argument(
        "--protos",
        required=True,
        metavar="FILE",
        help="codebooks, integer array C x k x v (.npy, or .npz with an array 'protos')",
    )
    t.add_argument(
        "--lut",
        required=True,
        metavar="FILE",
        help="tables, integer array C x k x M (.npy, or .npz with an array 'lut')",
    )
    t.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="write file (one '<addr hex> <data hex>' per line)",
    )
    t.add_argument("--no-commit", action="store_true", help="leave out the final commit write")
    t.set_defaults(func=cmd_tables)

    c = sub.add_parser(
        "cosim", help="co-simulate the emitted Verilog against the golden model (cocotb)"
    )
    add_config_args(c)
    c.add_argument("--sim", choices=("icarus", "verilator"), default="icarus")
    c.add_argument(
        "--rows",
        type=int_arg(2, COSIM_ROWS_MAX),
        default=100,
        help=f"rows per phase, 2..{COSIM_ROWS_MAX} (default 100)",
    )
    c.add_argument("--seed", type=int_arg(0), default=0)
    c.add_argument(
        "--in-gap", type=probability, default=0.3, help="probability of an input gap per beat"
    )
    c.add_argument(
        "--out-stall", type=probability, default=0.3, help="probability of output backpressure"
    )
    c.add_argument("--name", default="pq_engine")
    c.add_argument("--json", metavar="FILE", help="also write the full result as JSON")
    c.add_argument(
        "--waves",
        metavar="FILE",
        help="write the waveform for GTKWave (.fst on icarus, .vcd on verilator)",
    )
    c.set_defaults(func=cmd_cosim)
