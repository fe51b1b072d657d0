"""The ``pqaccel`` command line.

Commands live by topic: :mod:`.engine` (``config``, ``model``, ``generate``, ``tables``,
``cosim``), :mod:`.cost` (``synth``, ``pnr``, ``compare``), :mod:`.net` (``net ...``),
:mod:`.board` (``build``, ``run``); the
argument handling they share is in :mod:`.common`.
"""

import argparse
import signal
import sys

from .common import CLIError, Terminated, int_arg

__all__ = ["main", "build_parser", "int_arg"]


def build_parser():
    from . import board, cost, engine, net
    p = argparse.ArgumentParser(prog="pqaccel", description="Product-quantization accelerator generator")
    sub = p.add_subparsers(dest="command", required=True)
    engine.add_commands(sub)
    cost.add_commands(sub)
    net.add_commands(sub)
    board.add_commands(sub)
    return p


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from .net import apply_defaults
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
