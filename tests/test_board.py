"""The UART host link: the host driver (:class:`pqaccel.host.Board`) end to end against the
link's Verilog through a bit-level UART under cocotb, on both simulators; the board tops."""

import pytest

from pqaccel.board.link import manifest_hash
from pqaccel.config import preset
from pqaccel.sim.runner import run_link


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_host_driver_through_the_simulated_uart(sim):
    """Tables, rows and results over the UART, bit-exact, the banks swapped by the commit."""
    cfg = preset("default").replace(k=4)          # small tables keep the UART time short
    r = run_link(cfg, sim=sim, layers=[{"d": 12, "m": 8, "n": 5}, {"d": 30, "m": 3, "n": 4}], seed=3)
    assert "error" not in r, r.get("error")
    assert r["status"]["hash"] == manifest_hash(cfg)
    assert r["rows"] == 9 and r["mismatches"] == 0, r["first"]
    assert r["status_after"]["error"] == 0
    assert r["status_after"]["active_bank"] == 0        # two commits: back to bank 0


def test_host_refuses_a_board_with_another_design():
    cfg = preset("default").replace(k=4)
    wrong = manifest_hash(cfg) ^ 1
    r = run_link(cfg, sim="icarus", layers=[], expect_hash=wrong)
    assert r["error"] == (f"the board runs a different design: manifest hash 0x{manifest_hash(cfg):08x}, "
                          f"expected 0x{wrong:08x} (rebuild with 'pqaccel build' for this configuration)")
