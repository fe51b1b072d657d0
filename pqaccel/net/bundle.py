"""The PQ network bundle: a converted network in a folder, readable without pqaccel's code.

Format (``format_version`` 1), two files:

``network.json``
    ``engine`` (the PQ engine's parameters, as in ``config show --json``), ``input``
    (``{"tensor", "shape" (without batch), "scale", "bits"}``), ``output`` (tensor name), ``ops``
    (execution order; each ``{"name", "kind", "inputs", "output"}`` plus ``kernel``, ``stride``,
    ``pads``, ``count_include_pad`` for pools and convolutions), ``layers`` (per conv/gemm:
    ``{"name", "mode": "pq"|"mac", "d", "m", "relu", "shift", "in_scale", "acc_scale",
    "out_scale", "bias_cols"}``), ``adds`` (per residual add: the integer multipliers ``[Ma,
    Mb]`` with ``frac_bits``) and ``scales`` (every tensor's scale: a value ``q`` stands for
    ``q * scale``).  The integer semantics are those of :mod:`pqaccel.net.quant`.
``arrays.npz``
    per layer ``<name>/protos`` (``C x k x v``) and ``<name>/lut`` (``C x k x M``) for ``pq``,
    ``<name>/w`` (``D' x M``, the last ``bias_cols`` rows carry the bias) for ``mac``, all
    integers; and the float side for references: ``<name>/protos_f``, ``<name>/w_float`` (the
    ``conv``/``gemm`` weights as imported, BatchNorm folded) and ``<name>/b_float``.
"""

import io
import json
import os

import numpy as np

from ..config import EngineConfig, engine_from_dict
from ..fsutil import staged_files
from .graph import Network, Op
from .quant import ADD_FRAC_BITS, LayerQuant, QuantNetwork

__all__ = ["FORMAT_VERSION", "save_bundle", "load_bundle", "BUNDLE_FILES"]

FORMAT_VERSION = 1
BUNDLE_FILES = ("network.json", "arrays.npz")
_OP_FIELDS = ("kernel", "stride", "pads", "count_include_pad")
_LAYER_FIELDS = ("name", "mode", "d", "m", "relu", "shift", "in_scale", "acc_scale", "out_scale", "bias_cols")


def _previous(out_dir):
    path = os.path.join(out_dir, "network.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return set()
    return set(BUNDLE_FILES) if isinstance(doc, dict) and doc.get("format") == "pqaccel-network" else set()


def save_bundle(qn: QuantNetwork, out_dir, meta=None):
    """Write ``qn`` into ``out_dir`` (other files there are kept; a bundle written earlier is
    replaced).  Returns the paths written."""
    net = qn.net
    ops = []
    for op in net.ops:
        d = {"name": op.name, "kind": op.kind, "inputs": list(op.inputs), "output": op.output}
        if op.kind in ("conv", "maxpool", "avgpool"):
            d.update({"stride": list(op.stride), "pads": list(op.pads)})
        if op.kind in ("maxpool", "avgpool"):
            d.update({"kernel": list(op.kernel), "count_include_pad": op.count_include_pad})
        ops.append(d)
    arrays = {}
    layers = []
    for op in net.matmul_ops():
        lq = qn.layers[op.name]
        layers.append({f: (float(getattr(lq, f)) if "scale" in f else getattr(lq, f)) for f in _LAYER_FIELDS})
        arrays[f"{op.name}/w_float"] = op.w
        arrays[f"{op.name}/b_float"] = op.b
        if lq.mode == "pq":
            arrays.update({f"{op.name}/protos": lq.protos, f"{op.name}/lut": lq.lut,
                           f"{op.name}/protos_f": lq.protos_f})
        else:
            arrays[f"{op.name}/w"] = lq.w
    doc = {
        "format": "pqaccel-network", "format_version": FORMAT_VERSION,
        "engine": qn.engine.to_dict(),
        "input": {"tensor": net.input, "shape": list(net.input_shape), "scale": qn.in_scale,
                  "bits": qn.engine.widths.in_bits},
        "output": net.output, "ops": ops, "layers": layers,
        "adds": {k: {"multipliers": list(v), "frac_bits": ADD_FRAC_BITS} for k, v in qn.add_mult.items()},
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


def load_bundle(path):
    """Read a bundle folder written by :func:`save_bundle` into a :class:`QuantNetwork`."""
    path = str(path)
    try:
        with open(os.path.join(path, "network.json")) as f:
            doc = json.load(f)
        arrays = dict(np.load(os.path.join(path, "arrays.npz"), allow_pickle=False))
    except FileNotFoundError as e:
        raise ValueError(f"{path!r} is not a network bundle: {os.path.basename(e.filename)} is missing") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"network bundle {path!r} cannot be read: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != "pqaccel-network":
        raise ValueError(f"{path!r} is not a pqaccel network bundle")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"network bundle {path!r} has format_version {doc.get('format_version')!r}; "
                         f"this pqaccel reads {FORMAT_VERSION}")
    engine = engine_from_dict(doc["engine"], EngineConfig())
    ops = []
    for d in doc["ops"]:
        op = Op(d["name"], d["kind"], list(d["inputs"]), d["output"])
        for f in _OP_FIELDS:
            if f in d:
                setattr(op, f, tuple(d[f]) if isinstance(d[f], list) else d[f])
        if op.is_matmul:
            op.w, op.b = arrays[f"{op.name}/w_float"], arrays[f"{op.name}/b_float"]
        ops.append(op)
    net = Network(ops, doc["input"]["tensor"], doc["output"], tuple(doc["input"]["shape"]))
    layers = {}
    for d in doc["layers"]:
        lq = LayerQuant(**d)
        if lq.mode == "pq":
            lq.protos, lq.lut = arrays[f"{lq.name}/protos"], arrays[f"{lq.name}/lut"]
            lq.protos_f = arrays[f"{lq.name}/protos_f"]
        else:
            lq.w = arrays[f"{lq.name}/w"]
        layers[lq.name] = lq
    adds = {k: tuple(v["multipliers"]) for k, v in doc["adds"].items()}
    return QuantNetwork(net, engine, layers, doc["input"]["scale"], doc["scales"], adds)
