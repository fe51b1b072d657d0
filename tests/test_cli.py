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


@pytest.mark.parametrize(
    "args, message",
    [
        (["config", "show", "--preset", "nope"], "preset must be one of"),
        (["config", "show", "--set", "par.k_par=3"], "k_par must divide k=16"),
        (
            ["config", "show", "--set", "widths.in_bits=20"],
            "in_bits must be an integer from 2 to 16, got 20",
        ),
        (["config", "show", "--set", "novalue"], "--set takes KEY=VALUE"),
        (["config", "show", "--d", "1000"], "d must be at most v*c_max=32"),
        (["config", "show", "--config", "/nonexistent.toml"], "cannot be read"),
        (["cosim", "--rows", "1"], "argument --rows: must be an integer from 2 to 100000, got 1"),
        (["cosim", "--in-gap", "1.5"], "--in-gap: must be a probability in [0, 1), got 1.5"),
        (
            ["compare", "--preset", "default", "--csv", "/nonexistent/x"],
            "layer conv1 (d=27, m=16) does not fit the PQ engine: m must be an integer from 1 to "
            "m_max=8",
        ),
    ],
)
def test_errors(args, message):
    rc, out, err = run(*args)
    assert rc == 2
    assert message in err and "Traceback" not in err


def test_bad_flag():
    rc, _, err = run("config", "show", "--bogus")
    assert rc == 2 and "unrecognized arguments" in err


def test_generate(tmp_path, capsys):
    out = tmp_path / "rtl_out" / "x"
    assert (
        main(
            [
                "generate",
                "--preset",
                "default",
                "--out",
                str(out),
                "--name",
                "eng",
                "--train-seed",
                "1",
                "--n",
                "256",
            ]
        )
        == 0
    )
    assert sorted(os.listdir(out)) == ["eng.core", "eng.manifest.json", "eng.tables.hex", "eng.v"]
    manifest = json.loads((out / "eng.manifest.json").read_text())
    verilog = (out / "eng.v").read_text()
    header = verilog[verilog.index("module eng(") : verilog.index(");")]
    for port in manifest["ports"]:
        assert port["name"] in header
        width = port["width"]
        decl = (
            f"{port['dir']}put [{width - 1}:0] {port['name']};"
            if width > 1
            else f"{port['dir']}put {port['name']};"
        )
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
    assert rc == 2 and "--out must be a folder, got the file" in err


def test_terminated_synthesis_leaves_no_folder(tmp_path):
    """SIGTERM during a Yosys run: exit 143, the tool is stopped, no half-written cache entry."""
    cache = tmp_path / "cache"
    env = dict(os.environ, PQACCEL_CACHE=str(cache))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pqaccel",
            "synth",
            "--preset",
            "resnet20-v9k8",
            "--target",
            "ecp5",
            "--json",
            str(tmp_path / "s.json"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 300  # generous: the machine may be busy
    while not (cache.exists() and any(p.name.startswith(".pqaccel-") for p in cache.iterdir())):
        assert proc.poll() is None and time.time() < deadline, "synthesis never started"
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert list(cache.iterdir()) == [] and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "--out", ""], "--out must name a folder, got ''"),
        (["generate", "--out", "/proc/x"], "--out '/proc/x' cannot be written"),
        (["cosim", "--json", "/proc/d/r.json"], "--json '/proc/d/r.json' cannot be written"),
        (["cosim", "--seed", "-1"], "argument --seed: must be a non-negative integer, got -1"),
        (
            ["cosim", "--rows", "1000000000"],
            "argument --rows: must be an integer from 2 to 100000, got 1000000000",
        ),
        (
            ["cosim", "--rows", "99999999999999999999"],
            "argument --rows: must be an integer from 2 to 100000",
        ),
        (
            ["cosim", "--waves", "w.vcd"],
            "--waves must end in '.fst': icarus writes FST waveforms, got 'w.vcd'",
        ),
        (
            ["model", "--n", "1"],
            "--n must be at least 2*k=32 (half the rows train k=16 prototypes per subspace, "
            "half are held out), got 1",
        ),
        (
            ["generate", "--out", "x", "--train-seed", "-1"],
            "argument --train-seed: must be a non-negative integer, got -1",
        ),
    ],
)
def test_user_errors_are_messages(args, message):
    rc, out, err = run(*args)
    assert rc == 2, err
    assert message in err and "Traceback" not in err


def test_out_under_a_file_and_json_folder(tmp_path):
    f = tmp_path / "existing_file"
    f.write_text("x")
    rc, _, err = run("generate", "--out", str(f / "sub"))
    assert rc == 2 and "is a file, not a folder" in err and "Traceback" not in err
    rc, _, err = run("cosim", "--json", str(tmp_path))
    assert rc == 2 and "--json must be a file, got the folder" in err


