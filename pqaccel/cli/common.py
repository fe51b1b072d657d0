"""What every command shares: configuration arguments, integer options with ranges, the
errors the command line reports as one line."""

import argparse
import json
import os

from .. import config as cf, presets as named
from ..engines.pq.config import engine_from_dict

__all__ = [
    "CLIError",
    "Terminated",
    "int_arg",
    "positive_float",
    "probability",
    "add_config_args",
    "resolve_config",
    "config_label",
    "add_mac_args",
    "design_configs",
    "write_json",
]


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


def positive_float(text):
    """An argparse ``type`` for a number above zero (e.g. a clock in MHz)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def probability(text):
    """An argparse ``type`` for a probability per cycle in ``[0, 1)`` (1 would stall forever)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), got {text}")
    return value


def _parse_value(text):
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text, 0)
    except ValueError:
        return text


def _apply_sets(engine, sets):
    """Every ``--set KEY=VALUE`` applied at once, then validated once: their order never matters."""
    changes = {}
    for item in sets or ():
        if "=" not in item:
            raise CLIError(f"--set takes KEY=VALUE (e.g. par.c_par=4), got {item!r}")
        key, value = item.split("=", 1)
        value = _parse_value(value)
        if "." in key:
            section, name = key.split(".", 1)
            if not isinstance(changes.setdefault(section, {}), dict):
                raise CLIError(f"--set {item!r}: {section!r} was already set as a value")
            changes[section][name] = value
        else:
            changes[key] = value
    return engine_from_dict(changes, engine) if changes else engine


def add_config_args(p, layer=True, default="default", presets=None):
    """``--preset`` (among ``presets``, default all; ``default`` when none is given), ``--config``,
    ``--set`` and, with ``layer``, ``--d/--m/--n``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--preset",
        default=None,
        help=f"named preset: {', '.join(presets or named.PRESETS)} (default: {default})",
    )
    g.add_argument(
        "--config", metavar="FILE", help="TOML or JSON file with [engine] and optional [layer]"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override an engine parameter, e.g. --set k=8 --set par.k_par=4 --set "
        "widths.lut_bits=5",
    )
    if layer:
        p.add_argument("--d", type=int_arg(1), help="layer input features (default: v*c_max)")
        p.add_argument("--m", type=int_arg(1), help="layer output channels (default: m_max)")
        p.add_argument("--n", type=int_arg(1), help="layer rows")


def resolve_config(args, n_default=64):
    """``(engine, layer)`` from ``--preset/--config/--set`` and ``--d/--m/--n``."""
    layer = None
    if args.config:
        engine, layer = named.load_config_file(args.config)
    else:
        engine = named.preset(args.preset or "default")
    engine = _apply_sets(engine, args.set)
    if hasattr(args, "d"):
        base = layer or named.default_layer(engine, n_default)
        layer = cf.LayerConfig(
            d=args.d if args.d is not None else base.d,
            m=args.m if args.m is not None else base.m,
            n=args.n if args.n is not None else base.n,
        )
        engine.check_layer(layer)
    return engine, layer


def config_label(args):
    """The name of the configuration for reports and default output paths."""
    return args.preset or (os.path.basename(args.config) if args.config else "default")


def write_json(path, obj, what="--json"):
    from ..fsutil import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=2), what)


def add_mac_args(p, both=False):
    """The MAC baseline's options (``--mac-d-par``, ``--mac-m-par``, ``--mac-w-bits``,
    ``--mac-mult``; with ``both``, ``--mac-mult both``: DSP and logic multipliers, the default)."""
    p.add_argument(
        "--mac-d-par", type=int_arg(1), default=9, help="MAC inputs per cycle (default 9)"
    )
    p.add_argument(
        "--mac-m-par", type=int_arg(1), default=16, help="MAC outputs per cycle (default 16)"
    )
    p.add_argument("--mac-w-bits", type=int_arg(2), default=8, help="MAC weight width (default 8)")
    p.add_argument(
        "--mac-mult",
        choices=("dsp", "lut", "both") if both else ("dsp", "lut"),
        default="both" if both else "dsp",
        help="MAC multipliers: dsp (DSP blocks where the family has them) or lut (logic only, "
        "no DSP: the PQ engine's budget)" + ("; both (default): PQ against each" if both else ""),
    )


def design_configs(args):
    """``(PQ engine, its MAC baseline)`` from the configuration and the ``--mac-*`` options."""
    from ..engines.mac.config import MacConfig

    engine, _ = resolve_config(args)
    mac = MacConfig.for_engine(
        engine,
        d_par=args.mac_d_par,
        m_par=args.mac_m_par,
        w_bits=args.mac_w_bits,
        mult=args.mac_mult,
    )
    return engine, mac


def chosen_design(args):
    """The engine configuration ``--design`` names (``pq``: the configured engine, ``mac``: its
    MAC baseline from the ``--mac-*`` options)."""
    engine, mac = design_configs(args)
    return {engine.kind: engine, mac.kind: mac}[args.design]
