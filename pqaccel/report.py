"""Text and CSV reports of the cost commands (``compare``, ``synth``), kept next to the data
they format; the command functions only choose paths and print."""

import csv
import io

from . import area as area_model

__all__ = [
    "RES_COLUMNS",
    "resource_table",
    "compare_report",
    "baselines_report",
    "lowbit_report",
    "compare_csv",
]

RES_COLUMNS = ("lut", "ff", "carry", "mux", "bram", "lutram", "dsp", "other", "cells")
#: The designs a comparison reports, in order: the PQ engine, then its baseline.
DESIGNS = ("pq", "mac")


def resource_table(rows, out=print):
    head = f"  {'design':<14}" + "".join(f"{c:>8}" for c in RES_COLUMNS)
    out(head)
    for name, res in rows:
        out(f"  {name:<14}" + "".join(f"{res.get(c, 0):>8}" for c in RES_COLUMNS))


def compare_report(r, label, mac, target, out=print):
    """The ``compare`` report: resources, area, Fmax, whole-network figures, per-row detail."""
    pq, mc = r["designs"]["pq"], r["designs"]["mac"]
    mults = "DSP multipliers" if mac.mult == "dsp" else "multipliers from logic, no DSP"
    out(
        f"PQ ({label}) vs MAC (d_par={mac.d_par}, m_par={mac.m_par}, "
        f"{mac.in_bits}x{mac.w_bits}-bit, {mults}) "
        f"on {target}, ResNet20 3x3 convolutions"
    )
    resource_table([("pq", pq["resources"]), ("mac", mc["resources"])], out)
    w = area_model.WEIGHTS
    out(
        f"  area model (LUT4-eq): lut {w['lut']}, carry {w['carry']}, ff {w['ff']}, lutram "
        f"{w['lutram']}, "
        f"bram {w['bram']}, dsp {w['dsp']} (pqaccel.area)"
    )
    out(f"  {'':<26}{'PQ':>14}{'MAC':>14}")
    out(f"  {'area (LUT4-eq)':<26}{pq['area']:>14.0f}{mc['area']:>14.0f}")
    if "fmax_mhz" in pq:
        out(f"  {'Fmax (MHz)':<26}{pq['fmax_mhz'] or 0:>14.2f}{mc['fmax_mhz'] or 0:>14.2f}")
    out(f"  {'cycles / inference':<26}{pq['cycles']:>14.0f}{mc['cycles']:>14.0f}")
    out(f"  {'ideal cycles / inference':<26}{pq['ideal_cycles']:>14.0f}{mc['ideal_cycles']:>14.0f}")
    if "inferences_per_s" in pq and "inferences_per_s" in mc:
        out(
            f"  "
            f"{'inferences / s':<26}{pq['inferences_per_s']:>14.1f}{mc['inferences_per_s']:>14.1f}"
        )
        out(
            f"  {'perf/area (inf/s/LUT4eq)':<26}{pq['perf_per_area']:>14.5f}"
            f"{mc['perf_per_area']:>14.5f}"
        )
    out(
        f"  MAC multiplier utilization over the network: {100 * mc['multiplier_utilization']:.1f} %"
    )
    if r.get("network"):
        network_report(r["network"], out)
    out(
        "  per-row detail: ResNet20's 3x3 convolutions, steady state, measured on the emitted "
        "Verilog"
    )
    out(
        f"  {'layer':<13}{'d':>5}{'m':>4}{'rows':>6}{'x':>3}"
        f"{'PQ cyc/row':>12}{'(ideal)':>8}{'MAC cyc/row':>13}{'(ideal)':>8}"
    )
    for a, b in zip(pq["layers"], mc["layers"]):
        out(
            f"  {a['layer']:<13}{a['d']:>5}{a['m']:>4}{a['rows']:>6}{a['count']:>3}"
            f"{a['cycles_per_row']:>12.2f}{a['ideal_cycles_per_row']:>8}"
            f"{b['cycles_per_row']:>13.2f}{b['ideal_cycles_per_row']:>8}"
        )
    if "ratio" in r:
        out(
            f"  perf/area ratio PQ / MAC: {r['ratio']:.2f}  (sensitivity: "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["sensitivity"].items())
            + ")"
        )
    if "bram_loop_fmax_mhz" in r:
        ref = r["bram_loop_fmax_mhz"]
        out(
            f"  BRAM-loop reference Fmax: {ref:.2f} MHz; Fmax / reference: "
            + ", ".join(
                f"{k} {d['fmax_mhz'] / ref:.2f}"
                for k, d in (("PQ", pq), ("MAC", mc))
                if d.get("fmax_mhz")
            )
        )


