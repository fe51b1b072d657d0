"""Hardware commands of the CLI: ``generate`` and ``cosim``."""

import io
import json
import os
import tempfile

import numpy as np

from .fsutil import check_output_file, write_text_atomic

__all__ = ["add_commands"]


#: Rows per phase that ``cosim`` accepts: every beat and expected output is held in memory.
COSIM_ROWS_MAX = 100_000


def synthetic_layer(layer, seed):
    """A seeded random layer with structure: ``(x, w)``, inputs a mixture of 32 clusters, weights
    Gaussian.  Used by ``model`` and ``generate --train-seed``."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(32, layer.d))
    x = centers[rng.integers(0, 32, size=layer.n)] + 0.3 * rng.normal(size=(layer.n, layer.d))
    w = rng.normal(size=(layer.d, layer.m)) / np.sqrt(layer.d)
    return x, w


def cmd_generate(args):
    from .cli import resolve_config, CLIError
    from .export import check_output, generate
    engine, layer = resolve_config(args, n_default=2048)
    check_output(args.out, args.name, tables=args.train_seed is not None)
    tables = None
    if args.train_seed is not None:
        from . import model
        if layer.n < engine.k:
            raise CLIError(f"--n must be at least k={engine.k} to train k prototypes, got {layer.n}")
        x, w = synthetic_layer(layer, args.train_seed)
        tables = model.train(engine, x, w, seed=args.train_seed)
    files = generate(engine, args.out, name=args.name, tables=tables)
    for kind, path in files.items():
        print(f"{kind:<9}{path}")
    with open(files["manifest"]) as f:
        m = json.load(f)
    lat = m["latency"]
    print(f"engine: {len(m['ports'])} ports, table port {m['address_map']['addr_bits']}-bit address / "
          f"{m['address_map']['data_bits']}-bit data, encode {lat['encode_stages']} + lookup "
          f"{lat['lookup_stages']} pipeline stages")
    return 0


def _load_array(path, key, what):
    """An integer array from a ``.npy`` file, or from ``.npz`` (the array ``key``, or its only one)."""
    from .cli import CLIError
    try:
        with open(path, "rb"):
            pass
        loaded = np.load(path, allow_pickle=False)
    except OSError as e:
        raise CLIError(f"{what} {path!r} cannot be read: {e.strerror or e}") from None
    except ValueError as e:
        raise CLIError(f"{what} {path!r} is not a NumPy .npy/.npz file: {e}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if key in names:
                return loaded[key]
            if len(names) == 1:
                return loaded[names[0]]
            raise CLIError(f"{what} {path!r} holds arrays {names}; name one {key!r} or keep only one")
    if not isinstance(loaded, np.ndarray):
        raise CLIError(f"{what} {path!r} is not a NumPy .npy/.npz file")
    return loaded


def cmd_tables(args):
    """Table-port writes for the user's own integer codebooks and tables."""
    from .cli import resolve_config, CLIError
    from .addrmap import PQAddressMap
    from .export import write_table_hex, TABLE_HEX_FORMAT
    from .fsutil import check_output_file, write_text_atomic
    from .model import check_tables
    engine, _ = resolve_config(args)
    check_output_file(args.out, "--out")
    protos = _load_array(args.protos, "protos", "--protos")
    lut = _load_array(args.lut, "lut", "--lut")
    try:
        c, m = check_tables(engine, protos, lut)
    except ValueError as e:
        raise CLIError(str(e)) from None
    amap = PQAddressMap(engine)
    writes = amap.table_writes(protos, lut, commit=not args.no_commit)
    with tempfile.TemporaryDirectory(prefix="pqaccel-tables-") as tmp:
        path = os.path.join(tmp, "t.hex")
        write_table_hex(path, amap, writes)
        with open(path) as f:
            write_text_atomic(args.out, f.read(), "--out")
    print(f"tables   {args.out}  ({len(writes)} writes: C={c}, M={m}, {TABLE_HEX_FORMAT})")
    return 0


