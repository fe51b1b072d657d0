"""Hostile input, one test per class: malformed and mistyped files, out-of-range values, missing
and unreadable paths, outputs that cannot be written, API misuse, manifests that do not match.
Each gives one clear message (naming what is wrong), a non-zero exit and no traceback, and
leaves nothing half-written."""

import json
import subprocess
import sys

import numpy as np
import pytest

ONNX = "models/digits_resnet.onnx"


def run(*args, cwd=None):
    proc = subprocess.run(
        [sys.executable, "-m", "pqaccel", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def files(tmp_path):
    (tmp_path / "syntax.toml").write_text("engine = [\n")
    (tmp_path / "syntax.json").write_text('{"engine": {"k": 3')
    (tmp_path / "type.toml").write_text('[engine]\nk = "big"\n')
    (tmp_path / "range.toml").write_text("[engine]\nv = 0\n")
    (tmp_path / "unknown.toml").write_text("[engine]\nkk = 4\n")
    (tmp_path / "folder.toml").mkdir()
    (tmp_path / "text.npy").write_text("not numpy")
    np.save(tmp_path / "float.npy", np.zeros((2, 16, 4)))
    (tmp_path / "garbage.onnx").write_bytes(b"\x00\x01garbage")
    (tmp_path / "plain_file").write_text("x")
    return tmp_path


CASES = [
    # (class, args, words in the one-line message)
    (
        "malformed TOML",
        ["config", "show", "--config", "{d}/syntax.toml"],
        "config file '{d}/syntax.toml' is not valid",
    ),
    (
        "malformed JSON",
        ["config", "show", "--config", "{d}/syntax.json"],
        "config file '{d}/syntax.json' is not valid",
    ),
    (
        "wrong type",
        ["config", "show", "--config", "{d}/type.toml"],
        "k must be an integer, got 'big'",
    ),
    (
        "out of range",
        ["config", "show", "--config", "{d}/range.toml"],
        "v must be an integer from 1 to",
    ),
    (
        "unknown key",
        ["config", "show", "--config", "{d}/unknown.toml"],
        "unknown engine parameter 'kk'",
    ),
    ("missing file", ["config", "show", "--config", "{d}/none.toml"], "cannot be read"),
    (
        "unreadable (a folder)",
        ["config", "show", "--config", "{d}/folder.toml"],
        "cannot be read: Is a directory",
    ),
    (
        "not a NumPy file",
        ["tables", "--protos", "{d}/text.npy", "--lut", "{d}/text.npy", "--out", "{d}/t.hex"],
        "--protos '{d}/text.npy' is not a NumPy .npy/.npz file",
    ),
    (
        "wrong dtype",
        ["tables", "--protos", "{d}/float.npy", "--lut", "{d}/float.npy", "--out", "{d}/t.hex"],
        "protos must be an array of integers, got dtype float64",
    ),
    (
        "not an ONNX file",
        ["net", "convert", "--onnx", "{d}/garbage.onnx", "--dataset", "digits", "--out", "{d}/b"],
        "ONNX file '{d}/garbage.onnx' cannot be read",
    ),
    (
        "not a bundle",
        ["net", "eval", "--bundle", "{d}/folder.toml"],
        "is not a network bundle: network.json is missing",
    ),
    ("output under a file", ["generate", "--out", "{d}/plain_file/sub"], "is a file, not a folder"),
    (
        "read-only output folder",
        ["generate", "--out", "/sys/pqaccel-out"],
        "--out '/sys/pqaccel-out' cannot be written",
    ),
    ("output is a folder", ["cosim", "--json", "{d}"], "--json must be a file, got the folder"),
    (
        "bad list value",
        ["net", "sweep", "--onnx", ONNX, "--dataset", "digits", "--v", "x", "--out", "{d}/s"],
        "--v takes comma-separated integers, got 'x'",
    ),
    (
        "negative count",
        ["net", "run", "--bundle", "{d}", "--images", "0"],
        "--images: must be an integer >= 1, got 0",
    ),
    (
        "zero bandwidth",
        ["compare", "--load-bits", "0"],
        "--load-bits: must be an integer >= 1, got 0",
    ),
    ("negative clock", ["pnr", "--freq", "-5"], "--freq: must be a number above 0, got -5"),
    ("clock not a number", ["compare", "--freq", "fast"], "--freq: must be a number, got 'fast'"),
    (
        "engine cannot run a network",
        [
            "net",
            "convert",
            "--onnx",
            ONNX,
            "--dataset",
            "digits",
            "--preset",
            "default",
            "--out",
            "{d}/b2",
        ],
        "this engine cannot run a network: it lacks requant.runtime=true",
    ),
    (
        "layer does not fit",
        [
            "net",
            "convert",
            "--onnx",
            ONNX,
            "--dataset",
            "digits",
            "--preset",
            "net-v9k16",
            "--set",
            "par.m_par=8",
            "--set",
            "m_max=8",
            "--out",
            "{d}/b2",
        ],
        "does not fit the engine: m must be an integer from 1 to m_max=8",
    ),
]


@pytest.mark.parametrize("what, args, words", CASES, ids=[c[0] for c in CASES])
def test_hostile_cli_input(files, what, args, words):
    before = sorted(p.name for p in files.iterdir())
    rc, _, err = run(
        *[a.format(d=files) for a in args],
        cwd=str(__import__("pathlib").Path(__file__).parent.parent),
    )
    assert rc == 2, err
    assert words.format(d=files) in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()[-1]) > 0
    assert sorted(p.name for p in files.iterdir()) == before  # nothing written, nothing removed


def test_hostile_api_input():
    """The Python API names the array, what it must be and what it got."""
    from pqaccel.engines.pq import model
    from pqaccel.config import LayerConfig
    from pqaccel.presets import preset
    from pqaccel.engines.mac.config import MacConfig
    from pqaccel.engines.mac.model import mac_forward

    cfg = preset("default")
    layer = LayerConfig(d=8, m=2, n=3)
    protos, lut = model.random_tables(cfg, layer, np.random.default_rng(0))
    x = model.random_inputs(cfg, layer, np.random.default_rng(1))
    with pytest.raises(TypeError, match="x must be an array of integers, got dtype float32"):
        model.forward(cfg, x.astype(np.float32) + 0.5, protos, lut)  # noqa
    with pytest.raises(ValueError, match="x must be"):
        model.forward(cfg, x[0], protos, lut)
    with pytest.raises(ValueError, match=r"x must hold 8-bit signed integers in \[-128, 127\]"):
        model.forward(cfg, x + 1000, protos, lut)
    with pytest.raises(ValueError, match=r"w must hold 8-bit signed integers"):
        mac_forward(MacConfig(), np.zeros((2, 3), np.int64), np.full((3, 2), 300, np.int64))


def test_manifest_that_does_not_match_its_engine(tmp_path):
    """A manifest edited after generation (engine changed, address map not) is refused by the
    driver before any stimulus is made."""
    from pqaccel.config import LayerConfig
    from pqaccel.presets import preset
    from pqaccel.jobs import make_job
    from pqaccel.export import generate

    files = generate(preset("default"), tmp_path / "rtl")
    with open(files["manifest"]) as f:
        manifest = json.load(f)
    manifest["engine"]["c_max"] = 16
    with pytest.raises(
        ValueError, match="manifest address map does not match its engine parameters"
    ):
        make_job(manifest, LayerConfig(d=8, m=2, n=2), 0)
    manifest["kind"] = "fft"
    with pytest.raises(ValueError, match="manifest kind must be one of"):
        make_job(manifest, LayerConfig(d=8, m=2, n=2), 0)
