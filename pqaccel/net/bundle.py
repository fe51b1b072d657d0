"""The PQ network bundle: a converted network in a folder, readable without pqaccel's code.

Format (``format_version`` 1), two files:

``network.json``
    ``engine`` (the PQ engine's parameters, as in ``config show --json``), ``input``
    (``{"tensor", "shape" (without batch), "scale", "bits"}``), ``output`` (tensor name), ``ops``
    (execution order; each ``{"name", "kind", "inputs", "output"}`` plus ``kernel``, ``stride``,
    ``pads``, ``count_include_pad`` for pools and convolutions, ``pads`` for a pad, ``lo`` and
    ``hi`` for a clip), ``layers`` (per conv/gemm:
    ``{"name", "mode": "pq"|"mac", "d", "m", "relu", "shift", "in_scale", "acc_scale",
    "out_scale", "bias_cols"}``), ``adds`` (per residual add: the integer multipliers ``[Ma,
    Mb]`` with ``frac_bits``) and ``scales`` (every tensor's scale: a value ``q`` stands for
    ``q * scale``).  The integer semantics are those of :mod:`pqaccel.net.intmodel`.
``arrays.npz``
    per layer ``<name>/protos`` (``C x k x v``) and ``<name>/lut`` (``C x k x M``) for ``pq``,
    ``<name>/w`` (``D' x M``, the last ``bias_cols`` rows carry the bias) for ``mac``, all
    integers; and the float side for references: ``<name>/protos_f``, ``<name>/lut_f`` (the float
    tables the integer ones were quantized from, after the refit; optional), ``<name>/w_float`` (the
    ``conv``/``gemm`` weights as imported, BatchNorm folded) and ``<name>/b_float``.
"""

import io
import json
import os

import numpy as np

from ..engines import ENGINES
from ..engines.pq.config import EngineConfig, engine_from_dict
from ..fsutil import staged_files
from .graph import Network, Op
from .layer import EngineLayer
from .intmodel import ADD_FRAC_BITS, QuantNetwork

__all__ = ["FORMAT_VERSION", "BundleError", "save_bundle", "load_bundle", "BUNDLE_FILES"]

FORMAT_VERSION = 1
BUNDLE_FILES = ("network.json", "arrays.npz")
_OP_FIELDS = ("kernel", "stride", "pads", "count_include_pad", "lo", "hi")


