"""Hardware commands of the CLI: ``generate`` and ``cosim``."""

import json
import os
import tempfile

import numpy as np

__all__ = ["add_commands"]


def cmd_generate(args):
    from .cli import resolve_config
    from .export import generate
    engine, layer = resolve_config(args, n_default=2048)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out must be a directory, got the file {args.out!r}")
    tables = None
    if args.train_seed is not None:
        from . import model
        rng = np.random.default_rng(args.train_seed)
        centers = rng.normal(size=(32, layer.d))
        x = centers[rng.integers(0, 32, size=layer.n)] + 0.3 * rng.normal(size=(layer.n, layer.d))
        w = rng.normal(size=(layer.d, layer.m)) / np.sqrt(layer.d)
        tables = model.train(engine, x, w, seed=args.train_seed)
    files = generate(engine, args.out, name=args.name, tables=tables)
    for kind, path in files.items():
        print(f"{kind:<9}{path}")
    with open(files["manifest"]) as f:
        m = json.load(f)
    lat = m["latency"]
    print(f"engine: {len(m['ports'])} ports, table port {m['address_map']['addr_bits']}-bit address / "
          f"{m['address_map']['data_bits']}-bit data, encode {lat['encode_stages']} + lookup "
          f"{lat['lookup_stages']} pipeline stages")
    return 0


def cmd_cosim(args):
    from .cli import resolve_config
    from .config import LayerConfig
    from .export import generate
    from .sim.runner import run_cosim
    engine, layer = resolve_config(args)
    for name in ("in_gap", "out_stall"):
        value = getattr(args, name)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"--{name.replace('_', '-')} must be a probability in [0, 1), got {value!r}")
    if args.rows < 2:
        raise ValueError(f"--rows must be at least 2 (cycles per row are measured between rows), got {args.rows!r}")
    with tempfile.TemporaryDirectory(prefix="pqaccel-cosim-") as tmp:
        files = generate(engine, os.path.join(tmp, "rtl"), name=args.name)
        layers = [
            {"d": layer.d, "m": layer.m, "n": args.rows, "in_gap": args.in_gap, "out_stall": args.out_stall},
            {"d": layer.d, "m": layer.m, "n": args.rows, "in_gap": 0.0, "out_stall": 0.0},
        ]
        result = run_cosim(files["verilog"], files["manifest"], sim=args.sim, layers=layers,
                           seed=args.seed, build_dir=os.path.join(tmp, "build"))
    total = 0
    print(f"cosim on {args.sim}: {args.preset or args.config or 'default'}, layer d={layer.d} m={layer.m}, "
          f"seed {args.seed}")
    for name, res in zip(("random gaps/backpressure", "free-running"), result["layers"]):
        total += res["mismatches"]
        cpr = res["cycles_per_row"]
        print(f"  {name:<26} rows {res['n']:>5}  mismatches {res['mismatches']}  "
              f"cycles/row {cpr:.2f} (ideal {res['ideal_cycles_per_row']})  "
              f"first-row latency {res['latency_first_row']} cycles")
    print(f"mismatches: {total}")
    print(f"wall time: build {result['build_s']:.1f} s, total {result['wall_s']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 1 if total else 0


def add_commands(sub, add_config_args):
    g = sub.add_parser("generate", help="write Verilog, manifest and (with --train-seed) table init files")
    add_config_args(g)
    g.add_argument("--name", default="pq_engine", help="Verilog top module name (default: pq_engine)")
    g.add_argument("--out", required=True, help="output directory, e.g. rtl_out/default")
    g.add_argument("--train-seed", type=int, default=None,
                   help="train PQ on a seeded random layer (--d/--m/--n) and write its tables")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("cosim", help="co-simulate the emitted Verilog against the golden model (cocotb)")
    add_config_args(c)
    c.add_argument("--sim", choices=("icarus", "verilator"), default="icarus")
    c.add_argument("--rows", type=int, default=100, help="rows per phase (default 100)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--in-gap", type=float, default=0.3, help="probability of an input gap per beat")
    c.add_argument("--out-stall", type=float, default=0.3, help="probability of output backpressure")
    c.add_argument("--name", default="pq_engine")
    c.add_argument("--json", metavar="FILE", help="also write the full result as JSON")
    c.set_defaults(func=cmd_cosim)
