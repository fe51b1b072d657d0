"""Elaborate an engine to Verilog and write it with its manifest."""

import contextlib
import json
import os

from amaranth.back import rtlil

from .config import EngineBase
from .fsutil import check_no_clobber, check_output_dir, staged_files
from .payload import describe_layout

__all__ = ["build_manifest", "check_output", "convert", "generate", "to_verilog", "write_table_hex"]

MANIFEST_VERSION = 1
#: Verilator warnings that come from the style of Yosys's Verilog backend, not from the design
#: (see tests/test_lint.py): `!` on a multi-bit value, operand width adaptation, `initial` values
#: of registers, `case` without `default`, overlapping `casez` patterns of one-hot `$pmux`
#: functions, module/file name, signals kept for readability.
VERILATOR_STYLE_WARNINGS = (
    "WIDTHEXPAND",
    "WIDTHTRUNC",
    "PROCASSINIT",
    "CASEINCOMPLETE",
    "CASEOVERLAP",
    "DECLFILENAME",
    "UNUSEDSIGNAL",
)
CORE_VERSION = "0.1.0"
TABLE_HEX_FORMAT = "one write per line: <addr hex> <data hex>"


def make_engine(cfg, checks=False, family=None):
    """The hardware for ``cfg`` (any :class:`pqaccel.config.EngineBase`: ``engine_rtl(cfg)``).

    ``checks`` adds the engine's assertions (FIFOs never written when full, credit and busy
    counters never wrap, commits never overlap): every Amaranth-simulator test turns them on;
    the emitted Verilog and synthesis leave them out.  ``family``: the FPGA family the
    design is for (a :data:`pqaccel.synth.TARGETS` name; None, the portable form): the MAC
    engine instantiates its multiplier primitive (:data:`pqaccel.rtl.multiplier.PRIMITIVES`),
    the PQ engine its table banks' block RAM primitive (:mod:`pqaccel.rtl.ecp5`) and splits a
    LUT-RAM codebook finer (:class:`pqaccel.rtl.codebook.CodebookMemory`); the behaviour and
    every latency are the same."""
    if not isinstance(cfg, EngineBase):
        raise TypeError(
            f"cfg must be an engine configuration (EngineConfig, MacConfig), got {cfg!r}"
        )
    from .capacity import check_capacity

    check_capacity(cfg)  # before elaboration, which grows with the parallelism
    from .rtl import engine_rtl

    return engine_rtl(cfg, checks=checks, family=family)


def to_verilog(elaboratable, name):
    """Verilog for ``elaboratable`` that every simulator evaluates the same from time zero.

    Amaranth's own ``verilog.convert`` keeps combinational processes as ``always @*`` blocks that
    rely on an initial-trigger register to run once at time zero; under ``iverilog -g2012`` (and
    other SystemVerilog-mode simulators) that trigger never fires, so a block whose inputs never
    change stays X.  Here the processes are lowered to multiplexers first (``proc`` without
    ``-nomux``), so all combinational logic is written as continuous assignments, which every
    simulator evaluates at time zero; registers stay ``always @(posedge clk)``.  No source paths
    are emitted.
    """
    from amaranth._toolchain.yosys import find_yosys

    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    text = rtlil.convert(elaboratable, name=name, emit_src=False)
    yosys = find_yosys(lambda ver: ver >= (0, 40))
    script = "\n".join(
        [f"read_rtlil <<rtlil\n{text}\nrtlil", "proc -norom", "memory_collect", "write_verilog"]
    )
    return yosys.run(["-q", "-"], script, ignore_warnings=True)


#: Bus wrappers ``generate`` can put around an engine (``wrapper=``).
WRAPPERS = ("axi",)


def convert(cfg, name="pq_engine", wrapper=None):
    """``(verilog_text, engine, top)`` for ``cfg`` (see :func:`to_verilog`); ``top`` is the
    engine itself or, with ``wrapper="axi"``, a :class:`pqaccel.rtl.axi.AxiWrapper` around it."""
    if wrapper is None:
        engine = make_engine(cfg)
        return to_verilog(engine, name), engine, engine
    if wrapper not in WRAPPERS:
        raise ValueError(f"wrapper must be one of {', '.join(WRAPPERS)}, got {wrapper!r}")
    from .rtl.axi import AxiWrapper

    top = AxiWrapper(cfg)
    return to_verilog(top, name), top.engine, top


