"""pqaccel dse: space files, a tiny sweep on a 2-worker LocalCluster, the cache, resume, lost
workers."""

import json
import os
from pathlib import Path

import pytest

from pqaccel import dse, estimate
from pqaccel.cli import main
from pqaccel.net import perf

ROOT = Path(__file__).resolve().parent.parent
DIGITS = str(ROOT / "models" / "digits_resnet.onnx")


def _space(tmp_path, text):
    p = tmp_path / "space.toml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize(
    "text,match",
    [
        ("[pq]\ncpar = [2]\n", r"unknown axis pq\.cpar; \[pq\] takes metric, v, k"),
        ("[hw]\nc_par = [2]\n", r"unknown section \[hw\]"),
        ("[pq]\nc_par = []\n", r"pq\.c_par is empty"),
        ("[pq]\nk = [8]\nk_par = [16]\n", r"pq\.k_par = 16 with pq\.k = 8: k_par must divide k"),
        ("[pq]\nmetric = ['cosine']\n", r"pq\.metric must be among l1, l2"),
        ("[mac]\nmult = ['fpga']\n", r"mac\.mult must be among dsp, lut"),
        (
            "[accuracy]\nmethod = 'magic'\n",
            r"accuracy\.method must be one of kmeans, refit, finetune",
        ),
        ("[flow]\ntarget = 'xilinx'\n", r"flow\.target must be one of .*ecp5"),
        ("[pq]\nc_par = [0]\n", r"pq\.c_par takes integers >= 1, got 0"),
        ("[pq\n", r"is not valid TOML"),
    ],
)
def test_bad_space_files_name_the_entry(tmp_path, text, match):
    path = _space(tmp_path, text)
    with pytest.raises(ValueError, match=match) as e:
        dse.load_space(path)
    assert path in str(e.value)


