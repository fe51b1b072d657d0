"""Output folders and files: pqaccel never deletes or overwrites what it did not write, checks
output paths before any work, and leaves nothing half-written."""

import json
import os
import stat

from pathlib import Path

import pytest

from pqaccel.cli import main
from pqaccel.export import generate
from pqaccel.fsutil import (
    OutputError,
    check_output_dir,
    check_output_file,
    staged_files,
    write_text_atomic,
)
from pqaccel.presets import preset


def tree(path):
    out = {}
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            p = os.path.join(root, n)
            out[os.path.relpath(p, path)] = None if os.path.isdir(p) else Path(p).read_bytes()
    return out


def test_generate_into_a_users_folder_keeps_their_files(tmp_path, monkeypatch):
    user = tmp_path / "z"
    (user / "sub").mkdir(parents=True)
    (user / "keep.txt").write_text("mine")
    (user / "sub" / "deep.txt").write_text("also mine")
    user.chmod(0o755)
    monkeypatch.chdir(user)
    assert main(["generate", "--out", "."]) == 0
    assert (user / "keep.txt").read_text() == "mine"
    assert (user / "sub" / "deep.txt").read_text() == "also mine"
    assert sorted(os.listdir(user)) == [
        "keep.txt",
        "pq_engine.core",
        "pq_engine.manifest.json",
        "pq_engine.v",
        "sub",
    ]
    assert stat.S_IMODE(user.stat().st_mode) == 0o755


def test_regenerate_replaces_only_its_own_files(tmp_path):
    out = tmp_path / "o"
    generate(preset("default"), out, name="eng")
    (out / "notes.md").write_text("n")
    from pqaccel.engines.pq import model
    import numpy as np

    cfg = preset("default")
    rng = np.random.default_rng(0)
    tables = model.train(cfg, rng.normal(size=(64, 32)), rng.normal(size=(32, 8)))
    generate(cfg, out, name="eng", tables=tables)
    assert sorted(os.listdir(out)) == [
        "eng.core",
        "eng.manifest.json",
        "eng.tables.hex",
        "eng.v",
        "notes.md",
    ]
    # a run without tables removes the stale tables file it wrote before, nothing else
    generate(cfg, out, name="eng")
    assert sorted(os.listdir(out)) == ["eng.core", "eng.manifest.json", "eng.v", "notes.md"]
    assert json.loads((out / "eng.manifest.json").read_text())["files"]["verilog"] == "eng.v"


def test_generate_refuses_to_overwrite_a_foreign_file(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "pq_engine.v").write_text("// my own hand-written module\n")
    before = tree(out)
    with pytest.raises(OutputError, match=r"pq_engine\.v' exists and was not written by pqaccel"):
        generate(preset("default"), out)
    assert tree(out) == before
    rc = main(["generate", "--out", str(out)])
    assert rc == 2 and tree(out) == before


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", r"^--out must name a folder, got ''$"),
        ("/proc/x", r"^--out '/proc/x' cannot be written: no file can be created in '/proc'"),
    ],
)
def test_check_output_dir(bad, message):
    with pytest.raises(OutputError, match=message):
        check_output_dir(bad)


def test_check_output_dir_under_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match=r"cannot be created: .*file' is a file, not a folder$"):
        check_output_dir(str(f / "sub"))


def test_check_output_file(tmp_path):
    with pytest.raises(OutputError, match=r"^--json must be a file, got the folder "):
        check_output_file(str(tmp_path))
    with pytest.raises(OutputError, match=r"^--json '/proc/d/r.json' cannot be written"):
        check_output_file("/proc/d/r.json")
    check_output_file(str(tmp_path / "new" / "r.json"))  # a folder to be created is fine
    assert not (tmp_path / "new").exists()  # and nothing was created


def test_staged_files_leave_nothing_on_failure(tmp_path):
    dest = tmp_path / "a" / "b"
    with pytest.raises(KeyboardInterrupt):
        with staged_files(dest, ["x.v"]) as tmp:
            Path(tmp, "x.v").write_text("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []  # the folders it created are gone too
    existing = tmp_path / "e"
    existing.mkdir()
    (existing / "keep").write_text("k")
    with pytest.raises(RuntimeError):
        with staged_files(existing, ["x.v"]) as tmp:
            Path(tmp, "x.v").write_text("half")
            raise RuntimeError("tool failed")
    assert os.listdir(existing) == ["keep"]


def test_write_text_atomic(tmp_path):
    p = tmp_path / "d" / "r.json"
    write_text_atomic(str(p), "{}")
    assert p.read_text() == "{}" and os.listdir(p.parent) == ["r.json"]
