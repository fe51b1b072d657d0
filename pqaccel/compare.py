"""PQ engine versus the MAC baseline on the same flow: resources, area, Fmax, cycles, perf/area."""

import glob
import hashlib
import json
import os
import tempfile

from amaranth.back import rtlil

from . import area as area_model
from . import synth
from .engines.pq.config import EngineConfig
from .config import LayerConfig, Widths
from .export import generate, make_engine
from .fsutil import atomic_directory
from .engines.mac.config import MacConfig
from .rtl.harness import PnRHarness, BramLoop

__all__ = [
    "RESNET20_CONV3X3",
    "collision_free_globs",
    "synth_design",
    "pnr_design",
    "bram_reference",
    "measure_cycles",
    "network_engine",
    "network_cycles",
    "compare",
    "lowbit_study",
]

#: ResNet20 (CIFAR-10) 3x3 convolutions: (name, C_in, C_out, rows = H_out*W_out, how many).
RESNET20_CONV3X3 = [
    ("conv1", 3, 16, 32 * 32, 1),
    ("stage1", 16, 16, 32 * 32, 6),
    ("stage2.down", 16, 32, 16 * 16, 1),
    ("stage2", 32, 32, 16 * 16, 5),
    ("stage3.down", 32, 64, 8 * 8, 1),
    ("stage3", 64, 64, 8 * 8, 5),
]


def collision_free_globs(engine):
    """Yosys module globs of the memories that ``engine`` declares collision-free (its
    ``collision_free`` submodule names), wherever the engine sits in the hierarchy."""
    return [f"*.{name}" for name in engine.collision_free]


def synth_design(cfg, target, *, harness=False, collision_fix=True, use_cache=True):
    """Synthesize the engine for ``cfg`` (bare, or inside :class:`PnRHarness` for nextpnr)."""
    core = make_engine(cfg, family=target)
    design = PnRHarness(core) if harness else core
    text = rtlil.convert(design, name="top", emit_src=False)
    return synth.synthesize(
        text,
        "top",
        target,
        collision_free=collision_free_globs(core) if collision_fix else (),
        netlist=harness,
        use_cache=use_cache,
    )


def pnr_design(cfg, target, *, freq_mhz=100.0, seed=1, router=None, use_cache=True, timeout_s=None):
    s = synth_design(cfg, target, harness=True, use_cache=use_cache)
    return synth.place_and_route(
        s,
        target,
        freq_mhz=freq_mhz,
        seed=seed,
        router=router,
        use_cache=use_cache,
        timeout_s=timeout_s,
    ), s


def bram_reference(target, *, freq_mhz=100.0, seed=1, router=None, use_cache=True):
    """Fmax of :class:`BramLoop` on the same device: the reference for a BRAM-based design."""
    text = rtlil.convert(BramLoop(), name="top", emit_src=False)
    s = synth.synthesize(
        text, "top", target, collision_free=["*"], netlist=True, use_cache=use_cache
    )
    return synth.place_and_route(
        s, target, freq_mhz=freq_mhz, seed=seed, router=router, use_cache=use_cache
    )


def resnet20_layers():
    """ResNet20's 3x3 convolutions as im2col layers: D = 9*C_in, M = C_out, rows = H_out*W_out."""
    return [
        (name, LayerConfig(d=9 * cin, m=cout, n=rows), count)
        for name, cin, cout, rows, count in RESNET20_CONV3X3
    ]


def _measurement_key(verilog, spec, sim, seed):
    """Cache key of a cycle measurement: the emitted Verilog, the layer list, and the sources of
    the testbench, the driver, the payload packing and the golden model (which decide what is
    measured and checked)."""
    h = hashlib.sha256()
    with open(verilog, "rb") as f:
        h.update(f.read())
    here = os.path.dirname(os.path.abspath(__file__))
    from .sim import pq_tb

    engine_sources = sorted(glob.glob(os.path.join(here, "engines", "*", "*.py")))
    for src in (
        pq_tb.__file__,
        *(os.path.join(here, f) for f in ("jobs.py", "payload.py")),
        *engine_sources,
    ):
        with open(src, "rb") as f:
            h.update(f.read())
    h.update(
        json.dumps(
            [spec, sim, seed, synth.tool_version("cocotb"), synth.tool_version("verilator")]
        ).encode()
    )
    return h.hexdigest()[:24]