def test_invalid_combination_found_before_any_task(tmp_path, capsys):
    # c_par larger than the widest layer's subspaces is clamped; k_par=3 divides no k -> refused
    path = _space(tmp_path, "[pq]\nk = [8, 16]\nk_par = [3]\n")
    assert (
        main(
            [
                "dse",
                "--onnx",
                DIGITS,
                "--dataset",
                "digits",
                "--space",
                path,
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "pq.k_par = 3 with pq.k = 8" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_pareto_front_and_headline():
    pts = [
        {"ratio_b1": 1.0, "accuracy": 0.90},
        {"ratio_b1": 2.0, "accuracy": 0.95},
        {"ratio_b1": 3.0, "accuracy": 0.80},
        {"ratio_b1": 1.5, "accuracy": 0.85},
    ]
    assert dse.pareto_front(pts) == [1, 2]
    assert dse.headline(pts, 0.96, 1.0, 1) is pts[1]  # 0.95 is within 1 point of 0.96
    assert dse.headline(pts, 0.97, 1.0, 1) is None


SPACE = """
[pq]
c_par = [2, 4]
m_par = [16]
[mac]
mult = ["dsp"]
[accuracy]
method = "kmeans"
"""


def test_tiny_sweep_on_two_workers(tmp_path, capsys):
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    args = [
        "dse",
        "--onnx",
        DIGITS,
        "--dataset",
        "digits",
        "--space",
        _space(tmp_path, SPACE),
        "--k",
        "8,16",
        "--v",
        "3",
        "--bits",
        "8",
        "--keep",
        "first,last",
        "--workers",
        "2",
        "--no-synth",
        "--cache",
        str(cache),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    r = json.loads((out / "dse.json").read_text())
    assert len(r["points"]) == 2 * 2  # 2 K x 2 c_par x 1 MAC
    assert {f for f in os.listdir(out)} == {"dse.csv", "dse.json", "dse.png", "dse-area.png"}
    assert len(list(cache.glob("*.json"))) == 3  # the baseline and 2 accuracy tasks
    # every point's ratio is (MAC cycles x MAC area) / (PQ cycles x PQ area), with the estimate's
    # areas
    from pqaccel.engines.pq.config import engine_from_dict
    from pqaccel.engines.mac.config import MacConfig

    for p in r["points"]:
        eng = engine_from_dict(p["engine"])
        assert p["area"] == pytest.approx(estimate.estimate(eng, "ecp5")["area"])
        assert p["mac_area"] == pytest.approx(
            estimate.estimate(MacConfig.from_dict(p["mac_engine"]), "ecp5")["area"]
        )
        for b in (1, 32):
            assert p[f"ratio_b{b}"] == pytest.approx(
                p[f"mac_cycles_b{b}"] * p["mac_area"] / (p[f"cycles_b{b}"] * p["area"])
            )
        assert 0.0 <= p["accuracy"] <= 1.0
        assert perf.word_bits(eng) > 0
    # the same K gives the same accuracy whatever the parallelism (one accuracy task)
    by_k = {}
    for p in r["points"]:
        by_k.setdefault(p["k"], set()).add(p["accuracy"])
    assert all(len(v) == 1 for v in by_k.values())
    # a point with more table banks has fewer cycles
    p2, p4 = sorted([p for p in r["points"] if p["k"] == 16], key=lambda p: p["c_par"])
    assert p4["cycles_b1"] < p2["cycles_b1"] and p4["area"] > p2["area"]
    front = r["front"]["9x16 dsp"]
    assert front and all("front" in r["points"][i] for i in front)
    assert "HEADLINE batch 1" in text or "no point within 1 point" in text
    # a rerun recomputes nothing: every task comes from the cache, no cluster is started
    out2 = tmp_path / "out2"
    assert main(args[:-1] + [str(out2)]) == 0
    assert "3 of 3 tasks from the cache" in capsys.readouterr().out
    assert json.loads((out2 / "dse.json").read_text())["points"] == r["points"]


def _ok(x):
    return {"value": x}


def _fails_on(x, bad):
    if x == bad:
        raise ValueError(f"point {x} is broken")
    return {"value": x}


def _dies_once(x, marker):
    """The first attempt of point 0 kills its worker process (as a kill -9 would)."""
    if x == 0 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return {"value": x, "pid": os.getpid()}


@pytest.fixture(scope="module")
def client():
    c, cluster = dse.make_client(workers=2)
    yield c
    c.close()
    cluster.close()


def test_failed_task_keeps_finished_ones_and_resume_runs_only_it(tmp_path, client):
    cache = dse.Cache(str(tmp_path / "c"))
    tasks = {f"k{i}": (f"point {i}", _fails_on, (i, 2)) for i in range(4)}
    with pytest.raises(
        RuntimeError, match=r"(?s)1 of 4 tasks failed .*point 2: ValueError: point 2 is broken"
    ):
        dse.run_tasks(tasks, cache, client=client, log=lambda s: None)
    assert sorted(os.listdir(cache.folder)) == ["k0.json", "k1.json", "k3.json"]
    # resume: the finished points come from the cache, only the failed one runs again
    logs = []
    tasks["k2"] = ("point 2", _ok, (2,))
    res = dse.run_tasks(tasks, cache, client=client, log=logs.append)
    assert logs == ["  3 of 4 tasks from the cache"]
    assert [res[f"k{i}"]["value"] for i in range(4)] == [0, 1, 2, 3]


def _fake_synth(kind, cfg, target):
    return {"resources": {"lut": 100 if kind == "pq" else 300}, "yosys_s": 0.0}


def test_front_synthesis_reruns_when_the_generator_changes(tmp_path, client, monkeypatch):
    """A front point's synthesis comes from the cache while the generator (the package's
    source, the tools) is unchanged, and runs again once it changes: keyed by the engine alone,
    a rerun after an RTL change printed the old RTL's areas."""
    from types import SimpleNamespace

    monkeypatch.setattr(dse, "synth_task", _fake_synth)
    cache = dse.Cache(str(tmp_path / "c"))
    space = SimpleNamespace(target="ecp5", batches=(1,))

    def sweep():
        point = {
            "engine_kind": "pq",
            "engine": {"v": 9},
            "mac_engine_kind": "mac",
            "mac_engine": {"d_par": 9},
            "cycles_b1": 10,
            "mac_cycles_b1": 30,
        }
        out = {"front": {"9x16 dsp": [0]}, "headline": {"9x16 dsp": {"1": 0}}}
        logs = []
        dse.synth_points([point], out, cache, space, client=client, log=logs.append)
        return point["synth"], logs

    synth, logs = sweep()
    assert logs == [] and synth["ratio_b1"] == pytest.approx(30 * 300 / (10 * 100))
    assert sweep()[1] == ["  2 of 2 tasks from the cache"]
    source = dse.hardware_source()
    assert len(source) == 24 and source == dse.hardware_source()
    monkeypatch.setattr(dse, "_HARDWARE_SOURCE", "a changed generator")
    synth, logs = sweep()
    assert logs == [] and synth["ratio_b1"] == pytest.approx(9.0)  # both synthesized again
    assert len(os.listdir(cache.folder)) == 4


def test_hardware_source_follows_the_package_files(tmp_path, monkeypatch):
    """The hash covers the package's .py and .json files: a copy of the package hashes the
    same, and an edited file changes it."""
    import shutil

    pkg = Path(dse.__file__).resolve().parent
    copy = tmp_path / "pqaccel"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))

    def source_of(folder):
        monkeypatch.setattr(dse, "__file__", str(folder / "dse.py"))
        monkeypatch.setattr(dse, "_HARDWARE_SOURCE", None)
        return dse.hardware_source()

    original = source_of(pkg)
    assert source_of(copy) == original
    (copy / "pipeline.py").write_text((copy / "pipeline.py").read_text() + "\n# edited\n")
    assert source_of(copy) != original
    (copy / "notes.txt").write_text("not source")
    (copy / "pipeline.py").write_text((pkg / "pipeline.py").read_text())
    assert source_of(copy) == original


def test_killed_worker_the_sweep_still_completes(tmp_path, client):
    cache = dse.Cache(str(tmp_path / "c"))
    marker = str(tmp_path / "died")
    tasks = {f"w{i}": (f"point {i}", _dies_once, (i, marker)) for i in range(4)}
    res = dse.run_tasks(tasks, cache, client=client, log=lambda s: None)
    assert os.path.exists(marker)  # a worker did die mid-task
    assert sorted(r["value"] for r in res.values()) == [0, 1, 2, 3]
    assert len(os.listdir(cache.folder)) == 4


def test_progress_line():
    import io

    buf = io.StringIO()
    bar = dse.Progress(10, out=buf)
    bar.done, bar.running, bar.failed = 4, 2, 1
    bar.show()
    text = buf.getvalue()
    assert "4/10 done" in text and "2 running" in text and "1 failed" in text and "ETA" in text
    assert dse.Progress(3).out is None  # quiet when stderr is not a terminal


def test_device_fit():
    fits = {"lut": 1000, "carry": 100, "lutram": 10, "bram": 20, "dsp": 0}
    assert dse.device_misfit(fits, "ecp5") == ""
    big = dict(fits, bram=240, dsp=200)
    msg = dse.device_misfit(big, "ecp5")
    assert "240 block RAMs of 208" in msg and "200 DSPs of 156" in msg and "LFE5U-85F" in msg
    assert "LUT4s" in dse.device_misfit(dict(fits, lut=9000), "ice40")