def cmd_cosim(args):
    from .cli import resolve_config
    from .export import generate
    from .fsutil import check_output_file
    from .sim.runner import run_cosim, WAVE_FORMATS
    engine, layer = resolve_config(args)
    for name in ("in_gap", "out_stall"):
        value = getattr(args, name)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"--{name.replace('_', '-')} must be a probability in [0, 1), got {value!r}")
    if args.json:
        check_output_file(args.json, "--json")
    if args.waves:
        ext = WAVE_FORMATS[args.sim]
        if not args.waves.endswith(ext):
            raise ValueError(f"--waves must end in {ext!r}: {args.sim} writes {ext[1:].upper()} "
                             f"waveforms, got {args.waves!r}")
        check_output_file(args.waves, "--waves")
    with tempfile.TemporaryDirectory(prefix="pqaccel-cosim-") as tmp:
        files = generate(engine, os.path.join(tmp, "rtl"), name=args.name)
        layers = [
            {"d": layer.d, "m": layer.m, "n": args.rows, "in_gap": args.in_gap, "out_stall": args.out_stall},
            {"d": layer.d, "m": layer.m, "n": args.rows, "in_gap": 0.0, "out_stall": 0.0},
        ]
        result = run_cosim(files["verilog"], files["manifest"], sim=args.sim, layers=layers,
                           seed=args.seed, build_dir=os.path.join(tmp, "build"), waves=args.waves)
    total = 0
    print(f"cosim on {args.sim}: {args.preset or args.config or 'default'}, layer d={layer.d} m={layer.m}, "
          f"seed {args.seed}")
    for name, res in zip(("random gaps/backpressure", "free-running"), result["layers"]):
        total += res["mismatches"]
        cpr = res["cycles_per_row"]
        print(f"  {name:<26} rows {res['n']:>5}  mismatches {res['mismatches']}  "
              f"cycles/row {cpr:.2f} (ideal {res['ideal_cycles_per_row']})  "
              f"first-row latency {res['latency_first_row']} cycles")
        for bad in res["first_mismatches"]:
            print(f"    mismatch: {describe_mismatch(bad)}")
    print(f"mismatches: {total}")
    print(f"wall time: build {result['build_s']:.1f} s, total {result['wall_s']:.1f} s")
    if args.waves:
        print(f"waves    {args.waves}")
    if args.json:
        from .fsutil import write_text_atomic
        write_text_atomic(args.json, json.dumps(result, indent=2))
    return 1 if total else 0


def describe_mismatch(bad):
    """One line for a mismatch record of :meth:`pqaccel.driver.Job.check`."""
    if bad["what"] == "count":
        return f"{bad['got']} output beats, expected {bad['expected']}"
    if bad["what"] == "last":
        return f"row {bad['row']} beat {bad['beat']}: last={bad['got']}, expected {bad['expected']}"
    return f"row {bad['row']} output {bad['output']}: got {bad['got']}, expected {bad['expected']}"


def add_commands(sub, add_config_args):
    from .cli import int_arg
    g = sub.add_parser("generate", help="write Verilog, manifest and (with --train-seed) table init files")
    add_config_args(g)
    g.add_argument("--name", default="pq_engine", help="Verilog top module name (default: pq_engine)")
    g.add_argument("--out", required=True,
                   help="output folder, e.g. rtl_out/default (created if needed; other files in it are kept)")
    g.add_argument("--train-seed", type=int_arg(0), default=None,
                   help="train PQ on a seeded random layer (--d/--m/--n) and write its tables")
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("tables", help="table-port writes for your own integer codebooks and tables")
    add_config_args(t, layer=False)
    t.add_argument("--protos", required=True, metavar="FILE",
                   help="codebooks, integer array C x k x v (.npy, or .npz with an array 'protos')")
    t.add_argument("--lut", required=True, metavar="FILE",
                   help="tables, integer array C x k x M (.npy, or .npz with an array 'lut')")
    t.add_argument("--out", required=True, metavar="FILE", help="write file (one '<addr hex> <data hex>' per line)")
    t.add_argument("--no-commit", action="store_true", help="leave out the final commit write")
    t.set_defaults(func=cmd_tables)

    c = sub.add_parser("cosim", help="co-simulate the emitted Verilog against the golden model (cocotb)")
    add_config_args(c)
    c.add_argument("--sim", choices=("icarus", "verilator"), default="icarus")
    c.add_argument("--rows", type=int_arg(2, COSIM_ROWS_MAX), default=100,
                   help=f"rows per phase, 2..{COSIM_ROWS_MAX} (default 100)")
    c.add_argument("--seed", type=int_arg(0), default=0)
    c.add_argument("--in-gap", type=float, default=0.3, help="probability of an input gap per beat")
    c.add_argument("--out-stall", type=float, default=0.3, help="probability of output backpressure")
    c.add_argument("--name", default="pq_engine")
    c.add_argument("--json", metavar="FILE", help="also write the full result as JSON")
    c.add_argument("--waves", metavar="FILE",
                   help="write the waveform for GTKWave (.fst on icarus, .vcd on verilator)")
    c.set_defaults(func=cmd_cosim)
    add_cost_commands(sub, add_config_args)