def baselines_report(r, target, out=print):
    """PQ against each further baseline of ``compare`` (e.g. the DSP-free MAC): resources,
    area, Fmax, throughput and the perf/area ratios (per layer set and whole network)."""
    pq = r["designs"]["pq"]
    for name, b in r.get("baselines", {}).items():
        out(f"  PQ against {name} (same layers, same router):")
        resource_table([("pq", pq["resources"]), (name, b["resources"])], out)
        fmax = f", Fmax {b['fmax_mhz']:.2f} MHz" if b.get("fmax_mhz") else ""
        ips = f", {b['inferences_per_s']:.1f} inf/s" if "inferences_per_s" in b else ""
        out(f"  {name}: area {b['area']:.0f} LUT4-eq{fmax}, {b['cycles']:.0f} cycles{ips}")
        if "ratio" in b:
            out(
                f"  perf/area ratio PQ / {name}: {b['ratio']:.2f}  (sensitivity: "
                + ", ".join(f"{k} {v:.2f}" for k, v in b["sensitivity"].items())
                + ")"
            )
        for batch, per in b.get("network", {}).items():
            line = f"  whole network, batch {batch}: PQ / {name} at equal clock "
            line += f"{per['ratio_equal_clock']:.2f}"
            if "ratio" in per:
                line += f", at each design's Fmax {per['ratio']:.2f} (sensitivity: " + ", ".join(
                    f"{k} {v:.2f}" for k, v in per["sensitivity"].items()
                )
                line += ")"
            out(line)
        if "bram_loop_fmax_mhz" in r and b.get("fmax_mhz"):
            ratio = b["fmax_mhz"] / r["bram_loop_fmax_mhz"]
            out(f"  {name} Fmax / BRAM-loop reference: {ratio:.2f}")


def network_report(net, out=print):
    """The whole-inference section of ``compare``: cycles with loads, perf/area per batch size,
    and batch-1 cycles against the load bandwidth."""
    if "skipped" in net:
        out(f"  whole network: {net['skipped']}")
        return
    out(
        f"  whole {net['network']} inference, every layer on the engine, tables/weights loaded "
        f"over "
        f"{net['load_bits']} bits/cycle (port words: PQ {net['pq_word_bits']}, MAC "
        f"{net['mac_word_bits']} "
        f"bits), overlapped with compute (analytical model, pqaccel.net.perf; checked on the RTL "
        f"by "
        f"'pqaccel net run')"
    )
    if net.get("kept_conventional"):
        out(
            f"  kept conventional on the PQ side (fewer calibration rows than k): "
            f"{', '.join(net['kept_conventional'])}"
        )
    out(
        f"  {'batch':>7}{'design':>8}{'cycles/image':>14}{'compute':>11}{'load':>10}{'stall':>9}"
        f"{'inf/s':>10}{'perf/area':>11}"
    )
    for b, per in net["batches"].items():
        for kind in DESIGNS:
            f = per[kind]
            ips = f"{f['inferences_per_s']:.1f}" if "inferences_per_s" in f else "-"
            ppa = f"{f['perf_per_area']:.5f}" if "perf_per_area" in f else "-"
            out(
                f"  {b:>7}{kind:>8}{f['cycles_per_image']:>14.1f}{f['compute']:>11}{f['load']:>10}"
                f"{f['stall']:>9}{ips:>10}{ppa:>11}"
            )
        line = (
            f"  batch {b}: perf/area PQ / MAC at equal clock {per['ratio_equal_clock']:.2f} ("
            + ", ".join(f"{k} {v:.2f}" for k, v in per["sensitivity_equal_clock"].items())
            + ")"
        )
        if "ratio" in per:
            line += (
                f", at each design's Fmax {per['ratio']:.2f} (sensitivity: "
                + ", ".join(f"{k} {v:.2f}" for k, v in per["sensitivity"].items())
                + ")"
            )
        out(line)
    out("  batch-1 cycles per image against the load bandwidth (bits/cycle):")
    out(f"  {'bits/cycle':>12}" + "".join(f"{bw:>10}" for bw in net["scan"]))
    for kind in DESIGNS:
        out(f"  {kind:>12}" + "".join(f"{per[kind]:>10}" for per in net["scan"].values()))


def lowbit_report(rows, label, target, out=print):
    out(f"  low-bit study (in = proto = lut bits), {label} parallelism, {target}:")
    out(
        f"  "
        f"{'metric':<8}{'bits':>5}{'dist':>6}{'lut':>8}{'ff':>8}{'carry':>7}{'bram':>6}{'dsp':>5}{'area':>9}"
    )
    for row in rows:
        res = row["resources"]
        out(
            f"  "
            f"{row['metric']:<8}{row['bits']:>5}{row['dist_bits']:>6}{res['lut']:>8}{res['ff']:>8}"
            f"{res['carry']:>7}{res['bram']:>6}{res['dsp']:>5}{row['area']:>9.0f}"
        )


def compare_csv(r):
    """Per-layer cycles and per-design totals of a ``compare`` result as CSV text."""
    f = io.StringIO()
    wcsv = csv.writer(f)
    wcsv.writerow(
        [
            "design",
            "layer",
            "d",
            "m",
            "rows",
            "count",
            "cycles_per_row",
            "ideal_cycles_per_row",
            "cycles",
        ]
    )
    designs = {**r["designs"], **r.get("baselines", {})}
    for d in designs:
        for ly in designs[d]["layers"]:
            wcsv.writerow(
                [
                    d,
                    ly["layer"],
                    ly["d"],
                    ly["m"],
                    ly["rows"],
                    ly["count"],
                    ly["cycles_per_row"],
                    ly["ideal_cycles_per_row"],
                    ly["cycles"],
                ]
            )
    wcsv.writerow([])
    wcsv.writerow(
        ["design", *RES_COLUMNS, "area", "fmax_mhz", "cycles", "inferences_per_s", "perf_per_area"]
    )
    for d, e in designs.items():
        wcsv.writerow(
            [
                d,
                *[e["resources"].get(c, 0) for c in RES_COLUMNS],
                e["area"],
                e.get("fmax_mhz"),
                e["cycles"],
                e.get("inferences_per_s"),
                e.get("perf_per_area"),
            ]
        )
    return f.getvalue()
