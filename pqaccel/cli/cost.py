"""Cost commands: ``synth``, ``pnr``, ``compare``."""

import os

from ..fsutil import check_output_file, write_text_atomic
from ..report import resource_table
from .common import (
    CLIError,
    add_config_args,
    add_mac_args,
    chosen_design,
    config_label,
    design_configs,
    int_arg,
    positive_float,
    write_json,
)

__all__ = ["add_commands"]


def cmd_synth(args):
    from ..api import synthesize as synth_design

    engine, mac = design_configs(args)
    designs = {"pq": engine, "mac": mac}
    chosen = ["pq", "mac"] if args.design == "both" else [args.design]
    label = config_label(args)
    path = args.json or os.path.join(
        "rtl_out", "synth", f"{label}-{args.design}-{args.target}.json"
    )
    check_output_file(path, "--json")
    out = {}
    rows = []
    for d in chosen:
        r = synth_design(designs[d], args.target, use_cache=not args.no_cache)
        out[d] = r
        rows.append((d, r["resources"]))
        if args.collision_cost:
            plain = synth_design(
                designs[d], args.target, collision_fix=False, use_cache=not args.no_cache
            )
            out[d + "_read_first"] = plain
            rows.append((d + " read-first", plain["resources"]))
    print(
        f"Yosys synthesis for {args.target}, preset {label} (LUT4-equivalent columns per family; "
        f"'cells' = all cells)"
    )
    resource_table(rows)
    for d in chosen:
        r = out[d]
        took = "cached" if r["cached"] else f"yosys {r['yosys_s']} s"
        print(f"  {d}: {took}")
    write_json(path, out)
    print(f"json     {path}")
    return 0


def cmd_pnr(args):
    from ..api import place_and_route as pnr_design
    from ..compare import bram_reference
    from ..synth import default_router

    cfg = chosen_design(args)
    if args.json:
        check_output_file(args.json, "--json")
    try:
        p, s = pnr_design(
            cfg,
            args.target,
            freq_mhz=args.freq,
            seed=args.seed,
            router=args.router,
            use_cache=not args.no_cache,
            timeout_s=args.timeout * 60 if args.timeout else None,
        )
    except TimeoutError as e:
        raise CLIError(
            f"--timeout {args.timeout:g}: {e} (router {default_router(args.target, args.router)})"
        ) from None
    ref = bram_reference(
        args.target,
        freq_mhz=args.freq,
        seed=args.seed,
        router=args.router,
        use_cache=not args.no_cache,
    )
    print(
        f"nextpnr on {p['device']}, {args.design} engine inside the I/O harness, "
        f"clock constraint {args.freq} MHz, seed {args.seed}"
    )
    if not p["fits"]:
        print(f"  does not fit: {p['message']}")
    else:
        util = p["utilization"]
        keep = [k for k in util if util[k]["used"]]
        for k in keep:
            u = util[k]
            print(
                f"  {k:<18}{u['used']:>8} / "
                f"{u['available']:<8}({100 * u['used'] / u['available']:.1f} %)"
            )
        print(
            f"  Fmax {p['fmax_mhz']:.2f} MHz ({p.get('router', 'router1')}, nextpnr "
            f"{p['nextpnr_s']} s)"
        )
        cp = p.get("critical_path")
        if cp:
            print(
                f"  critical path {cp['from']} -> {cp['to']}: {cp['ns']:.2f} ns "
                f"({cp['logic_ns']:.2f} logic, {cp['routing_ns']:.2f} routing)"
            )
    if ref["fmax_mhz"]:
        print(f"  BRAM-loop reference on the same device: {ref['fmax_mhz']:.2f} MHz")
    else:
        print(f"  BRAM-loop reference on the same device: not routed ({ref['message']})")
    if p["fits"] and ref["fmax_mhz"]:
        print(f"  ratio Fmax / reference: {p['fmax_mhz'] / ref['fmax_mhz']:.2f}")
    if args.json:
        write_json(args.json, {"design": p, "bram_loop": ref, "synth": s})
    return 0 if p["fits"] else 1