def measure_cycles(cfg, layers, *, sim="verilator", rows=12, seed=0, use_cache=True):
    """Measured steady-state cycles per row for each layer shape (free-running cosim).

    Each shape gets ``rows`` rows and its full tables (written while the previous shape computes),
    and every output is checked against the golden model.  A run with no mismatch is cached
    (under :func:`pqaccel.synth.cache_dir`) by :func:`_measurement_key`.
    """
    from .sim.runner import run_cosim

    spec = [{"d": ly.d, "m": ly.m, "n": rows, "in_gap": 0.0, "out_stall": 0.0} for ly in layers]
    with tempfile.TemporaryDirectory(prefix="pqaccel-cmp-") as tmp:
        files = generate(cfg, os.path.join(tmp, "rtl"))
        entry = os.path.join(
            synth.cache_dir(), f"cycles-{sim}-{_measurement_key(files['verilog'], spec, sim, seed)}"
        )
        cached = synth.cached_result(entry, ["result.json"]) if use_cache else None
        if cached:
            return cached
        result = run_cosim(
            files["verilog"],
            files["manifest"],
            sim=sim,
            layers=spec,
            seed=seed,
            build_dir=os.path.join(tmp, "build"),
        )
    if use_cache and not any(ly["mismatches"] for ly in result["layers"]):
        with atomic_directory(entry) as folder:
            synth.store_result(folder, result)
    return result


def _network(cfg, measured, layers):
    """Total cycles for the network from measured cycles per row (plus first-row latency)."""
    rows = []
    total = total_ideal = 0
    for (name, layer, count), res in zip(layers, measured["layers"]):
        cpr = res["cycles_per_row"]
        ideal = cfg.ideal_cycles_per_row(layer)
        cycles = layer.n * cpr + res["latency_first_row"]
        rows.append(
            {
                "layer": name,
                "d": layer.d,
                "m": layer.m,
                "rows": layer.n,
                "count": count,
                "cycles_per_row": cpr,
                "ideal_cycles_per_row": ideal,
                "cycles": cycles,
                "ideal_cycles": layer.n * ideal,
                "mismatches": res["mismatches"],
            }
        )
        total += count * cycles
        total_ideal += count * layer.n * ideal
    return rows, total, total_ideal


#: Area-model variations the perf/area ratio is also given for.
SENSITIVITY = {
    "bram/2": {"scale_bram": 0.5},
    "bram*2": {"scale_bram": 2},
    "dsp/2": {"scale_dsp": 0.5},
    "dsp*2": {"scale_dsp": 2},
}

#: Batch sizes of the network-level figures.
NETWORK_BATCHES = (1, 32)
#: Default table-load bandwidth (bits per engine cycle) of the network-level figures: one
#: 512-bit bus beat per cycle, the same for both engines.
LOAD_BITS = 512
#: Bandwidths of the load-bandwidth scan (bits per cycle).
LOAD_SCAN = (8, 32, 128, 512, 2048)


def network_engine(cfg: EngineConfig):
    """The engine a network runs on: ``cfg`` with a run-time shift/ReLU and outputs as wide as
    its inputs (the same datapath; cycles differ only by the one ``requant`` register write per
    layer)."""
    rq, w = cfg.requant, cfg.widths
    if rq.mode == "shift" and rq.runtime and w.out_bits == w.in_bits:
        return cfg
    from dataclasses import replace

    return cfg.replace(
        requant=replace(rq, mode="shift", runtime=True, shift=max(rq.shift, 1)),
        widths=replace(w, out_bits=w.in_bits),
    )


