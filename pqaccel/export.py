"""Elaborate an engine to Verilog and write it with its manifest."""

import json
import os

from amaranth.back import verilog

from .config import EngineConfig
from .fsutil import atomic_directory
from .manifest import describe_layout
from .rtl.top import PQEngine

__all__ = ["build_manifest", "convert", "generate"]

MANIFEST_VERSION = 1


def make_engine(cfg):
    """The hardware for ``cfg``: a :class:`PQEngine` or, for a :class:`MacConfig`, a
    :class:`MacEngine`."""
    from .mac import MacConfig
    from .rtl.mac import MacEngine
    if isinstance(cfg, MacConfig):
        return MacEngine(cfg)
    if isinstance(cfg, EngineConfig):
        return PQEngine(cfg)
    raise TypeError(f"cfg must be an EngineConfig or a MacConfig, got {cfg!r}")


def convert(cfg, name="pq_engine"):
    """``(verilog_text, engine)`` for ``cfg``; Verilog has no source paths (``emit_src=False``)."""
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    engine = make_engine(cfg)
    text = verilog.convert(engine, name=name, emit_src=False)
    return text, engine


def build_manifest(cfg: EngineConfig, engine: PQEngine, name):
    from amaranth.hdl import Shape
    ports = []
    for path, member in engine.signature.members.flatten():
        if not member.is_port:
            continue
        shape = member.shape
        width = shape.size if hasattr(shape, "size") else Shape.cast(shape).width
        ports.append({"name": "__".join(str(p) for p in path), "dir": member.flow.value.lower(), "width": width})
    ports = [{"name": "clk", "dir": "in", "width": 1}, {"name": "rst", "dir": "in", "width": 1}] + ports
    kind = "pq" if isinstance(cfg, EngineConfig) else "mac"
    if kind == "pq":
        latency = {"encode_stages": engine.encode_stages, "lookup_stages": engine.lookup_stages,
                   "code_fifo_depth": engine.code_depth, "out_fifo_depth": engine.out_depth}
        ideal = "ceil(C/c_par) * max(k/k_par, ceil(M/m_par))"
        memories = {
            "codebook": {"count": cfg.par.c_par, "depth": 2 * cfg.g_max * cfg.k_steps,
                         "width": cfg.par.k_par * cfg.v * cfg.widths.proto_bits},
            "lut": {"count": cfg.par.c_par * cfg.par.m_par, "depth": 2 * cfg.g_max * cfg.mt_max * cfg.k,
                    "width": cfg.widths.lut_bits},
        }
    else:
        latency = {"lookup_stages": engine.lookup_stages, "out_fifo_depth": engine.out_depth}
        ideal = "ceil(D/d_par) * ceil(M/m_par)"
        memories = {"weights": {"count": cfg.m_par, "depth": 2 * cfg.g_max * cfg.mt_max,
                                "width": cfg.d_par * cfg.w_bits}}
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": kind,
        "top": name,
        "engine": cfg.to_dict(),
        "derived": cfg.derived(),
        "ports": ports,
        "streams": {"i": describe_layout(engine.in_layout), "o": describe_layout(engine.out_layout)},
        "address_map": engine.amap.to_dict(),
        "latency": latency,
        "ideal_cycles_per_row": ideal,
        "memories": memories,
    }


def generate(cfg: EngineConfig, out_dir, name="pq_engine", tables=None):
    """Write ``<name>.v`` and ``<name>.manifest.json`` (and table init files when ``tables`` is
    a :class:`pqaccel.model.PQTables`) to ``out_dir``.  Everything is built in a temporary folder
    first and moved into place only when complete.  Returns ``{kind: path}``."""
    if not name.isidentifier():
        raise ValueError(f"name must be a Verilog identifier (letters, digits, _), got {name!r}")
    text, engine = convert(cfg, name)
    manifest = build_manifest(cfg, engine, name)
    out_dir = os.path.abspath(out_dir)
    files = {"verilog": f"{name}.v", "manifest": f"{name}.manifest.json"}
    with atomic_directory(out_dir) as tmp:
        with open(os.path.join(tmp, files["verilog"]), "w") as f:
            f.write(text)
        if tables is not None:
            writes = engine.amap.table_writes(tables.protos, tables.lut)
            files["tables"] = f"{name}.tables.hex"
            with open(os.path.join(tmp, files["tables"]), "w") as f:
                a, d = (engine.amap.addr_bits + 3) // 4, (engine.amap.data_bits + 3) // 4
                for addr, value in writes:
                    f.write(f"{addr:0{a}x} {value:0{d}x}\n")
            manifest["tables"] = {"file": files["tables"], "format": "one write per line: <addr hex> <data hex>",
                                  "x_scale": tables.x_scale, "lut_scale": tables.lut_scale,
                                  "out_scale": tables.out_scale}
        manifest["files"] = files
        with open(os.path.join(tmp, files["manifest"]), "w") as f:
            json.dump(manifest, f, indent=2)
    return {k: os.path.join(out_dir, v) for k, v in files.items()}