def cmd_compare(args):
    from ..api import compare
    from ..compare import lowbit_study
    from ..report import baselines_report, compare_report, compare_csv, lowbit_report

    both = args.mac_mult == "both"
    if both:
        args.mac_mult = "dsp"
    engine, mac = design_configs(args)
    baselines = [mac.replace(mult="lut")] if both else []
    label = config_label(args)
    base = args.csv or os.path.join("rtl_out", "compare", f"{label}-{args.target}")
    check_output_file(base + ".json", "--csv")
    check_output_file(base + ".csv", "--csv")
    r = compare(
        engine,
        mac,
        args.target,
        sim=args.sim,
        rows=args.rows,
        pnr=not args.no_pnr,
        freq_mhz=args.freq,
        seed=args.seed,
        router=args.router,
        use_cache=not args.no_cache,
        network=not args.no_network,
        load_bits=args.load_bits,
        baselines=baselines,
    )
    compare_report(r, label, mac, args.target)
    baselines_report(r, args.target)
    designs = [*r["designs"].values(), *r.get("baselines", {}).values()]
    mism = sum(ly["mismatches"] for d in designs for ly in d["layers"])
    print(f"  cosim mismatches while measuring cycles: {mism}")
    if args.lowbit:
        r["lowbit"] = lowbit_study(engine, args.target, use_cache=not args.no_cache)
        lowbit_report(r["lowbit"], label, args.target)
    write_json(base + ".json", r, "--csv")
    write_text_atomic(base + ".csv", compare_csv(r), "--csv")
    print(f"csv      {base}.csv\njson     {base}.json")
    return 1 if mism else 0


def add_commands(sub):
    from ..synth import TARGETS, PNR_TARGETS, ROUTERS

    def router_arg(p):
        p.add_argument(
            "--router",
            choices=ROUTERS,
            default=None,
            help="nextpnr router (default: router2 on ECP5, where it is much faster for the "
            "same Fmax, router1 on iCE40, where it reaches a higher one)",
        )

    def mac_args(p, both=False):
        add_mac_args(p, both)
        p.add_argument("--no-cache", action="store_true", help="ignore cached synthesis results")

    s = sub.add_parser("synth", help="Yosys synthesis: LUT/FF/carry/BRAM/LUT-RAM/DSP")
    add_config_args(s, layer=False)
    s.add_argument("--target", choices=list(TARGETS), default="generic")
    s.add_argument("--design", choices=("pq", "mac", "both"), default="pq")
    s.add_argument(
        "--collision-cost",
        action="store_true",
        help="also synthesize with read-first table ports and show the emulation cost",
    )
    s.add_argument("--json", metavar="FILE")
    mac_args(s)
    s.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "pnr", help="nextpnr place and route: Fmax, utilization, BRAM-loop reference"
    )
    add_config_args(p, layer=False)
    p.add_argument("--target", choices=list(PNR_TARGETS), default="ecp5")
    p.add_argument("--design", choices=("pq", "mac"), default="pq")
    p.add_argument("--freq", type=positive_float, default=100.0, help="clock constraint in MHz")
    p.add_argument("--seed", type=int, default=1)
    router_arg(p)
    p.add_argument(
        "--timeout",
        type=positive_float,
        metavar="MINUTES",
        help="stop nextpnr after this long (an error; nothing is cached)",
    )
    p.add_argument("--json", metavar="FILE")
    mac_args(p)
    p.set_defaults(func=cmd_pnr)

    c = sub.add_parser(
        "compare", help="PQ vs MAC on ResNet20: resources, area, Fmax, cycles, perf/area"
    )
    add_config_args(c, layer=False)
    c.add_argument("--target", choices=list(TARGETS), default="ecp5")
    c.add_argument(
        "--sim",
        choices=("icarus", "verilator"),
        default="verilator",
        help="simulator for the cycle measurement (default verilator: the ResNet20 shapes "
        "need ~100k table writes, minutes on Icarus)",
    )
    c.add_argument(
        "--rows", type=int, default=12, help="rows per layer shape in the cycle measurement"
    )
    c.add_argument("--freq", type=positive_float, default=100.0)
    c.add_argument("--seed", type=int, default=1, help="nextpnr seed, the same for every design")
    router_arg(c)
    c.add_argument(
        "--no-pnr", action="store_true", help="skip place and route (no Fmax, no perf/area)"
    )
    c.add_argument(
        "--lowbit", action="store_true", help="add the low-bit study (widths 2..8, L1 and L2)"
    )
    c.add_argument(
        "--load-bits",
        type=int_arg(1),
        default=512,
        metavar="B",
        help="table/weight load bandwidth in bits per cycle for the whole-network figures "
        "(the same for both engines; default 512)",
    )
    c.add_argument(
        "--no-network",
        action="store_true",
        help="skip the whole-network (ResNet20 with table loads) figures",
    )
    c.add_argument(
        "--csv", metavar="BASE", help="write BASE.csv and BASE.json (default rtl_out/compare/...)"
    )
    mac_args(c, both=True)
    c.set_defaults(func=cmd_compare)
