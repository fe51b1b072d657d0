"""Both sides of the trade for one converted network: its accuracy (test split) and the perf/area
of the engine it runs on against the int8 MAC network on the MAC engine, on the same flow.

Cycles: whole inferences of the bundle's network (every conv/gemm on the engine, tables loaded
over ``--load-bits`` bits per cycle, overlapped; ``pqaccel.net.perf``, checked against the RTL by
``pqaccel net run``); area: Yosys synthesis of both engines (cached) in LUT4-equivalents
(``pqaccel.area``); perf/area at equal clock = (MAC cycles x MAC area) / (PQ cycles x PQ area),
against the MAC with DSP multipliers and against the DSP-free MAC (``mult = "lut"``).  The PQ
bundle's int8 first and last layers run on the host in ``net run`` and are not in its cycles
(on ResNet20 under 0.4 % of the MAC's).

Usage: python benchmarks/bench_tradeoff.py --bundle DIR [--target ecp5] [--load-bits 512]
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pqaccel import area as area_model  # noqa: E402
from pqaccel.compare import LOAD_BITS, converted_network_cycles, synth_design  # noqa: E402
from pqaccel.engines.mac.config import MacConfig  # noqa: E402
from pqaccel.net import conversion, evaluation, intmodel  # noqa: E402
from pqaccel.net.bundle import load_bundle  # noqa: E402
from pqaccel.net.datasets import load_dataset  # noqa: E402
from pqaccel.net.graph import load_onnx, run_float  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--target", default="ecp5")
    ap.add_argument("--load-bits", type=int, default=LOAD_BITS)
    args = ap.parse_args()
    import json

    qn = load_bundle(args.bundle)
    with open(os.path.join(args.bundle, "network.json")) as f:
        meta = json.load(f)["meta"]
    net = load_onnx(meta["onnx"])
    data = load_dataset(meta["dataset"])
    x, y = data.split("test")
    mac_qn = conversion.int8_mac_network(net, qn.engine, data.calib_x)
    acc = {
        "float": evaluation.accuracy(run_float(net, x), y),
        "int8_mac": evaluation.accuracy(intmodel.run_int(mac_qn, x), y),
        "pq": evaluation.accuracy(intmodel.run_int(qn, x), y),
    }
    mac_cfg = MacConfig.for_engine(qn.engine)
    cyc = converted_network_cycles(
        {"pq": qn, "mac": mac_qn}, evaluation.rows_per_image(net), mac_cfg, load_bits=args.load_bits
    )
    areas = {}
    for kind, cfg in (
        ("pq", qn.engine),
        ("mac", mac_cfg),
        ("mac-lut", mac_cfg.replace(mult="lut")),
    ):
        s = synth_design(cfg, args.target)
        areas[kind] = (area_model.area(s["resources"], args.target), s["resources"])
    tuned = meta.get("finetune")
    how = (
        f"fine-tuned {tuned['epochs']} epochs"
        if tuned
        else "refit"
        if meta.get("refit")
        else "k-means"
    )
    e = qn.engine
    print(
        f"{args.bundle}: {os.path.basename(meta['onnx'])} on {meta['dataset']} ({len(x)} test "
        f"images), "
        f"PQ v={e.v} K={e.k} {e.metric} widths "
        f"{e.widths.in_bits}/{e.widths.proto_bits}/{e.widths.lut_bits} "
        f"({how}), first/last layers {', '.join(meta.get('keep', []))} int8"
    )
    print(
        f"  accuracy: float {100 * acc['float']:.1f} %, int8 MAC {100 * acc['int8_mac']:.1f} %, "
        f"PQ {100 * acc['pq']:.1f} % ({100 * (acc['pq'] - acc['float']):+.1f} points)"
    )
    print(
        f"  area on {args.target} (LUT4-eq): PQ {areas['pq'][0]:,.0f} ({areas['pq'][1]['dsp']} "
        f"DSP), MAC "
        f"{areas['mac'][0]:,.0f} ({areas['mac'][1]['dsp']} DSP), MAC with multipliers from logic "
        f"{areas['mac-lut'][0]:,.0f} ({areas['mac-lut'][1]['dsp']} DSP); "
        f"{mac_cfg.d_par}x{mac_cfg.m_par} multipliers"
    )
    print(
        f"  {'batch':>7}{'PQ cycles/image':>17}{'MAC cycles/image':>18}{'perf/area PQ/MAC':>18}"
        f"{'PQ/MAC-LUT':>12}   (equal clock)"
    )
    for b, per in cyc["batches"].items():
        pq, mac = per["pq"]["cycles_per_image"], per["mac"]["cycles_per_image"]
        ratio = (mac * areas["mac"][0]) / (pq * areas["pq"][0])
        ratio_lut = (mac * areas["mac-lut"][0]) / (pq * areas["pq"][0])
        print(f"  {b:>7}{pq:>17,.0f}{mac:>18,.0f}{ratio:>18.2f}{ratio_lut:>12.2f}")


if __name__ == "__main__":
    main()
