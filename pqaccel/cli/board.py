"""``pqaccel build`` (a board's bitstream) and ``pqaccel run`` (the host driver on a serial
port)."""

import json
import time

from .common import CLIError, add_config_args, config_label, int_arg, positive_float, resolve_config

__all__ = ["add_commands"]


def cmd_build(args):
    from ..board.boards import BOARDS
    from ..board.build import BuildError, build_board, check_outputs

    board = BOARDS[args.board]
    if not (args.preset or args.config):
        args.preset = board.preset
    cfg, _ = resolve_config(args)
    out = args.out or f"build-{board.name}"
    try:
        check_outputs(board, out)  # before the long work
    except BuildError as e:
        raise CLIError(str(e)) from None
    print(
        f"building {config_label(args)} for the {board.name} ({board.family}, engine clock "
        f"{board.engine_mhz:g} MHz from {board.clk_mhz:g} MHz, UART {board.baud} baud) with "
        f"YoWASP ...",
        flush=True,
    )
    try:
        r = build_board(board, cfg, out, program=args.program, seed=args.seed)
    except BuildError as e:
        raise CLIError(str(e)) from None
    print(
        f"  Fmax {r['fmax_mhz']:.2f} MHz against {r['requested_mhz']:.2f} MHz requested: timing met"
    )
    print(f"  {'resource':<16}{'used':>8}{'available':>11}")
    for name, u in sorted(r["utilization"].items()):
        print(f"  {name:<16}{u['used']:>8}{u['available']:>11}")
    print(f"  wall time {r['seconds']:.1f} s")
    for kind, path in r["files"].items():
        print(f"{kind:<10}{path}")
    return 0


def cmd_run(args):
    from ..config import LayerConfig
    from ..engines import engine_from_manifest
    from ..jobs import make_job
    from ..host import Board, HostError, SerialTransport

    try:
        with open(args.link, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise CLIError(
            f"--link {args.link!r} is not a link file written by 'pqaccel build' (not UTF-8 "
            f"JSON text)"
        ) from None
    try:
        manifest = json.loads(text)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
        params = manifest["link"]
        cfg = engine_from_manifest(manifest)
    except KeyError as e:
        raise CLIError(
            f"--link {args.link!r} is not a link file written by 'pqaccel build' (no {e} entry)"
        ) from None
    except (TypeError, ValueError) as e:
        raise CLIError(
            f"--link {args.link!r} is not a link file written by 'pqaccel build' ({e})"
        ) from None
    layer = cfg.check_layer(LayerConfig(d=args.d, m=args.m, n=args.n))  # before the port is opened
    try:
        transport = SerialTransport(args.port, params["baud"], timeout=args.timeout)
        board = Board(transport, params)
        board.check_identity()
        job = make_job(manifest, layer, args.seed)
        t0 = time.perf_counter()
        beats = board.run_job(job)
        wall = time.perf_counter() - t0
    except (HostError, TimeoutError) as e:
        raise CLIError(str(e)) from None
    bad = job.check(beats)
    print(
        f"{args.n} rows on the board at {args.port}: {len(bad)} mismatches, {args.n / wall:.1f} "
        f"rows/s"
    )
    for b in bad[:5]:
        print(f"  mismatch: {b}")
    return 1 if bad else 0


def add_commands(sub):
    from ..board.boards import BOARDS

    b = sub.add_parser(
        "build", help="bitstream for a board (amaranth-boards, YoWASP): utilization, Fmax"
    )
    b.add_argument("--board", required=True, choices=sorted(BOARDS))
    add_config_args(b, layer=False)
    b.add_argument("--out", metavar="DIR", help="output folder (default build-<board>)")
    b.add_argument("--seed", type=int_arg(0), default=1, help="nextpnr seed")
    b.add_argument(
        "--program", action="store_true", help="program the attached board after the build"
    )
    b.set_defaults(func=cmd_build)

    r = sub.add_parser(
        "run", help="random layer through a board's UART link, checked against the model"
    )
    r.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    r.add_argument(
        "--link", required=True, metavar="FILE", help="<board>.link.json written by 'pqaccel build'"
    )
    r.add_argument("--d", type=int_arg(1), default=32)
    r.add_argument("--m", type=int_arg(1), default=8)
    r.add_argument("--n", type=int_arg(1), default=64)
    r.add_argument("--seed", type=int_arg(0), default=0)
    r.add_argument(
        "--timeout",
        type=positive_float,
        default=2.0,
        help="seconds to wait for the board (default 2)",
    )
    r.set_defaults(func=cmd_run)
