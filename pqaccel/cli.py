"""The ``pqaccel`` command line."""

import argparse
import json
import signal
import sys
import time


from . import config as cf

__all__ = ["main"]


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C (tools killed, temporary files removed), exit 143.

    Not a :class:`SystemExit`, so that no library that catches ``SystemExit`` (the cocotb runner
    does, for failed tests) can swallow it."""


def int_arg(lo=None, hi=None):
    """An argparse ``type`` for an integer in ``[lo, hi]``: a bad value is reported by argparse
    with the option's name, the value and the valid range (exit 2)."""
    def parse(text):
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if hi is None:
                what = "a non-negative integer" if lo == 0 else f"an integer >= {lo}"
            else:
                what = f"an integer from {lo} to {hi}"
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    parse.__name__ = "integer"
    return parse


def _parse_value(text):
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text, 0)
    except ValueError:
        return text


def _apply_sets(engine, sets):
    for item in sets or ():
        if "=" not in item:
            raise CLIError(f"--set takes KEY=VALUE (e.g. par.c_par=4), got {item!r}")
        key, value = item.split("=", 1)
        value = _parse_value(value)
        if "." in key:
            section, name = key.split(".", 1)
            engine = cf.engine_from_dict({section: {name: value}}, engine)
        else:
            engine = cf.engine_from_dict({key: value}, engine)
    return engine


def add_config_args(p, layer=True):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", default=None, help=f"named preset: {', '.join(cf.PRESETS)} (default: default)")
    g.add_argument("--config", metavar="FILE", help="TOML or JSON file with [engine] and optional [layer]")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override an engine parameter, e.g. --set k=8 --set par.k_par=4 --set widths.lut_bits=5")
    if layer:
        p.add_argument("--d", type=int_arg(1), help="layer input features (default: v*c_max)")
        p.add_argument("--m", type=int_arg(1), help="layer output channels (default: m_max)")
        p.add_argument("--n", type=int_arg(1), help="layer rows")


def resolve_config(args, n_default=64):
    """``(engine, layer)`` from ``--preset/--config/--set`` and ``--d/--m/--n``."""
    layer = None
    if args.config:
        engine, layer = cf.load_config_file(args.config)
    else:
        engine = cf.preset(args.preset or "default")
    engine = _apply_sets(engine, args.set)
    if hasattr(args, "d"):
        base = layer or cf.default_layer(engine, n_default)
        layer = cf.LayerConfig(d=args.d if args.d is not None else base.d,
                               m=args.m if args.m is not None else base.m,
                               n=args.n if args.n is not None else base.n)
        engine.check_layer(layer)
    return engine, layer


def cmd_config_show(args):
    engine, layer = resolve_config(args)
    if args.json:
        print(json.dumps({"engine": engine.to_dict(), "derived": engine.derived(),
                          "layer": vars(layer),
                          "ideal_cycles_per_row": engine.ideal_cycles_per_row(layer)}, indent=2))
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
    from . import model
    engine, layer = resolve_config(args, n_default=2048)
    if layer.n < 2 * engine.k:
        raise CLIError(f"--n must be at least 2*k={2 * engine.k} (half the rows train k={engine.k} "
                       f"prototypes per subspace, half are held out), got {layer.n}")
    from .cli_hw import synthetic_layer
    x, w = synthetic_layer(layer, args.seed)
    n_train = layer.n // 2
    t0 = time.perf_counter()
    tables = model.train(engine, x[:n_train], w, seed=args.seed)
    t1 = time.perf_counter()
    stats = model.evaluate(engine, tables, x[n_train:], w)
    print(f"layer d={layer.d} m={layer.m}: trained on {n_train} rows in {t1 - t0:.2f} s, "
          f"evaluated on {layer.n - n_train} held-out rows")
    print(f"  scales: x/proto {tables.x_scale:.4g}, lut {tables.lut_scale:.4g}, out {tables.out_scale:.4g}")
    print(f"  {'':<16}{'rel. Frobenius':>16}{'max |err|':>12}{'RMSE':>12}")
    for name in ("float_pq", "quantized_pq"):
        s = stats[name]
        print(f"  {name:<16}{s['rel_fro']:>16.4f}{s['max_abs']:>12.4f}{s['rmse']:>12.4f}")
    print(f"  quantized-vs-float gap (rel. Frobenius): {stats['quant_gap_rel_fro']:.4f}; "
          f"exact output RMS {stats['exact_rms']:.4f}")
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="pqaccel", description="Product-quantization accelerator generator")
    sub = p.add_subparsers(dest="command", required=True)

    pc = sub.add_parser("config", help="configuration tools")
    csub = pc.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print every parameter, derived widths and ideal cycles")
    add_config_args(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_config_show)

    pm = sub.add_parser("model", help="train PQ on a seeded random layer and print error statistics")
    add_config_args(pm)
    pm.add_argument("--seed", type=int_arg(0), default=0)
    pm.set_defaults(func=cmd_model)

    from . import cli_hw, cli_net
    cli_hw.add_commands(sub, add_config_args)
    cli_net.add_commands(sub, add_config_args)
    return p


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from .cli_net import apply_defaults
    apply_defaults(args)
    # A terminated run unwinds like Ctrl-C: temporary folders are removed, tools are killed.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except (CLIError, ValueError, TypeError) as e:
        print(f"pqaccel: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:                 # a file the user named could not be read or written
        where = f" {e.filename!r}" if e.filename else ""
        print(f"pqaccel: error:{where} {e.strerror or e}", file=sys.stderr)
        return 2
    except RuntimeError as e:            # an external tool (Yosys, nextpnr, a simulator) failed
        print(f"pqaccel: tool failure: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pqaccel: interrupted (Ctrl-C); temporary files removed, nothing written", file=sys.stderr)
        return 130
    except Terminated:
        print("pqaccel: stopped by SIGTERM; temporary files removed, nothing written", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(main())
