"""The UART host link: the host driver (:class:`pqaccel.host.Board`) end to end against the
link's Verilog through a bit-level UART under cocotb, on both simulators; the board tops."""

import pytest

from pqaccel.board.frames import manifest_hash
from pqaccel.presets import preset
from pqaccel.sim.runner import run_link


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_host_driver_through_the_simulated_uart(sim):
    """Tables, rows and results over the UART, bit-exact, the banks swapped by the commit."""
    cfg = preset("default").replace(k=4)  # small tables keep the UART time short
    r = run_link(
        cfg, sim=sim, layers=[{"d": 12, "m": 8, "n": 5}, {"d": 30, "m": 3, "n": 4}], seed=3
    )
    assert "error" not in r, r.get("error")
    assert r["status"]["hash"] == manifest_hash(cfg)
    assert r["rows"] == 9 and r["mismatches"] == 0, r["first"]
    assert r["status_after"]["error"] == 0
    assert r["status_after"]["active_bank"] == 0  # two commits: back to bank 0


def test_host_refuses_a_board_with_another_design():
    cfg = preset("default").replace(k=4)
    wrong = manifest_hash(cfg) ^ 1
    r = run_link(cfg, sim="icarus", layers=[], expect_hash=wrong)
    assert r["error"] == (
        f"the board runs a different design: manifest hash 0x{manifest_hash(cfg):08x}, "
        f"expected 0x{wrong:08x} (rebuild with 'pqaccel build' for this configuration)"
    )


def test_pll_settings_reach_the_clock():
    from pqaccel.board.boards import ecp5_pll, ice40_pll

    divr, divf, divq, rng, f = ice40_pll(12, 30)
    assert f == 12 * (divf + 1) / ((divr + 1) * 2**divq) == 30
    assert 533 <= 12 / (divr + 1) * (divf + 1) <= 1066
    clki, fb, op, f = ecp5_pll(25, 50)
    assert f == 25 / clki * fb == 50 and 400 <= f * op <= 800
    with pytest.raises(ValueError, match=r"^no iCE40 PLL setting makes 30 MHz from 1 MHz$"):
        ice40_pll(1, 30)  # no divider brings a 1 MHz reference into the PFD range


def test_icebreaker_bitstream_builds(tmp_path):
    """The default preset's engine with its UART link, PLL and LEDs through amaranth-boards and
    YoWASP: a bitstream, timing met at the PLL's clock, the host's link file."""
    import json
    from pqaccel.cli import main

    out = tmp_path / "ice"
    assert main(["build", "--board", "icebreaker", "--out", str(out)]) == 0
    assert (out / "icebreaker.bin").stat().st_size > 50_000
    report = json.loads((out / "icebreaker.report.json").read_text())
    assert report["fmax_mhz"] >= report["requested_mhz"] == 30.0
    link = json.loads((out / "icebreaker.link.json").read_text())
    assert link["engine"] == preset("default").to_dict()
    assert link["link"]["hash"] == manifest_hash(preset("default")) and link["link"][
        "divisor"
    ] == round(30e6 / 115200)


def test_build_and_run_refuse_bad_input(tmp_path, capsys):
    from pqaccel.cli import main
    from pqaccel.board.boards import BOARDS
    from pqaccel.board.build import _failure

    with pytest.raises(SystemExit) as e:
        main(["build", "--board", "de10-nano"])
    assert (
        e.value.code == 2
        and "invalid choice: 'de10-nano' (choose from 'icebreaker', 'ulx3s-85f')"
        in capsys.readouterr().err
    )
    assert (
        main(
            [
                "build",
                "--board",
                "icebreaker",
                "--preset",
                "resnet20-v9k8",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "error: the design does not fit the icebreaker: its memories hold 584 kbit, the "
            "device's block RAM 120 kbit "
            "(choose a smaller preset)"
        )
    )
    assert not (tmp_path / "b").exists()
    # what nextpnr says when logic (not memory) overflows
    assert _failure(
        BOARDS["icebreaker"],
        "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_LC'\n",
    ) == (
        "the design does not fit the icebreaker: it needs more ICESTORM_LC than "
        "the device has (5280) (choose a smaller preset)"
    )
    link = tmp_path / "l.json"
    link.write_text('{"kind": "pq"')
    assert main(["run", "--port", str(tmp_path / "ttyNONE"), "--link", str(link)]) == 2
    assert "is not a link file written by 'pqaccel build'" in capsys.readouterr().err
    from amaranth.hdl import Fragment
    from pqaccel.board.link import HostLink

    host_link = HostLink(preset("default"), clk_hz=30e6, baud=115200)
    Fragment.get(host_link, None)  # elaborated, as a build does (no unused-design warning)
    link.write_text(__import__("json").dumps(host_link.manifest("pqaccel")))
    assert main(["run", "--port", str(tmp_path / "ttyNONE"), "--link", str(link)]) == 2
    assert f"error: cannot open serial port '{tmp_path / 'ttyNONE'}'" in capsys.readouterr().err
