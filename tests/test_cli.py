"""The command line: outputs, and clear errors with a non-zero exit and no traceback."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from pqaccel.cli import main


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "pqaccel", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_help():
    rc, out, _ = run("--help")
    assert rc == 0
    for cmd in ("config", "model", "generate", "cosim", "synth", "pnr", "compare"):
        assert cmd in out


def test_config_show(capsys):
    assert main(["config", "show", "--preset", "resnet20-v9k8", "--d", "144", "--m", "16"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"acc_bits\s+14", out) and re.search(r"ideal cycles / row\s+4", out)


def test_config_show_json_and_set(capsys):
    assert main(["config", "show", "--set", "k=8", "--set", "par.k_par=2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["engine"]["k"] == 8 and doc["derived"]["k_steps"] == 4


@pytest.mark.parametrize("args, message", [
    (["config", "show", "--preset", "nope"], "preset must be one of"),
    (["config", "show", "--set", "par.k_par=3"], "k_par must divide k=16"),
    (["config", "show", "--set", "widths.in_bits=20"], "in_bits must be an integer from 2 to 16, got 20"),
    (["config", "show", "--set", "novalue"], "--set takes KEY=VALUE"),
    (["config", "show", "--d", "1000"], "d must be at most v*c_max=32"),
    (["config", "show", "--config", "/nonexistent.toml"], "cannot be read"),
    (["cosim", "--rows", "1"], "--rows must be at least 2"),
    (["cosim", "--in-gap", "1.5"], "--in-gap must be a probability in [0, 1), got 1.5"),
    (["compare", "--preset", "default", "--csv", "/nonexistent/x"],
     "layer conv1 (d=27, m=16) does not fit the PQ engine: m must be an integer from 1 to m_max=8"),
])
def test_errors(args, message):
    rc, out, err = run(*args)
    assert rc == 2
    assert message in err and "Traceback" not in err


def test_bad_flag():
    rc, _, err = run("config", "show", "--bogus")
    assert rc == 2 and "unrecognized arguments" in err


def test_generate(tmp_path, capsys):
    out = tmp_path / "rtl_out" / "x"
    assert main(["generate", "--preset", "default", "--out", str(out), "--name", "eng",
                 "--train-seed", "1", "--n", "256"]) == 0
    assert sorted(os.listdir(out)) == ["eng.manifest.json", "eng.tables.hex", "eng.v"]
    manifest = json.loads((out / "eng.manifest.json").read_text())
    verilog = (out / "eng.v").read_text()
    header = verilog[verilog.index("module eng("):verilog.index(");")]
    for port in manifest["ports"]:
        assert port["name"] in header
        width = port["width"]
        decl = f"{port['dir']}put [{width - 1}:0] {port['name']};" if width > 1 else \
            f"{port['dir']}put {port['name']};"
        assert decl in verilog
    lines = (out / "eng.tables.hex").read_text().splitlines()
    # every prototype (8 subspaces x 16) and entry (8 x 16 x 8), C, M and commit
    assert len(lines) == 8 * 16 + 8 * 16 * 8 + 3


def test_generate_bad_name_leaves_nothing(tmp_path):
    out = tmp_path / "o"
    rc, _, err = run("generate", "--out", str(out), "--name", "1bad")
    assert rc == 2 and "name must be a Verilog identifier" in err
    assert not out.exists() and os.listdir(tmp_path) == []


def test_generate_out_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = run("generate", "--out", str(f))
    assert rc == 2 and "--out must be a directory" in err


def test_terminated_synthesis_leaves_no_folder(tmp_path):
    """SIGTERM during a Yosys run: exit 143, the tool is stopped, no half-written cache entry."""
    cache = tmp_path / "cache"
    env = dict(os.environ, PQACCEL_CACHE=str(cache))
    proc = subprocess.Popen([sys.executable, "-m", "pqaccel", "synth", "--preset", "resnet20-v9k8",
                             "--target", "ecp5", "--json", str(tmp_path / "s.json")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (cache.exists() and any(p.name.startswith(".pqaccel-") for p in cache.iterdir())):
        assert proc.poll() is None and time.time() < deadline, "synthesis never started"
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert list(cache.iterdir()) == [] and not (tmp_path / "s.json").exists()