def network_cycles(
    pq_cfg: EngineConfig,
    mac_cfg: MacConfig,
    *,
    batches=NETWORK_BATCHES,
    load_bits=LOAD_BITS,
    scan=LOAD_SCAN,
    seed=0,
):
    """Cycles of a whole ResNet20 inference (CIFAR-10 shapes, :func:`pqaccel.net.zoo.resnet20_onnx`:
    19 convolutions, 2 projections and the classifier, every one on the engine) on both engines,
    tables/weights loaded over ``load_bits`` bits per cycle and overlapped with compute
    (:func:`pqaccel.net.perf.network_cycles`, checked against the RTL by ``pqaccel net run``),
    per image at each batch size, and at batch 1 for each bandwidth of ``scan``.  None when a layer
    does not fit the PQ engine."""
    from .net import conversion, evaluation
    from .net.datasets import load_dataset
    from .net.graph import load_onnx
    from .net.zoo import resnet20_onnx

    net = load_onnx(resnet20_onnx(seed=seed))
    engine = network_engine(pq_cfg)
    try:
        conversion.check_fit(net, engine)
    except ValueError as e:
        return {"skipped": f"ResNet20 does not fit the PQ engine: {e}"}
    images = load_dataset("cifar-shapes").calib_x
    rows = evaluation.rows_per_image(net)
    # enough calibration images for k-means with k prototypes; a layer with fewer rows than k
    # even then (the classifier, one row an image, at k > 64) stays conventional
    calib = images[: min(len(images), max(8, engine.k))]
    keep = [name for name, r in rows.items() if r * len(calib) < engine.k]
    qns = {
        "pq": conversion.convert(net, engine, calib, seed=seed, keep=keep),
        "mac": conversion.convert(net, engine, calib, seed=seed, mac_only=True),
    }
    out = converted_network_cycles(
        qns, rows, mac_cfg, batches=batches, load_bits=load_bits, scan=scan
    )
    return {"network": "resnet20 (CIFAR-10 shapes)", **out, "kept_conventional": keep}


def converted_network_cycles(
    qns, rows, mac_cfg: MacConfig, *, batches=NETWORK_BATCHES, load_bits=LOAD_BITS, scan=LOAD_SCAN
):
    """Cycles of whole inferences of converted networks ``qns`` (``{"pq": ..., "mac": ...}``, the
    same network as a PQ bundle and as the int8 MAC network) with ``rows`` engine rows per image
    and layer: the PQ bundle on its engine, the MAC network on the MAC engine of ``mac_cfg``'s
    parallelism, weight width and port; per batch size and, at batch 1, per load bandwidth."""
    from dataclasses import replace
    from .net import perf
    from .net.rtlrun import rtl_engine

    mac_net = rtl_engine(qns["mac"], mac_par=(mac_cfg.d_par, mac_cfg.m_par))
    mac_net = replace(mac_net, w_bits=mac_cfg.w_bits, wide_port=mac_cfg.wide_port)
    engines = {"pq": qns["pq"].engine, "mac": mac_net}
    out = {"load_bits": load_bits, "batches": {}, "scan": {}}
    for kind in engines:
        word = perf.word_bits(engines[kind])
        out[f"{kind}_word_bits"] = word
        for b in batches:
            m = perf.network_cycles(
                qns[kind], {k: v * b for k, v in rows.items()}, engines[kind], load_bits=load_bits
            )
            ls = m["layers"]
            out["batches"].setdefault(str(b), {})[kind] = {
                "cycles": m["total"],
                "cycles_per_image": m["total"] / b,
                "compute": sum(ly["compute"] for ly in ls),
                "load": sum(ly["load"] for ly in ls),
                "stall": sum(ly["stall"] for ly in ls),
                "writes": sum(ly["writes"] for ly in ls),
                "layers": ls,
            }
        for bw in scan:
            m = perf.network_cycles(qns[kind], rows, engines[kind], load_bits=bw)
            out["scan"].setdefault(str(bw), {})[kind] = m["total"]
    return out