def _previous(out_dir):
    path = os.path.join(out_dir, "network.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return set()
    return (
        set(BUNDLE_FILES)
        if isinstance(doc, dict) and doc.get("format") == "pqaccel-network"
        else set()
    )


def save_bundle(qn: QuantNetwork, out_dir, meta=None):
    """Write ``qn`` into ``out_dir`` (other files there are kept; a bundle written earlier is
    replaced).  Returns the paths written."""
    net = qn.net
    ops = []
    for op in net.ops:
        d = {"name": op.name, "kind": op.kind, "inputs": list(op.inputs), "output": op.output}
        if op.kind in ("conv", "maxpool", "avgpool"):
            d.update({"stride": list(op.stride), "pads": list(op.pads)})
        if op.kind == "pad":
            d["pads"] = list(op.pads)
        if op.kind == "clip":
            d.update({"lo": op.lo, "hi": op.hi})
        if op.kind in ("maxpool", "avgpool"):
            d.update({"kernel": list(op.kernel), "count_include_pad": op.count_include_pad})
        ops.append(d)
    arrays = {}
    layers = []
    for op in net.matmul_ops():
        lq = qn.layers[op.name]
        layers.append(lq.scalars())
        arrays[f"{op.name}/w_float"] = op.w
        arrays[f"{op.name}/b_float"] = op.b
        arrays.update({f"{op.name}/{k}": a for k, a in lq.arrays().items() if a is not None})
    doc = {
        "format": "pqaccel-network",
        "format_version": FORMAT_VERSION,
        "engine": qn.engine.to_dict(),
        "input": {
            "tensor": net.input,
            "shape": list(net.input_shape),
            "scale": qn.in_scale,
            "bits": qn.engine.widths.in_bits,
        },
        "output": net.output,
        "ops": ops,
        "layers": layers,
        "adds": {
            k: {"multipliers": list(v), "frac_bits": ADD_FRAC_BITS} for k, v in qn.add_mult.items()
        },
        "scales": {k: float(v) for k, v in qn.scales.items()},
        "meta": meta or {},
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with staged_files(out_dir, BUNDLE_FILES, _previous(out_dir)) as tmp:
        with open(os.path.join(tmp, "network.json"), "w") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(tmp, "arrays.npz"), "wb") as f:
            f.write(buf.getvalue())
    return [os.path.join(out_dir, n) for n in BUNDLE_FILES]


class BundleError(ValueError):
    """A bundle that cannot be used: the message names the bundle, the file and what is wrong."""


def _read_arrays(path, file):
    """Every array of ``arrays.npz``, read whole; anything that is not a NumPy ``.npz`` of plain
    arrays is refused by name (never loaded with pickles)."""
    import zipfile
    import zlib

    with open(file, "rb") as f:  # our own handle: closed whatever NumPy raises
        if f.read(4) != b"PK\x03\x04":
            raise BundleError(
                f"network bundle {path!r}: arrays.npz is not a bundle array file (not a NumPy "
                f".npz archive)"
            )
        f.seek(0)
        try:
            with np.load(f, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as e:
            raise BundleError(
                f"network bundle {path!r}: arrays.npz is damaged or truncated ({e})"
            ) from None


def _expect(cond, path, what):
    if not cond:
        raise BundleError(f"network bundle {path!r}: {what}")


def _array(arrays, path, name, shape, integer, bits=None):
    """``arrays[name]``, checked: present, of ``shape``, integer (within ``+-(2**(bits-1)-1)``) or
    finite float."""
    _expect(name in arrays, path, f"arrays.npz has no array {name!r}")
    a = arrays[name]
    _expect(
        tuple(a.shape) == tuple(shape),
        path,
        f"array {name!r} has shape {tuple(a.shape)}, the network needs {tuple(shape)}",
    )
    if integer:
        _expect(
            np.issubdtype(a.dtype, np.integer),
            path,
            f"array {name!r} must hold integers, got {a.dtype}",
        )
        if bits is not None and a.size:
            q = (1 << (bits - 1)) - 1
            lo, hi = int(a.min()), int(a.max())
            _expect(
                -q <= lo and hi <= q,
                path,
                f"array {name!r} holds values from {lo} to {hi}, outside the "
                f"{bits}-bit range -{q}..{q} of the engine",
            )
        return a.astype(np.int64)
    _expect(
        np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer),
        path,
        f"array {name!r} must hold numbers, got {a.dtype}",
    )
    _expect(bool(np.isfinite(a).all()), path, f"array {name!r} holds NaN or infinite values")
    return a.astype(np.float64)


def _field(d, key, path, where, types):
    _expect(isinstance(d, dict) and key in d, path, f"network.json: {where} has no {key!r} entry")
    _expect(
        isinstance(d[key], types) and not (isinstance(d[key], bool) and bool not in types),
        path,
        f"network.json: {where} {key!r} has the wrong type ({type(d[key]).__name__})",
    )
    return d[key]


def load_bundle(path):
    """Read a bundle folder written by :func:`save_bundle` into a :class:`QuantNetwork`.

    The bundle is checked whole before anything runs: the document's entries, every op's kind,
    every array present with its shape, type and range against the engine, the layers against
    the engine, and the shapes through the graph.  Raises :class:`BundleError` (a
    :class:`ValueError`) naming the bundle, the file and the problem."""
    from .graph import OP_KINDS, conv_weight_matrix
    from .conversion import check_fit

    path = str(path)
    try:
        with open(os.path.join(path, "network.json"), encoding="utf-8") as f:
            doc = json.load(f)
        arrays = _read_arrays(path, os.path.join(path, "arrays.npz"))
    except FileNotFoundError as e:
        raise BundleError(
            f"{path!r} is not a network bundle: {os.path.basename(e.filename)} is missing"
        ) from None
    except UnicodeDecodeError:
        raise BundleError(f"network bundle {path!r}: network.json is not UTF-8 JSON text") from None
    except (OSError, ValueError) as e:
        if isinstance(e, BundleError):
            raise
        raise BundleError(f"network bundle {path!r} cannot be read: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != "pqaccel-network":
        raise BundleError(f"{path!r} is not a pqaccel network bundle")
    if doc.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"network bundle {path!r} has format_version {doc.get('format_version')!r}; "
            f"this pqaccel reads {FORMAT_VERSION}"
        )
    try:
        engine = engine_from_dict(_field(doc, "engine", path, "the document", dict), EngineConfig())
    except (TypeError, ValueError) as e:
        raise BundleError(
            f"network bundle {path!r}: network.json 'engine' is not a valid engine: {e}"
        ) from None
    inp = _field(doc, "input", path, "the document", dict)
    ops = []
    for i, d in enumerate(_field(doc, "ops", path, "the document", list)):
        where = f"op {i}"
        kind = _field(d, "kind", path, where, str)
        _expect(
            kind in OP_KINDS,
            path,
            f"network.json: {where} ({d.get('name')!r}) has unknown kind {kind!r}; "
            f"known: {', '.join(OP_KINDS)}",
        )
        op = Op(
            _field(d, "name", path, where, str),
            kind,
            list(_field(d, "inputs", path, where, list)),
            _field(d, "output", path, where, str),
        )
        for f in _OP_FIELDS:
            if f in d:
                setattr(op, f, tuple(d[f]) if isinstance(d[f], list) else d[f])
        _expect(
            op.kind not in ("maxpool", "avgpool") or op.kernel is not None,
            path,
            f"network.json: {where} ({op.name!r}) has no kernel",
        )
        _expect(
            len(op.inputs) == (2 if op.kind == "add" else 1),
            path,
            f"network.json: {where} ({op.name!r}) has {len(op.inputs)} inputs",
        )
        if op.is_matmul:
            wf = arrays.get(f"{op.name}/w_float")
            _expect(wf is not None, path, f"arrays.npz has no array {op.name + '/w_float'!r}")
            _expect(
                wf.ndim == (4 if op.kind == "conv" else 2),
                path,
                f"array {op.name + '/w_float'!r} has shape {wf.shape}: a {op.kind} needs "
                f"{4 if op.kind == 'conv' else 2} dimensions",
            )
            op.w = _array(arrays, path, f"{op.name}/w_float", wf.shape, False)
            m = op.w.shape[0] if op.kind == "conv" else op.w.shape[1]
            op.b = _array(arrays, path, f"{op.name}/b_float", (m,), False)
        ops.append(op)
    _expect(ops, path, "network.json has no ops")
    shape = tuple(_field(inp, "shape", path, "'input'", list))
    net = Network(
        ops,
        _field(inp, "tensor", path, "'input'", str),
        _field(doc, "output", path, "the document", str),
        shape,
    )
    known = {net.input} | {op.output for op in ops}
    for op in ops:
        for t in op.inputs:
            _expect(
                t in known,
                path,
                f"network.json: op {op.name!r} reads tensor {t!r} that nothing writes",
            )
    _expect(
        net.output in known,
        path,
        f"network.json: the output tensor {net.output!r} is never written",
    )
    layers = {}
    for d in _field(doc, "layers", path, "the document", list):
        _expect(isinstance(d, dict), path, f"network.json layer {d!r} must be an object")
        _expect(
            d.get("mode") in ENGINES,
            path,
            f"layer {d.get('name')!r}: mode must be one of "
            f"{', '.join(repr(k) for k in sorted(ENGINES))}, got {d.get('mode')!r}",
        )
        try:
            lq = EngineLayer.from_scalars(d)
        except (KeyError, TypeError) as e:
            raise BundleError(
                f"network bundle {path!r}: network.json layer "
                f"{d.get('name') if isinstance(d, dict) else d!r} "
                f"lacks or mistypes an entry ({e})"
            ) from None
        layers[lq.name] = lq
    matmuls = {op.name: op for op in net.matmul_ops()}
    _expect(
        set(layers) == set(matmuls),
        path,
        f"network.json: 'layers' names {sorted(layers)}, the conv/gemm ops are {sorted(matmuls)}",
    )
    for name, lq in layers.items():
        op = matmuls[name]
        d, m = conv_weight_matrix(op).shape
        _expect(
            (lq.d, lq.m) == (d, m),
            path,
            f"layer {name!r}: d={lq.d}, m={lq.m}, but its weights are {d} x {m}",
        )

        def get(suffix, shape, integer, bits=None, optional=False, name=name):
            key = f"{name}/{suffix}"
            return (
                None
                if optional and key not in arrays
                else _array(arrays, path, key, shape, integer, bits)
            )

        try:
            lq.load_arrays(engine, get)
        except (TypeError, ValueError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"network bundle {path!r}: layer {name!r}: {e}") from None
    try:
        check_fit(net, engine, keep=[n for n, lq in layers.items() if lq.mode != engine.kind])
    except (TypeError, ValueError) as e:
        raise BundleError(f"network bundle {path!r}: {e}") from None
    try:
        from .graph import run_float

        run_float(net, np.zeros((1, *shape)))
    except (ValueError, IndexError) as e:
        raise BundleError(f"network bundle {path!r}: the ops do not fit together: {e}") from None
    adds = {}
    for k, v in _field(doc, "adds", path, "the document", dict).items():
        mult = _field(v, "multipliers", path, f"add {k!r}", list)
        _expect(
            len(mult) == 2 and all(isinstance(x, int) for x in mult),
            path,
            f"add {k!r}: two integer multipliers needed",
        )
        adds[k] = tuple(mult)
    for op in ops:
        _expect(
            op.kind != "add" or op.name in adds,
            path,
            f"network.json: add {op.name!r} has no multipliers",
        )
    scale = _field(inp, "scale", path, "'input'", (int, float))
    _expect(scale > 0, path, f"'input' scale must be above 0, got {scale}")
    return QuantNetwork(
        net, engine, layers, scale, _field(doc, "scales", path, "the document", dict), adds
    )