def component_ports(component):
    """``[{"name", "dir", "width"}]`` of a component's top-level ports (``clk``, ``rst`` first)."""
    from amaranth.hdl import Shape

    ports = []
    for path, member in component.signature.members.flatten():
        if not member.is_port:
            continue
        shape = member.shape
        width = shape.size if hasattr(shape, "size") else Shape.cast(shape).width
        ports.append(
            {
                "name": "__".join(str(p) for p in path),
                "dir": member.flow.value.lower(),
                "width": width,
            }
        )
    return [
        {"name": "clk", "dir": "in", "width": 1},
        {"name": "rst", "dir": "in", "width": 1},
    ] + ports


def wrapper_manifest(top):
    """The manifest's ``wrapper`` section for an :class:`pqaccel.rtl.axi.AxiWrapper`."""
    from .rtl.axi import AXI_ID, AXIL_ADDR_BITS, AXIL_REGS

    return {
        "kind": "axi",
        "axi_id": AXI_ID,
        "axil_addr_bits": AXIL_ADDR_BITS,
        "axil_data_bits": 32,
        "axil_regs": AXIL_REGS,
        "data_words": top.data_words,
        "s_axis": {"tdata_bits": len(top.s_axis_tdata), "payload_bits": top.in_bits},
        "m_axis": {"tdata_bits": len(top.m_axis_tdata), "payload_bits": top.out_data_bits},
        "ports": component_ports(top),
    }


def build_manifest(cfg: EngineBase, engine, name):
    """The manifest of ``engine`` (the component ``engine_rtl(cfg)`` built) under top module
    ``name``:
    ports, stream layouts, address map, latencies and memories, as the engine states them."""
    ports = component_ports(engine)
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": cfg.kind,
        "top": name,
        "engine": cfg.to_dict(),
        "derived": cfg.derived(),
        "ports": ports,
        "streams": {
            "i": describe_layout(engine.in_layout),
            "o": describe_layout(engine.out_layout),
        },
        "address_map": engine.amap.to_dict(),
        "latency": engine.latency_info(),
        "ideal_cycles_per_row": cfg.ideal_formula,
        "memories": cfg.memories(),
    }


def fusesoc_core(cfg, name, files):
    """A FuseSoC CAPI2 core for the generated files: VLNV ``pqaccel:engine:<name>``, filesets
    ``rtl`` (the Verilog) and ``data`` (manifest, table file), targets ``default`` (synthesis
    users pull this), ``lint`` (Verilator, ``-Wall`` minus the backend's style warnings) and
    ``sim`` (Icarus Verilog elaboration of the engine)."""
    data = [files["manifest"]] + ([files["tables"]] if "tables" in files else [])
    waivers = "".join(f"\n          - -Wno-{w}" for w in VERILATOR_STYLE_WARNINGS)
    description = (
        f"pqaccel {cfg.kind} engine '{name}' (streams i/o and the table port wr; see "
        f"{files['manifest']})"
    )
    return (
        f"""CAPI=2:
# Written by pqaccel generate ({cfg.kind} engine); regenerate instead of editing.
name: pqaccel:engine:{name}:{CORE_VERSION}
description: {description}

filesets:
  rtl:
    files:
      - {files["verilog"]}
    file_type: verilogSource
  data:
    files:
"""
        + "".join(f"      - {d}: {{file_type: user, copyto: {d}}}\n" for d in data)
        + f"""
targets:
  default:
    filesets: [rtl, data]
    toplevel: {name}
  lint:
    default_tool: verilator
    filesets: [rtl]
    toplevel: {name}
    tools:
      verilator:
        mode: lint-only
        verilator_options:
          - -Wall{waivers}
  sim:
    default_tool: icarus
    filesets: [rtl, data]
    toplevel: {name}
    tools:
      icarus:
        iverilog_options: [-g2012]
"""
    )