# -- cost and benefit --------------------------------------------------------------------------------

def _design_cfg(args):
    from .cli import resolve_config
    from .mac import MacConfig
    engine, _ = resolve_config(args)
    mac = MacConfig.for_engine(engine, d_par=args.mac_d_par, m_par=args.mac_m_par, w_bits=args.mac_w_bits)
    return engine, mac


def _write_json(path, obj, what="--json"):
    from .fsutil import write_text_atomic
    write_text_atomic(path, json.dumps(obj, indent=2), what)


RES_COLUMNS = ("lut", "ff", "carry", "mux", "bram", "lutram", "dsp", "other", "cells")


def _res_table(rows):
    head = f"  {'design':<14}" + "".join(f"{c:>8}" for c in RES_COLUMNS)
    print(head)
    for name, res in rows:
        print(f"  {name:<14}" + "".join(f"{res.get(c, 0):>8}" for c in RES_COLUMNS))


def cmd_synth(args):
    from .compare import synth_design
    engine, mac = _design_cfg(args)
    designs = {"pq": engine, "mac": mac}
    chosen = ["pq", "mac"] if args.design == "both" else [args.design]
    label = args.preset or (os.path.basename(args.config) if args.config else "default")
    path = args.json or os.path.join("rtl_out", "synth", f"{label}-{args.design}-{args.target}.json")
    check_output_file(path, "--json")
    out = {}
    rows = []
    for d in chosen:
        r = synth_design(designs[d], args.target, use_cache=not args.no_cache)
        out[d] = r
        rows.append((d, r["resources"]))
        if args.collision_cost:
            plain = synth_design(designs[d], args.target, collision_fix=False, use_cache=not args.no_cache)
            out[d + "_read_first"] = plain
            rows.append((d + " read-first", plain["resources"]))
    print(f"Yosys synthesis for {args.target}, preset {label} (LUT4-equivalent columns per family; "
          f"'cells' = all cells)")
    _res_table(rows)
    for d in chosen:
        r = out[d]
        took = "cached" if r["cached"] else f"yosys {r['yosys_s']} s"
        print(f"  {d}: {took}")
    _write_json(path, out)
    print(f"json     {path}")
    return 0


def cmd_pnr(args):
    from .compare import pnr_design, bram_reference
    engine, mac = _design_cfg(args)
    cfg = engine if args.design == "pq" else mac
    if args.json:
        check_output_file(args.json, "--json")
    p, s = pnr_design(cfg, args.target, freq_mhz=args.freq, seed=args.seed, router=args.router,
                      use_cache=not args.no_cache)
    ref = bram_reference(args.target, freq_mhz=args.freq, seed=args.seed, router=args.router,
                         use_cache=not args.no_cache)
    print(f"nextpnr on {p['device']}, {args.design} engine inside the I/O harness, "
          f"clock constraint {args.freq} MHz, seed {args.seed}")
    if not p["fits"]:
        print(f"  does not fit: {p['message']}")
    else:
        util = p["utilization"]
        keep = [k for k in util if util[k]["used"]]
        for k in keep:
            u = util[k]
            print(f"  {k:<18}{u['used']:>8} / {u['available']:<8}({100 * u['used'] / u['available']:.1f} %)")
        print(f"  Fmax {p['fmax_mhz']:.2f} MHz ({p.get('router', 'router1')}, nextpnr {p['nextpnr_s']} s)")
    print(f"  BRAM-loop reference on the same device: {ref['fmax_mhz']:.2f} MHz")
    if p["fits"] and ref["fmax_mhz"]:
        print(f"  ratio Fmax / reference: {p['fmax_mhz'] / ref['fmax_mhz']:.2f}")
    if args.json:
        _write_json(args.json, {"design": p, "bram_loop": ref, "synth": s})
    return 0 if p["fits"] else 1


