"""Regressions of an outside check: a wheel that could not run, tracebacks on damaged bundles,
lenient or misleading options.  Each case fails on the code before its fix."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from pqaccel.cli import main

ROOT = Path(__file__).parent.parent
DIGITS = str(ROOT / "models" / "digits_resnet.onnx")


def run(*args):
    proc = subprocess.run(
        [sys.executable, "-m", "pqaccel", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )
    return proc.returncode, proc.stdout, proc.stderr


# -- packaging ----------------------------------------------------------------------------------


def test_every_package_goes_into_the_wheel():
    """The wheel takes every package below pqaccel/ (found, not listed by hand)."""
    from setuptools import find_namespace_packages

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert isinstance(cfg["packages"], dict), "packages listed by hand: one can be forgotten"
    found = set(find_namespace_packages(str(ROOT), **cfg["packages"]["find"]))
    on_disk = {
        str(p.parent.relative_to(ROOT)).replace(os.sep, ".")
        for p in (ROOT / "pqaccel").rglob("__init__.py")
    }
    assert on_disk and on_disk <= found, sorted(on_disk - found)


def test_test_tools_are_not_runtime_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    for tool in ("pytest", "hypothesis", "fusesoc", "cocotbext-axi"):
        assert tool not in runtime
        assert any(d.startswith(tool) for d in project["optional-dependencies"]["test"])


def test_host_side_imports_no_hdl():
    """A lab PC that only talks to a board needs no Amaranth: the host driver and the frame
    constants are pure Python."""
    code = (
        "import sys, pqaccel.host, pqaccel.board.frames; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_frame_constants_are_the_links():
    from pqaccel.board import frames, link

    assert link.OPCODES is frames.OPCODES and link.STATUS_BYTES == frames.STATUS_BYTES


# -- damaged bundles ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "b"
    assert (
        main(
            [
                "net",
                "convert",
                "--onnx",
                DIGITS,
                "--dataset",
                "digits",
                "--keep",
                "first,last",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def _npz(d, edit):
    a = dict(np.load(d / "arrays.npz"))
    edit(a)
    np.savez(d / "arrays.npz", **a)


def _first(a, suffix):
    return next(k for k in a if k.endswith(suffix))


def _json(d, edit):
    doc = json.loads((d / "network.json").read_text())
    edit(doc)
    (d / "network.json").write_text(json.dumps(doc))


DAMAGE = {
    "truncated arrays": (
        lambda d: (d / "arrays.npz").write_bytes((d / "arrays.npz").read_bytes()[:3000]),
        "arrays.npz is damaged or truncated",
    ),
    "random bytes": (
        lambda d: (d / "arrays.npz").write_bytes(np.random.default_rng(0).bytes(4000)),
        "arrays.npz is not a bundle array file",
    ),
    "a pickle": (
        lambda d: (d / "arrays.npz").write_bytes(b"\x80\x04\x95" + bytes(100)),
        "arrays.npz is not a bundle array file",
    ),
    "array missing": (
        lambda d: _npz(d, lambda a: a.pop(_first(a, "/lut"))),
        "arrays.npz has no array 's1.conv1/lut'",
    ),
    "wrong shape": (
        lambda d: _npz(d, lambda a: a.update({_first(a, "/lut"): a[_first(a, "/lut")][:, :3]})),
        "array 's1.conv1/lut' has shape (16, 3, 16), the network needs (16, 16, 16)",
    ),
    "out of range": (
        lambda d: _npz(
            d, lambda a: a.update({_first(a, "/protos"): a[_first(a, "/protos")] + 900})
        ),
        "outside the 8-bit range -127..127 of the engine",
    ),
    "float tables": (
        lambda d: _npz(d, lambda a: a.update({_first(a, "/lut"): a[_first(a, "/lut")] + 0.5})),
        "array 's1.conv1/lut' must hold integers, got float64",
    ),
    "unknown op kind": (
        lambda d: _json(d, lambda j: j["ops"][1].update(kind="softmax")),
        "has unknown kind 'softmax'; known: conv, gemm",
    ),
    "dangling tensor": (
        lambda d: _json(d, lambda j: j["ops"][2].update(inputs=["nowhere"])),
        "reads tensor 'nowhere' that nothing writes",
    ),
    "binary network.json": (
        lambda d: (d / "network.json").write_bytes(b"\xff\xfe\x00garbage"),
        "network.json is not UTF-8 JSON text",
    ),
}


@pytest.mark.parametrize("what", list(DAMAGE))
def test_damaged_bundle_is_refused_before_any_work(bundle, tmp_path, what, capsys):
    damage, words = DAMAGE[what]
    d = tmp_path / "b"
    shutil.copytree(bundle, d)
    damage(d)
    for command in ("eval", "run"):
        rc = main(["net", command, "--bundle", str(d)])
        err = capsys.readouterr().err
        assert rc == 2 and words in err, err
        assert (
            err.startswith(f"pqaccel: error: network bundle '{d}'") and len(err.splitlines()) == 1
        ), err


def test_bundle_on_data_of_another_shape(bundle):
    rc, _, err = run("net", "eval", "--bundle", bundle, "--dataset", "cifar-shapes")
    assert (
        rc == 2
        and "takes inputs of shape (1, 8, 8), but dataset 'cifar-shapes' has images of shape" in err
    )


def test_bundle_keeps_the_float_tables_of_the_refit(tmp_path, capsys):
    """With --refit, "PQ float" uses the refit tables: it is close to the PQ integer accuracy
    (before, it used prototypes x weights and fell 55 points below)."""
    out = tmp_path / "r"
    assert (
        main(
            [
                "net",
                "convert",
                "--onnx",
                DIGITS,
                "--dataset",
                "digits",
                "--keep",
                "first,last",
                "--refit",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert main(["net", "eval", "--bundle", str(out), "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert abs(r["pq_float"] - r["pq_int"]) < 0.05, r
    # the int8 MAC row is an int8 network even for a bundle of narrower widths
    out6 = tmp_path / "six"
    assert (
        main(
            [
                "net",
                "convert",
                "--onnx",
                DIGITS,
                "--dataset",
                "digits",
                "--keep",
                "first,last",
                "--preset",
                "net-v3k32-6bit",
                "--out",
                str(out6),
            ]
        )
        == 0
    )
    assert main(["net", "eval", "--bundle", str(out6), "--json", str(tmp_path / "six.json")]) == 0
    assert json.loads((tmp_path / "six.json").read_text())["int8_mac"] == r["int8_mac"]


# -- options --------------------------------------------------------------------------------------

OPTION_CASES = [
    (
        ["net", "sweep", "--onnx", DIGITS, "--dataset", "digits", "--v", "0", "--out", "{d}/s"],
        "--v takes integers >= 1, got 0",
    ),
    (
        [
            "net",
            "convert",
            "--onnx",
            DIGITS,
            "--dataset",
            "digits",
            "--keep",
            "first,,last",
            "--out",
            "{d}/x",
        ],
        "--keep takes comma-separated names without empty entries, got 'first,,last'",
    ),
    (
        ["net", "run", "--bundle", "{d}", "--in-gap", "1.5"],
        "--in-gap: must be a probability in [0, 1), got 1.5",
    ),
    (
        ["net", "run", "--bundle", "{d}", "--out-stall", "nan"],
        "--out-stall: must be a probability in [0, 1), got nan",
    ),
    (
        ["run", "--port", "/dev/null", "--link", "{d}/binary.json", "--timeout", "1"],
        "--link '{d}/binary.json' is not a link file written by 'pqaccel build' (not UTF-8 JSON "
        "text)",
    ),
    (
        ["run", "--port", "/dev/null", "--link", "{d}/binary.json", "--timeout", "-1"],
        "--timeout: must be a number above 0, got -1",
    ),
    (
        ["tables", "--protos", "{d}/other.npz", "--lut", "{d}/other.npz", "--out", "{d}/t.hex"],
        "--protos '{d}/other.npz' has no array named 'protos' (it holds ['codebooks'])",
    ),
    (
        ["generate", "--name", "ëngine", "--out", "{d}/g"],
        "name must be a Verilog identifier (ASCII letters",
    ),
    (
        ["net", "convert", "--onnx", "{d}/empty.onnx", "--dataset", "digits", "--out", "{d}/x"],
        "ONNX file '{d}/empty.onnx' is not an ONNX model",
    ),
    (
        [
            "net",
            "convert",
            "--onnx",
            DIGITS,
            "--dataset",
            "digits",
            "--preset",
            "default",
            "--out",
            "{d}/x",
        ],
        "network presets: net-v9k16, resnet20-v9k8-net",
    ),
]


@pytest.mark.parametrize(
    "args, words", OPTION_CASES, ids=[" ".join(c[0][:2]) + " " + c[1][:20] for c in OPTION_CASES]
)
def test_bad_option_is_one_message(tmp_path, args, words):
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    np.savez(tmp_path / "other.npz", codebooks=np.zeros((2, 16, 4), np.int64))
    (tmp_path / "empty.onnx").write_bytes(b"")
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, _, err = run(*[a.format(d=tmp_path) for a in args])
    assert rc == 2 and words.format(d=tmp_path) in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_set_overrides_are_validated_together(capsys):
    for order in (
        ["--set", "c_max=1", "--set", "par.c_par=1"],
        ["--set", "par.c_par=1", "--set", "c_max=1"],
    ):
        assert main(["config", "show", "--preset", "default", *order, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["engine"]["c_max"] == 1 and doc["engine"]["par"]["c_par"] == 1


def test_convert_help_states_its_real_default():
    rc, out, _ = run("net", "convert", "--help")
    assert rc == 0 and "(default: net-v9k16)" in " ".join(out.split())


def test_json_report_gets_the_users_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["net", "resnet20", "--out", str(tmp_path / "r.onnx")]) == 0
        from pqaccel.fsutil import write_text_atomic

        write_text_atomic(str(tmp_path / "r.json"), "{}")
    finally:
        os.umask(old)
    for name in ("r.onnx", "r.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_unlabelled_data_reports_no_accuracy(tmp_path, capsys):
    out = tmp_path / "r20"
    assert main(["net", "resnet20", "--out", str(tmp_path / "r.onnx")]) == 0
    assert (
        main(
            [
                "net",
                "convert",
                "--onnx",
                str(tmp_path / "r.onnx"),
                "--dataset",
                "cifar-shapes",
                "--preset",
                "resnet20-v9k8-net",
                "--mac-only",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["net", "eval", "--bundle", str(out)]) == 0
    text = capsys.readouterr().out
    assert "random labels" in text and " %" not in text.split("per-layer")[0]


def test_design_no_device_holds_is_refused_before_elaboration():
    """c_max=1024, m_max=4096 at full parallelism ran out of minutes and gigabytes before; now the
    capacity bound refuses it at once, naming both figures, while every preset passes."""
    from pqaccel.capacity import check_capacity, lower_bound
    from pqaccel.presets import PRESETS
    from pqaccel.engines.mac.config import MacConfig

    rc, _, err = run(
        "generate",
        "--preset",
        "resnet20-v9k8",
        "--set",
        "c_max=1024",
        "--set",
        "m_max=4096",
        "--set",
        "par.c_par=1024",
        "--set",
        "par.m_par=4096",
        "--out",
        "/nonexistent/never",
    )
    assert rc == 2 and "fits no supported device: its memories hold 513.1 Mbit" in err
    assert "its datapath needs at least" in err
    for cfg in PRESETS.values():
        for c in (cfg, MacConfig.for_engine(cfg)):
            check_capacity(c)
            assert lower_bound(c)["memory_bits"] == sum(
                m["count"] * m["depth"] * m["width"] for m in c.memories().values()
            )
