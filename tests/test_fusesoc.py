"""The FuseSoC core that ``generate`` writes, used by ``fusesoc`` itself."""

import os
import shutil
import subprocess
import sys

import pytest

from pqaccel.presets import preset
from pqaccel.export import generate
from pqaccel.engines.mac.config import MacConfig
from pqaccel.sim.runner import setup_verilator


def fusesoc(tmp_path, target, name="pq_engine"):
    env = dict(os.environ)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fusesoc.main",
            "--cores-root",
            str(tmp_path / "core"),
            "run",
            "--target",
            target,
            f"pqaccel:engine:{name}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "cfg, name",
    [
        (preset("default"), "pq_engine"),
        (MacConfig(d_max=9, m_max=4, d_par=9, m_par=4), "mac_engine"),
    ],
)
def test_fusesoc_lint_and_sim_targets(cfg, name, tmp_path):
    if not setup_verilator() or shutil.which("iverilog") is None:
        pytest.skip("verilator or iverilog is not installed")
    files = generate(cfg, tmp_path / "core", name=name)
    assert os.path.basename(files["core"]) == f"{name}.core"
    for target in ("lint", "sim"):
        rc, log = fusesoc(tmp_path, target, name)
        assert rc == 0, log[-3000:]
    assert (tmp_path / "build" / f"pqaccel_engine_{name}_0.1.0" / "sim-icarus").is_dir()


def test_fusesoc_lint_fails_on_a_broken_design(tmp_path):
    """The lint target really checks the Verilog: a broken file fails it."""
    if not setup_verilator():
        pytest.skip("verilator is not installed")
    files = generate(preset("default"), tmp_path / "core")
    with open(files["verilog"], "a") as f:
        f.write("\nmodule broken(input a; endmodule\n")  # a syntax error
    rc, log = fusesoc(tmp_path, "lint")
    assert rc != 0