def cmd_compare(args):
    import csv
    from .compare import compare, lowbit_study
    from . import area as area_model
    engine, mac = _design_cfg(args)
    label = args.preset or (os.path.basename(args.config) if args.config else "default")
    base = args.csv or os.path.join("rtl_out", "compare", f"{label}-{args.target}")
    check_output_file(base + ".json", "--csv")
    check_output_file(base + ".csv", "--csv")
    r = compare(engine, mac, args.target, sim=args.sim, rows=args.rows, pnr=not args.no_pnr,
                freq_mhz=args.freq, router=args.router, use_cache=not args.no_cache,
                network=not args.no_network, load_bits=args.load_bits)
    pq, mc = r["designs"]["pq"], r["designs"]["mac"]
    print(f"PQ ({label}) vs MAC (d_par={mac.d_par}, m_par={mac.m_par}, {mac.in_bits}x{mac.w_bits}-bit) "
          f"on {args.target}, ResNet20 3x3 convolutions")
    _res_table([("pq", pq["resources"]), ("mac", mc["resources"])])
    w = area_model.WEIGHTS
    print(f"  area model (LUT4-eq): lut {w['lut']}, carry {w['carry']}, ff {w['ff']}, lutram {w['lutram']}, "
          f"bram {w['bram']}, dsp {w['dsp']} (pqaccel/area.py)")
    print(f"  {'':<26}{'PQ':>14}{'MAC':>14}")
    print(f"  {'area (LUT4-eq)':<26}{pq['area']:>14.0f}{mc['area']:>14.0f}")
    if "fmax_mhz" in pq:
        print(f"  {'Fmax (MHz)':<26}{pq['fmax_mhz'] or 0:>14.2f}{mc['fmax_mhz'] or 0:>14.2f}")
    print(f"  {'cycles / inference':<26}{pq['cycles']:>14.0f}{mc['cycles']:>14.0f}")
    print(f"  {'ideal cycles / inference':<26}{pq['ideal_cycles']:>14.0f}{mc['ideal_cycles']:>14.0f}")
    if "inferences_per_s" in pq and "inferences_per_s" in mc:
        print(f"  {'inferences / s':<26}{pq['inferences_per_s']:>14.1f}{mc['inferences_per_s']:>14.1f}")
        print(f"  {'perf/area (inf/s/LUT4eq)':<26}{pq['perf_per_area']:>14.5f}{mc['perf_per_area']:>14.5f}")
    print(f"  MAC multiplier utilization over the network: {100 * mc['multiplier_utilization']:.1f} %")
    if r.get("network"):
        _network_report(r["network"], pq, mc)
    print(f"  per-row detail: ResNet20's 3x3 convolutions, steady state, measured on the emitted Verilog")
    print(f"  {'layer':<13}{'d':>5}{'m':>4}{'rows':>6}{'x':>3}"
          f"{'PQ cyc/row':>12}{'(ideal)':>8}{'MAC cyc/row':>13}{'(ideal)':>8}")
    for a, b in zip(pq["layers"], mc["layers"]):
        print(f"  {a['layer']:<13}{a['d']:>5}{a['m']:>4}{a['rows']:>6}{a['count']:>3}"
              f"{a['cycles_per_row']:>12.2f}{a['ideal_cycles_per_row']:>8}"
              f"{b['cycles_per_row']:>13.2f}{b['ideal_cycles_per_row']:>8}")
    if "ratio" in r:
        print(f"  perf/area ratio PQ / MAC: {r['ratio']:.2f}  (sensitivity: " +
              ", ".join(f"{k} {v:.2f}" for k, v in r["sensitivity"].items()) + ")")
    if "bram_loop_fmax_mhz" in r:
        ref = r["bram_loop_fmax_mhz"]
        print(f"  BRAM-loop reference Fmax: {ref:.2f} MHz; Fmax / reference: " +
              ", ".join(f"{k} {d['fmax_mhz'] / ref:.2f}" for k, d in (("PQ", pq), ("MAC", mc))
                        if d.get("fmax_mhz")))
    mism = sum(l["mismatches"] for d in (pq, mc) for l in d["layers"])
    print(f"  cosim mismatches while measuring cycles: {mism}")
    if args.lowbit:
        rows = lowbit_study(engine, args.target, use_cache=not args.no_cache)
        r["lowbit"] = rows
        print(f"  low-bit study (in = proto = lut bits), {label} parallelism, {args.target}:")
        print(f"  {'metric':<8}{'bits':>5}{'dist':>6}{'lut':>8}{'ff':>8}{'carry':>7}{'bram':>6}{'dsp':>5}{'area':>9}")
        for row in rows:
            res = row["resources"]
            print(f"  {row['metric']:<8}{row['bits']:>5}{row['dist_bits']:>6}{res['lut']:>8}{res['ff']:>8}"
                  f"{res['carry']:>7}{res['bram']:>6}{res['dsp']:>5}{row['area']:>9.0f}")
    _write_json(base + ".json", r, "--csv")
    f = io.StringIO()
    wcsv = csv.writer(f)
    wcsv.writerow(["design", "layer", "d", "m", "rows", "count", "cycles_per_row", "ideal_cycles_per_row",
                   "cycles"])
    for d in ("pq", "mac"):
        for l in r["designs"][d]["layers"]:
            wcsv.writerow([d, l["layer"], l["d"], l["m"], l["rows"], l["count"], l["cycles_per_row"],
                           l["ideal_cycles_per_row"], l["cycles"]])
    wcsv.writerow([])
    wcsv.writerow(["design", *RES_COLUMNS, "area", "fmax_mhz", "cycles", "inferences_per_s", "perf_per_area"])
    for d in ("pq", "mac"):
        e = r["designs"][d]
        wcsv.writerow([d, *[e["resources"].get(c, 0) for c in RES_COLUMNS], e["area"], e.get("fmax_mhz"),
                       e["cycles"], e.get("inferences_per_s"), e.get("perf_per_area")])
    write_text_atomic(base + ".csv", f.getvalue(), "--csv")
    print(f"csv      {base}.csv\njson     {base}.json")
    return 1 if mism else 0


