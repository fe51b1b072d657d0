"""The ``pqaccel`` command line.

Commands live by topic: :mod:`.engine` (``config``, ``model``, ``generate``, ``tables``,
``cosim``), :mod:`.cost` (``synth``, ``pnr``, ``compare``), :mod:`.explore` (``estimate``,
``dse``), :mod:`.net` (``net ...``),
:mod:`.board` (``build``, ``run``); the
argument handling they share is in :mod:`.common`.
"""

import argparse
import functools
import os
import signal
import sys
import threading
import time

from .common import CLIError, Terminated, int_arg

__all__ = ["main", "build_parser", "int_arg"]


def build_parser():
    from . import board, cost, engine, explore, net

    p = argparse.ArgumentParser(
        prog="pqaccel", description="Product-quantization accelerator generator"
    )
    sub = p.add_subparsers(dest="command", required=True)
    engine.add_commands(sub)
    cost.add_commands(sub)
    explore.add_commands(sub)
    net.add_commands(sub)
    board.add_commands(sub)
    return p


def _stop_handler(state, signum, frame):
    """Ctrl-C and SIGTERM unwind the run (tools killed, temporary folders removed).  Python
    drops an exception raised while a finalizer runs (``Exception ignored in ...``), and then
    the run would go on; so the signal is delivered again every few seconds until :func:`main`
    has caught it (``state["handled"]``)."""
    if state["signal"] is None:

        def redeliver():
            while True:
                time.sleep(3)
                if state["handled"]:
                    return
                os.kill(os.getpid(), signum)

        threading.Thread(target=redeliver, daemon=True).start()
    state["signal"] = signum
    raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def _stopped(state, message, code):
    """The run has unwound after a signal: no more redelivery, and no warnings about designs
    whose elaboration the signal cut short."""
    state["handled"] = True
    import warnings

    warnings.filterwarnings("ignore")
    print(message, file=sys.stderr)
    return code


def main(argv=None):
    # A terminated run unwinds like Ctrl-C: temporary folders are removed, tools are killed.
    state = {"signal": None, "handled": False}
    handler = functools.partial(_stop_handler, state)
    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        from .net import apply_defaults

        apply_defaults(args)
        return args.func(args)
    except (CLIError, ValueError, TypeError) as e:
        print(f"pqaccel: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the user named could not be read or written
        where = f" {e.filename!r}" if e.filename else ""
        print(f"pqaccel: error:{where} {e.strerror or e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # an external tool (Yosys, nextpnr, a simulator) failed
        print(f"pqaccel: tool failure: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _stopped(
            state, "pqaccel: interrupted (Ctrl-C); temporary files removed, nothing written", 130
        )
    except Terminated:
        return _stopped(
            state, "pqaccel: stopped by SIGTERM; temporary files removed, nothing written", 143
        )
    finally:
        state["handled"] = True
        for sig, old in saved.items():
            signal.signal(sig, old)


if __name__ == "__main__":
    sys.exit(main())