def previous_outputs(out_dir, name):
    """Names of the files that an earlier ``generate`` with this ``name`` wrote into ``out_dir``
    (from its manifest's ``files``), or an empty set."""
    path = os.path.join(out_dir, f"{name}.manifest.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return set()
    files = doc.get("files") if isinstance(doc, dict) and "manifest_version" in doc else None
    if not isinstance(files, dict):
        return set()
    return {v for v in files.values() if isinstance(v, str) and os.path.basename(v) == v}


def output_names(name, tables=False):
    """``{kind: file name}`` that :func:`generate` writes."""
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier():
        raise ValueError(
            f"name must be a Verilog identifier (ASCII letters, digits, _; not starting with a "
            f"digit), got {name!r}"
        )
    files = {"verilog": f"{name}.v", "manifest": f"{name}.manifest.json", "core": f"{name}.core"}
    if tables:
        files["tables"] = f"{name}.tables.hex"
    return files


def check_output(out_dir, name, tables=False):
    """Check, before any work, that :func:`generate` can write into ``out_dir`` without touching
    a file it did not write; raise :class:`pqaccel.fsutil.OutputError` otherwise."""
    check_output_dir(out_dir)
    check_no_clobber(
        out_dir,
        output_names(name, tables).values(),
        previous_outputs(out_dir, name),
        other=" or --name",
    )


def write_table_hex(path, amap, writes):
    """One table-port write per line: ``<addr hex> <data hex>``, fixed width from ``amap``."""
    a, d = (amap.addr_bits + 3) // 4, (amap.data_bits + 3) // 4
    with open(path, "w") as f:
        for addr, value in writes:
            f.write(f"{addr:0{a}x} {value:0{d}x}\n")


def generate(cfg: EngineBase, out_dir, name="pq_engine", tables=None, wrapper=None):
    """Write ``<name>.v`` and ``<name>.manifest.json`` (and table init files when ``tables`` is
    a :class:`pqaccel.model.PQTables`) into ``out_dir``; with ``wrapper="axi"`` the emitted top
    is the engine behind AXI4-Stream and AXI4-Lite (:mod:`pqaccel.rtl.axi`, described in the
    manifest's ``wrapper`` section).

    The other contents of ``out_dir`` are left alone; a file of the same name is replaced only if
    an earlier ``generate`` wrote it (it is listed in the manifest there), else
    :class:`pqaccel.fsutil.OutputError` is raised before any work.  Files are built in a
    temporary folder and moved into place only when all are complete; files of the earlier run
    that this one does not write again are removed.  Returns ``{kind: path}``.
    """
    files = output_names(name, tables is not None)
    previous = previous_outputs(out_dir, name)
    check_output(out_dir, name, tables is not None)
    text, engine, top = convert(cfg, name, wrapper)
    manifest = build_manifest(cfg, engine, name)
    if wrapper is not None:
        # the emitted top is the wrapper: its ports are the module's; the engine's are inside
        manifest["engine_ports"] = manifest["ports"]
        manifest["wrapper"] = wrapper_manifest(top)
        manifest["ports"] = manifest["wrapper"]["ports"]
    out_dir = os.path.abspath(out_dir)
    with staged_files(out_dir, files.values(), previous) as tmp:
        with open(os.path.join(tmp, files["verilog"]), "w") as f:
            f.write(text)
        if tables is not None:
            write_table_hex(
                os.path.join(tmp, files["tables"]),
                engine.amap,
                engine.amap.table_writes(tables.protos, tables.lut),
            )
            manifest["tables"] = {
                "file": files["tables"],
                "format": TABLE_HEX_FORMAT,
                "x_scale": tables.x_scale,
                "lut_scale": tables.lut_scale,
                "out_scale": tables.out_scale,
            }
        manifest["files"] = files
        with open(os.path.join(tmp, files["manifest"]), "w") as f:
            json.dump(manifest, f, indent=2)
        with open(os.path.join(tmp, files["core"]), "w") as f:
            f.write(fusesoc_core(cfg, name, files))
    for stale in previous - set(files.values()):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out_dir, stale))
    return {k: os.path.join(out_dir, v) for k, v in files.items()}