def _network_report(net, pq, mc):
    """The whole-inference section of ``compare``: cycles with loads, perf/area per batch size,
    and batch-1 cycles against the load bandwidth."""
    if "skipped" in net:
        print(f"  whole network: {net['skipped']}")
        return
    print(f"  whole {net['network']} inference, every layer on the engine, tables/weights loaded over "
          f"{net['load_bits']} bits/cycle (port words: PQ {net['pq_word_bits']}, MAC {net['mac_word_bits']} "
          f"bits), overlapped with compute (analytical model, pqaccel.net.perf; checked on the RTL by "
          f"'pqaccel net run')")
    print(f"  {'batch':>7}{'design':>8}{'cycles/image':>14}{'compute':>11}{'load':>10}{'stall':>9}"
          f"{'inf/s':>10}{'perf/area':>11}")
    for b, per in net["batches"].items():
        for kind in ("pq", "mac"):
            f = per[kind]
            ips = f"{f['inferences_per_s']:.1f}" if "inferences_per_s" in f else "-"
            ppa = f"{f['perf_per_area']:.5f}" if "perf_per_area" in f else "-"
            print(f"  {b:>7}{kind:>8}{f['cycles_per_image']:>14.1f}{f['compute']:>11}{f['load']:>10}"
                  f"{f['stall']:>9}{ips:>10}{ppa:>11}")
        line = f"  batch {b}: perf/area PQ / MAC at equal clock {per['ratio_equal_clock']:.2f}"
        if "ratio" in per:
            line += (f", at each design's Fmax {per['ratio']:.2f} (sensitivity: " +
                     ", ".join(f"{k} {v:.2f}" for k, v in per["sensitivity"].items()) + ")")
        print(line)
    print("  batch-1 cycles per image against the load bandwidth (bits/cycle):")
    print(f"  {'bits/cycle':>12}" + "".join(f"{bw:>10}" for bw in net["scan"]))
    for kind in ("pq", "mac"):
        print(f"  {kind:>12}" + "".join(f"{per[kind]:>10}" for per in net["scan"].values()))