@pytest.mark.parametrize(
    "doc, message",
    [
        (
            {"engine": [1, 2]},
            "engine in '{path}' must be a table/object of engine parameters, got [1, 2]",
        ),
        ([1, 2], "must hold a table/object with 'engine' and optionally 'layer', got [1, 2]"),
        (
            {"engine": {}, "layer": {"m": 2}},
            "layer must be a table with keys 'd', 'm' and optionally 'n'",
        ),
    ],
)
def test_config_file_shape_errors(tmp_path, doc, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    rc, _, err = run("config", "show", "--config", str(path))
    assert rc == 2 and message.format(path=path) in err and "Traceback" not in err


@pytest.mark.parametrize(
    "sig, code, word",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")],
)
def test_signal_during_cosim(tmp_path, sig, code, word):
    """Ctrl-C or SIGTERM while the simulator runs: one line, 130 / 143, no temporary folder left,
    the --json file not written, the simulator stopped."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    result = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pqaccel", "cosim", "--rows", "30000", "--json", str(result)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300  # generous: the machine may be busy
    while not any((p / "build" / "sim.vvp").exists() for p in tmp_path.glob("pqaccel-cosim-*")):
        assert proc.poll() is None and time.time() < deadline, "the simulation never started"
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running 60 s after the signal; stderr: {err[-2000:]}")
    assert proc.returncode == code, err
    assert word in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_tables_command(tmp_path):
    import numpy as np
    from pqaccel.engines.pq.addrmap import PQAddressMap
    from pqaccel.presets import preset

    cfg = preset("default")
    rng = np.random.default_rng(3)
    protos = rng.integers(-128, 128, size=(5, 16, 4))
    lut = rng.integers(-128, 128, size=(5, 16, 7))
    np.save(tmp_path / "p.npy", protos)
    np.savez(tmp_path / "l.npz", lut=lut)
    out = tmp_path / "t.hex"
    rc, stdout, err = run(
        "tables",
        "--protos",
        str(tmp_path / "p.npy"),
        "--lut",
        str(tmp_path / "l.npz"),
        "--out",
        str(out),
    )
    assert rc == 0, err
    got = [tuple(int(t, 16) for t in line.split()) for line in out.read_text().splitlines()]
    assert got == PQAddressMap(cfg).table_writes(protos, lut)
    # the codebook word packing the manifest documents: element i at bit i*proto_bits
    amap = PQAddressMap(cfg).to_dict()
    fmt = amap["data_formats"]["codebook"]
    word = got[2][1]
    pb = fmt["element_bits"]
    elems = [((word >> (i * pb)) & ((1 << pb) - 1)) for i in range(fmt["elements"])]
    elems = [e - (1 << pb) if e >> (pb - 1) else e for e in elems]
    assert elems == protos[0, 0].tolist()


@pytest.mark.parametrize(
    "protos, lut, message",
    [
        ("float", "ok", "protos must be an array of integers, got dtype float64"),
        ("ok", "wide", "lut must hold 8-bit signed integers in [-128, 127], got values in"),
        ("shape", "ok", "protos must have shape (C, k, v) = (1..8, 16, 4), got (5, 16, 3)"),
        ("missing", "ok", "--protos '{tmp}/missing.npy' cannot be read: No such file or directory"),
    ],
)
def test_tables_command_errors(tmp_path, protos, lut, message):
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {
        "ok": rng.integers(-128, 128, size=(5, 16, 4)),
        "float": rng.normal(size=(5, 16, 4)),
        "shape": rng.integers(-128, 128, size=(5, 16, 3)),
    }
    luts = {
        "ok": rng.integers(-128, 128, size=(5, 16, 7)),
        "wide": rng.integers(-300, 300, size=(5, 16, 7)),
    }
    if protos != "missing":
        np.save(tmp_path / "p.npy", arrays[protos])
    np.save(tmp_path / "l.npy", luts[lut])
    ppath = tmp_path / ("missing.npy" if protos == "missing" else "p.npy")
    rc, _, err = run(
        "tables",
        "--protos",
        str(ppath),
        "--lut",
        str(tmp_path / "l.npy"),
        "--out",
        str(tmp_path / "t.hex"),
    )
    assert rc == 2 and message.format(tmp=tmp_path) in err and "Traceback" not in err
    assert not (tmp_path / "t.hex").exists()


def test_cosim_prints_mismatches_and_writes_waves(tmp_path, monkeypatch, capsys):
    """An engine that disagrees with its model (the manifest claims shift 3, the Verilog does
    shift 2) is reported row by row, exit 1, and the waveform is written for the user to open."""
    import pqaccel.export as export

    real = export.generate

    def wrong_manifest(cfg, out_dir, **kw):
        files = real(cfg, out_dir, **kw)
        with open(files["manifest"]) as f:
            doc = json.load(f)
        doc["engine"]["requant"]["shift"] = 3
        with open(files["manifest"], "w") as f:
            json.dump(doc, f)
        return files

    monkeypatch.setattr(export, "generate", wrong_manifest)
    waves = tmp_path / "w.fst"
    rc = main(["cosim", "--rows", "4", "--waves", str(waves)])
    out = capsys.readouterr().out
    assert rc == 1
    assert re.search(r"mismatch: row \d+ output \d+: got -?\d+, expected -?\d+", out)
    assert waves.exists() and waves.stat().st_size > 1000


def test_generate_the_mac_baseline(tmp_path, capsys):
    out = tmp_path / "mac"
    assert (
        main(
            [
                "generate",
                "--preset",
                "resnet20-v9k8-net",
                "--design",
                "mac",
                "--mac-mult",
                "lut",
                "--mac-d-par",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = json.loads((out / "pq_engine.manifest.json").read_text())
    assert m["kind"] == "mac" and m["engine"]["mult"] == "lut" and m["engine"]["d_par"] == 3
    assert "lookup" in capsys.readouterr().out
    assert (
        main(["generate", "--design", "mac", "--train-seed", "1", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "--design mac" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