def _design_entry(cfg, target, layers, *, sim, rows, pnr, freq_mhz, seed, router, use_cache):
    """One design of a comparison: configuration, resources, area, (P&R and Fmax), measured
    cycles over ``layers``, multiplier utilization (engines with multipliers), throughput and
    perf/area at its Fmax."""
    s = synth_design(cfg, target, use_cache=use_cache)
    entry = {
        "config": cfg.to_dict(),
        "resources": s["resources"],
        "area": area_model.area(s["resources"], target),
    }
    if pnr and target in synth.PNR_TARGETS:
        p, _ = pnr_design(
            cfg, target, freq_mhz=freq_mhz, seed=seed, router=router, use_cache=use_cache
        )
        entry["pnr"] = p
        entry["fmax_mhz"] = p["fmax_mhz"]
    measured = measure_cycles(
        cfg, [ly for _, ly, _ in layers], sim=sim, rows=rows, use_cache=use_cache
    )
    entry["layers"], entry["cycles"], entry["ideal_cycles"] = _network(cfg, measured, layers)
    if hasattr(cfg, "multiplier_utilization"):
        used = sum(
            c * ly.n * cfg.ideal_cycles_per_row(ly) * cfg.multiplier_utilization(ly)
            for _, ly, c in layers
        )
        entry["multiplier_utilization"] = used / sum(
            c * ly.n * cfg.ideal_cycles_per_row(ly) for _, ly, c in layers
        )
    fmax = entry.get("fmax_mhz")
    if fmax:
        entry["inferences_per_s"] = fmax * 1e6 / entry["cycles"]
        entry["perf_per_area"] = entry["inferences_per_s"] / entry["area"]
    return entry


def _area_ratio(a, b, target, sc, per_a, per_b):
    """``(per_a / area_a) / (per_b / area_b)`` with the area model scaled by ``sc``."""
    return (per_a / area_model.area(a["resources"], target, **sc)) / (
        per_b / area_model.area(b["resources"], target, **sc)
    )


def _ratios(pq, base, target):
    """``{"ratio", "sensitivity"}``: perf/area of ``pq`` over ``base`` at each one's Fmax."""
    if not (pq.get("perf_per_area") and base.get("perf_per_area")):
        return {}
    return {
        "ratio": pq["perf_per_area"] / base["perf_per_area"],
        "sensitivity": {
            label: _area_ratio(
                pq, base, target, sc, pq["inferences_per_s"], base["inferences_per_s"]
            )
            for label, sc in SENSITIVITY.items()
        },
    }


def _network_ratios(per_pq, per_base, pq, base, target):
    """The whole-network ratios of one batch size: at each design's Fmax and at equal clock."""
    for fig, d in ((per_pq, pq), (per_base, base)):
        if d.get("fmax_mhz"):
            fig["inferences_per_s"] = d["fmax_mhz"] * 1e6 / fig["cycles_per_image"]
            fig["perf_per_area"] = fig["inferences_per_s"] / d["area"]
    out = {}
    if per_pq.get("perf_per_area") and per_base.get("perf_per_area"):
        out["ratio"] = per_pq["perf_per_area"] / per_base["perf_per_area"]
        out["sensitivity"] = {
            label: _area_ratio(
                pq, base, target, sc, per_pq["inferences_per_s"], per_base["inferences_per_s"]
            )
            for label, sc in SENSITIVITY.items()
        }
    # at equal clock: the ratio of cycles x area, independent of Fmax
    out["ratio_equal_clock"] = (per_base["cycles_per_image"] * base["area"]) / (
        per_pq["cycles_per_image"] * pq["area"]
    )
    out["sensitivity_equal_clock"] = {
        label: _area_ratio(
            pq, base, target, sc, 1 / per_pq["cycles_per_image"], 1 / per_base["cycles_per_image"]
        )
        for label, sc in SENSITIVITY.items()
    }
    return out


def design_name(cfg):
    """A design's name in a comparison: its kind, and ``mac-lut`` for the MAC whose multipliers
    are logic (the DSP-free baseline)."""
    mult = getattr(cfg, "mult", "dsp")
    return cfg.kind if mult == "dsp" else f"{cfg.kind}-{mult}"