def add_cost_commands(sub, add_config_args):
    from .cli import int_arg
    from .synth import TARGETS, PNR_TARGETS, ROUTERS

    def router_arg(p):
        p.add_argument("--router", choices=ROUTERS, default=ROUTERS[0],
                       help="nextpnr router (default router1; router2 is often much faster on congested designs)")

    def mac_args(p):
        p.add_argument("--mac-d-par", type=int, default=9, help="MAC inputs per cycle (default 9)")
        p.add_argument("--mac-m-par", type=int, default=16, help="MAC outputs per cycle (default 16)")
        p.add_argument("--mac-w-bits", type=int, default=8, help="MAC weight width (default 8)")
        p.add_argument("--no-cache", action="store_true", help="ignore cached synthesis results")

    s = sub.add_parser("synth", help="Yosys synthesis: LUT/FF/carry/BRAM/LUT-RAM/DSP")
    add_config_args(s, layer=False)
    s.add_argument("--target", choices=list(TARGETS), default="generic")
    s.add_argument("--design", choices=("pq", "mac", "both"), default="pq")
    s.add_argument("--collision-cost", action="store_true",
                   help="also synthesize with read-first table ports and show the emulation cost")
    s.add_argument("--json", metavar="FILE")
    mac_args(s)
    s.set_defaults(func=cmd_synth)

    p = sub.add_parser("pnr", help="nextpnr place and route: Fmax, utilization, BRAM-loop reference")
    add_config_args(p, layer=False)
    p.add_argument("--target", choices=list(PNR_TARGETS), default="ecp5")
    p.add_argument("--design", choices=("pq", "mac"), default="pq")
    p.add_argument("--freq", type=float, default=100.0, help="clock constraint in MHz")
    p.add_argument("--seed", type=int, default=1)
    router_arg(p)
    p.add_argument("--json", metavar="FILE")
    mac_args(p)
    p.set_defaults(func=cmd_pnr)

    c = sub.add_parser("compare", help="PQ vs MAC on ResNet20: resources, area, Fmax, cycles, perf/area")
    add_config_args(c, layer=False)
    c.add_argument("--target", choices=list(TARGETS), default="ecp5")
    c.add_argument("--sim", choices=("icarus", "verilator"), default="verilator",
                   help="simulator for the cycle measurement (default verilator: the ResNet20 shapes "
                        "need ~100k table writes, minutes on Icarus)")
    c.add_argument("--rows", type=int, default=12, help="rows per layer shape in the cycle measurement")
    c.add_argument("--freq", type=float, default=100.0)
    router_arg(c)
    c.add_argument("--no-pnr", action="store_true", help="skip place and route (no Fmax, no perf/area)")
    c.add_argument("--lowbit", action="store_true", help="add the low-bit study (widths 2..8, L1 and L2)")
    c.add_argument("--load-bits", type=int_arg(1), default=512, metavar="B",
                   help="table/weight load bandwidth in bits per cycle for the whole-network figures "
                        "(the same for both engines; default 512)")
    c.add_argument("--no-network", action="store_true",
                   help="skip the whole-network (ResNet20 with table loads) figures")
    c.add_argument("--csv", metavar="BASE", help="write BASE.csv and BASE.json (default rtl_out/compare/...)")
    mac_args(c)
    c.set_defaults(func=cmd_compare)
