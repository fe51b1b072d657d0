"""The emitted Verilog passes ``verilator --lint-only -Wall`` with only the style warnings that
Yosys's Verilog backend always produces, and compiles in Icarus Verilog."""

import re
import shutil
import subprocess

import pytest

from pqaccel.presets import preset
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import Parallelism
from pqaccel.export import VERILATOR_STYLE_WARNINGS, generate
from pqaccel.engines.mac.config import MacConfig
from pqaccel.sim.runner import setup_verilator

# Style of the Yosys Verilog backend, not of the design (the same list the FuseSoC core waives).
STYLE_ONLY = set(VERILATOR_STYLE_WARNINGS)

CONFIGS = {
    "default": preset("default"),
    "resnet20-v9k16": preset("resnet20-v9k16"),
    "k1-steps": EngineConfig(v=1, k=2, c_max=1, m_max=1, par=Parallelism(1, 2, 1)),
    "mac-one-group": MacConfig(d_max=9, m_max=4, d_par=9, m_par=4),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_verilator_lint(name, tmp_path):
    if not setup_verilator():
        pytest.skip("verilator is not installed")
    files = generate(CONFIGS[name], tmp_path)
    proc = subprocess.run(
        ["verilator", "--lint-only", "-Wall", files["verilog"]], capture_output=True, text=True
    )
    categories = set(re.findall(r"%Warning-([A-Z_]+)", proc.stderr))
    assert "%Error" not in proc.stderr.replace("%Error: Exiting due to", "")
    assert categories <= STYLE_ONLY, categories - STYLE_ONLY


@pytest.mark.parametrize("name", list(CONFIGS))
def test_icarus_compiles(name, tmp_path):
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed")
    files = generate(CONFIGS[name], tmp_path)
    proc = subprocess.run(
        ["iverilog", "-g2012", "-o", str(tmp_path / "a.vvp"), files["verilog"]],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