def compare(
    pq_cfg: EngineConfig,
    mac_cfg: MacConfig,
    target="ecp5",
    *,
    layers=None,
    sim="verilator",
    rows=12,
    pnr=True,
    freq_mhz=100.0,
    seed=1,
    router=None,
    use_cache=True,
    network=True,
    load_bits=LOAD_BITS,
    baselines=(),
):
    """PQ against MAC on ``layers`` (``[(name, LayerConfig, count)]``, default ResNet20's 3x3
    convolutions): resources, area, Fmax, measured cycles per layer, throughput, perf/area; with
    ``network`` also whole ResNet20 inferences with table loads (:func:`network_cycles`) and
    their perf/area at each batch size.  ``baselines``: more MAC configurations (e.g. the
    DSP-free one, ``mult="lut"``) that PQ is also compared with, each under
    ``["baselines"][design_name(cfg)]`` with its entry and ratios; every design is placed and
    routed with the same ``router`` and ``seed``."""
    layers = resnet20_layers() if layers is None else layers
    for name, layer, _ in layers:
        for cfg in (pq_cfg, mac_cfg, *baselines):
            try:
                cfg.check_layer(layer)
            except ValueError as e:
                raise ValueError(
                    f"layer {name} (d={layer.d}, m={layer.m}) does not fit the "
                    f"{design_name(cfg).upper()} engine: {e}"
                ) from None
    out = {"target": target, "designs": {}}
    # the whole-network figures first: a network that cannot be converted fails before synthesis
    net_figures = network_cycles(pq_cfg, mac_cfg, load_bits=load_bits) if network else None
    opts = dict(
        sim=sim,
        rows=rows,
        pnr=pnr,
        freq_mhz=freq_mhz,
        seed=seed,
        router=router,
        use_cache=use_cache,
    )
    for cfg in (pq_cfg, mac_cfg):
        out["designs"][cfg.kind] = _design_entry(cfg, target, layers, **opts)
    pq, mac = out["designs"]["pq"], out["designs"]["mac"]
    out.update(_ratios(pq, mac, target))
    if network:
        out["network"] = net_figures
        for per in net_figures.get("batches", {}).values():
            per.update(_network_ratios(per["pq"], per["mac"], pq, mac, target))
    if baselines:
        out["baselines"] = {}
    for cfg in baselines:
        entry = _design_entry(cfg, target, layers, **opts)
        entry.update(_ratios(pq, entry, target))
        if network and "batches" in net_figures:
            # the same MAC parallelism, weights and port: the same cycles as the MAC network
            same = all(
                getattr(cfg, f) == getattr(mac_cfg, f)
                for f in ("d_par", "m_par", "w_bits", "wide_port")
            )
            figs = net_figures if same else network_cycles(pq_cfg, cfg, load_bits=load_bits)
            entry["network"] = {}
            for b, per in figs["batches"].items():
                base_fig = {
                    k: v
                    for k, v in per["mac"].items()
                    if k not in ("inferences_per_s", "perf_per_area")
                }
                pq_fig = {
                    k: v
                    for k, v in per["pq"].items()
                    if k not in ("inferences_per_s", "perf_per_area")
                }
                entry["network"][b] = {
                    "mac": base_fig,
                    **_network_ratios(pq_fig, base_fig, pq, entry, target),
                }
        out["baselines"][design_name(cfg)] = entry
    if pnr and target in synth.PNR_TARGETS:
        ref = bram_reference(
            target, freq_mhz=freq_mhz, seed=seed, router=router, use_cache=use_cache
        )
        out["bram_loop_fmax_mhz"] = ref["fmax_mhz"]
    return out


def lowbit_study(
    base: EngineConfig, target="ecp5", bits=range(2, 9), metrics=("l1", "l2"), use_cache=True
):
    """Resources of ``base`` with input/prototype/table widths ``b`` for each ``b`` and metric."""
    rows = []
    for metric in metrics:
        for b in bits:
            cfg = base.replace(
                metric=metric,
                widths=Widths(in_bits=b, proto_bits=b, lut_bits=b, out_bits=base.widths.out_bits),
            )
            s = synth_design(cfg, target, use_cache=use_cache)
            rows.append(
                {
                    "metric": metric,
                    "bits": b,
                    "resources": s["resources"],
                    "area": area_model.area(s["resources"], target),
                    "dist_bits": cfg.dist_bits,
                }
            )
    return rows
