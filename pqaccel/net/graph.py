"""A CNN as a list of operations, imported from ONNX, and its float executor.

:func:`load_onnx` reads a trained network and turns it into a :class:`Network`: operations in
topological order, each reading named tensors and writing one.  Supported ONNX operators:
``Conv`` (any kernel, stride and padding; ``group = 1``, no dilation), ``BatchNormalization``
(folded into the ``Conv`` or ``Gemm`` before it), ``Gemm`` and ``MatMul`` (``+ Add`` of a constant
as bias), ``Relu``, ``Clip`` (constant bounds; after a layer with lower bound 0 it is the layer's
ReLU plus a ceiling on the host), ``Pad`` (constant zeros on H and W: folded into the next
``Conv``'s padding, on the host elsewhere), ``Add`` (of two tensors: a residual), ``MaxPool``,
``AveragePool``,
``GlobalAveragePool``, ``Flatten`` and ``Reshape`` (to ``(N, features)``).  Anything else is
rejected with :class:`UnsupportedModel`, naming the node, its operator and what is not supported.

Tensors are NCHW (batch first).  :func:`run_float` executes a :class:`Network` in float64.
"""

from dataclasses import dataclass, field

import numpy as np

from .interp import (
    OPS,
    conv_out_size,
    im2col,
    pool,
    rows_to_nchw,
    weight_matrix as conv_weight_matrix,
)

__all__ = [
    "OP_KINDS",
    "Op",
    "Network",
    "UnsupportedModel",
    "load_onnx",
    "run_float",
    "im2col",
    "conv_out_size",
    "conv_weight_matrix",
    "pool",
    "rows_to_nchw",
]


#: The operation kinds of a :class:`Network` (the interpreter's op table).
OP_KINDS = tuple(OPS)


class UnsupportedModel(ValueError):
    """The ONNX model uses something pqaccel does not import; the message names what."""


@dataclass
class Op:
    """One operation.  ``kind``: ``conv``, ``gemm``, ``relu``, ``add``, ``maxpool``, ``avgpool``,
    ``gap`` (global average pool) or ``flatten``.  ``inputs``/``output``: tensor names.

    ``conv``: ``w`` (``M x C x kh x kw``), ``b`` (``M``), ``stride`` ``(sh, sw)``, ``pads``
    ``(top, left, bottom, right)``.  ``gemm``: ``w`` (``D x M``: ``y = x @ w + b``), ``b``.
    Pools: ``kernel``, ``stride``, ``pads``; ``avgpool`` also ``count_include_pad``.  ``clip``:
    ``lo``, ``hi`` (None: unbounded).  ``pad``: ``pads`` (zeros on H and W).
    """

    name: str
    kind: str
    inputs: list
    output: str
    w: np.ndarray = None
    b: np.ndarray = None
    kernel: tuple = None
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    count_include_pad: bool = False
    lo: float = None
    hi: float = None

    @property
    def is_matmul(self):
        """An engine layer (conv, gemm): the op table says where it runs."""
        return self.kind in OPS and OPS[self.kind].where == "engine"


@dataclass
class Network:
    """Operations in execution order; ``input`` and ``output`` tensor names; ``input_shape``
    without the batch dimension."""

    ops: list
    input: str
    output: str
    input_shape: tuple
    meta: dict = field(default_factory=dict)

    def matmul_ops(self):
        return [op for op in self.ops if op.is_matmul]

    def consumers(self, tensor):
        return [op for op in self.ops if tensor in op.inputs]


# -- ONNX import
# ------------------------------------------------------------------------------------

_SUPPORTED = (
    "Conv",
    "BatchNormalization",
    "Gemm",
    "MatMul",
    "Add",
    "Relu",
    "Clip",
    "Pad",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Constant",
    "Identity",
)


def _attrs(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _reject(node, what):
    raise UnsupportedModel(f"node {node.name or '(unnamed)'!r} ({node.op_type}): {what}")


def _check_attrs(node, attrs, allowed):
    extra = sorted(set(attrs) - set(allowed))
    if extra:
        _reject(node, f"attribute {extra[0]!r} is not supported")


def _pads(node, attrs, nd=2):
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        _reject(node, f"auto_pad={attrs['auto_pad']!r} is not supported (use explicit pads)")
    p = list(attrs.get("pads", [0] * (2 * nd)))
    return (p[0], p[1], p[2], p[3])


def load_onnx(source):
    """Import an ONNX model (a path, bytes or a ``ModelProto``) as a :class:`Network`.

    Raises :class:`UnsupportedModel` for an operator, attribute or shape pqaccel does not
    support, naming the node.
    """
    import onnx
    from onnx import numpy_helper

    if isinstance(source, onnx.ModelProto):
        model = source
    elif isinstance(source, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(source))
    else:
        try:
            model = onnx.load(str(source))
        except FileNotFoundError:
            raise ValueError(f"ONNX file {str(source)!r} does not exist") from None
        except Exception as e:  # a broken file: protobuf raises its own errors
            raise ValueError(f"ONNX file {str(source)!r} cannot be read: {e}") from None
    g = model.graph
    if not model.HasField("graph") or not g.node:
        what = (
            "bytes"
            if isinstance(source, (bytes, bytearray, onnx.ModelProto))
            else f"file {str(source)!r}"
        )
        raise ValueError(f"ONNX {what} is not an ONNX model (no graph with nodes)")
    unsupported = [
        f"{n.name or n.output[0]!r} ({n.op_type})" for n in g.node if n.op_type not in _SUPPORTED
    ]
    if unsupported:
        raise UnsupportedModel(
            f"{len(unsupported)} node(s) use operators pqaccel does not import: "
            f"{', '.join(unsupported)}; supported operators: {', '.join(_SUPPORTED)}"
        )
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise UnsupportedModel(f"the graph must have one input, got {[i.name for i in inputs]}")
    if len(g.output) != 1:
        raise UnsupportedModel(f"the graph must have one output, got {[o.name for o in g.output]}")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = []
    for i, d in enumerate(dims[1:], start=1):
        if not d.HasField("dim_value"):
            raise UnsupportedModel(
                f"input {inputs[0].name!r}: dimension {i} is dynamic "
                f"({d.dim_param or '?'}); only the batch dimension may be"
            )
        shape.append(d.dim_value)

    ops = []
    alias = {}

    def name_of(t):
        while t in alias:
            t = alias[t]
        return t

    producer = {}
    for node in g.node:
        op_type = node.op_type
        a = _attrs(node)
        ins = [name_of(t) for t in node.input if t]
        out = node.output[0]
        nm = node.name or out
        if op_type == "Constant":
            if "value" not in a:
                _reject(node, "only a 'value' tensor constant is supported")
            consts[out] = numpy_helper.to_array(a["value"]).astype(np.float64)
            continue
        if op_type == "Identity":
            alias[out] = ins[0]
            continue
        if op_type == "Conv":
            _check_attrs(
                node, a, ("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad")
            )
            if a.get("group", 1) != 1:
                _reject(node, f"group={a['group']} is not supported (only group=1)")
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                _reject(node, f"dilations={list(a['dilations'])} are not supported (only 1)")
            if ins[1] not in consts or (len(ins) > 2 and ins[2] not in consts):
                _reject(node, "weights and bias must be constant initializers")
            w = consts[ins[1]]
            if w.ndim != 4:
                _reject(node, f"only 2-D convolutions are supported, weight shape {w.shape}")
            b = consts[ins[2]] if len(ins) > 2 else np.zeros(w.shape[0])
            op = Op(
                nm,
                "conv",
                [ins[0]],
                out,
                w=w,
                b=b,
                stride=tuple(a.get("strides", [1, 1])),
                pads=_pads(node, a),
            )
        elif op_type == "BatchNormalization":
            _check_attrs(node, a, ("epsilon", "momentum", "training_mode", "spatial"))
            if a.get("training_mode", 0):
                _reject(node, "training_mode=1 is not supported")
            prev = producer.get(ins[0])
            if prev is None or not prev.is_matmul or any(ins[0] in o.inputs for o in ops):
                _reject(
                    node,
                    "only a BatchNormalization right after a Conv or Gemm (its only "
                    "consumer) is supported: it is folded into that layer",
                )
            scale, bias, mean, var = (consts[t] for t in ins[1:5])
            k = scale / np.sqrt(var + a.get("epsilon", 1e-5))
            if prev.kind == "conv":
                prev.w = prev.w * k[:, None, None, None]
            else:
                prev.w = prev.w * k[None, :]
            prev.b = (prev.b - mean) * k + bias
            producer.pop(prev.output)
            prev.output = out
            producer[out] = prev
            continue
        elif op_type in ("Gemm", "MatMul"):
            if op_type == "Gemm":
                _check_attrs(node, a, ("alpha", "beta", "transA", "transB"))
                if a.get("transA", 0):
                    _reject(node, "transA=1 is not supported")
            if ins[1] not in consts:
                _reject(node, "the second input (weights) must be a constant initializer")
            w = consts[ins[1]]
            if w.ndim != 2:
                _reject(node, f"weights must be 2-D, got shape {w.shape}")
            if a.get("transB", 0):
                w = w.T
            w = w * a.get("alpha", 1.0)
            b = np.zeros(w.shape[1])
            if len(ins) > 2:
                if ins[2] not in consts:
                    _reject(node, "the bias must be a constant initializer")
                b = np.broadcast_to(consts[ins[2]] * a.get("beta", 1.0), (w.shape[1],)).copy()
            op = Op(nm, "gemm", [ins[0]], out, w=w, b=b)
        elif op_type == "Add":
            c = [t for t in ins if t in consts]
            if len(c) == 1:
                x = [t for t in ins if t not in consts][0]
                prev = producer.get(x)
                if prev is None or prev.kind != "gemm" or any(x in o.inputs for o in ops):
                    _reject(
                        node, "adding a constant is supported only as the bias of a MatMul/Gemm"
                    )
                prev.b = prev.b + np.broadcast_to(consts[c[0]].reshape(-1), prev.b.shape)
                producer.pop(prev.output)
                prev.output = out
                producer[out] = prev
                continue
            if len(c) == 2:
                _reject(node, "adding two constants is not supported")
            op = Op(nm, "add", ins[:2], out)
        elif op_type == "Relu":
            op = Op(nm, "relu", ins[:1], out)
        elif op_type == "Clip":
            bounds = []
            for i, attr in ((1, "min"), (2, "max")):
                if len(ins) > i:
                    if ins[i] not in consts:
                        _reject(node, f"the {attr} bound must be a constant")
                    bounds.append(float(consts[ins[i]].reshape(-1)[0]))
                else:
                    bounds.append(float(a[attr]) if attr in a else None)
            op = Op(nm, "clip", ins[:1], out, lo=bounds[0], hi=bounds[1])
        elif op_type == "Pad":
            _check_attrs(node, a, ("mode", "pads", "value"))
            if a.get("mode", b"constant") not in (b"constant", "constant"):
                _reject(node, f"mode={a['mode']!r} is not supported (only constant)")
            if len(ins) > 1:
                if ins[1] not in consts:
                    _reject(node, "the pads must be a constant")
                pads = [int(p) for p in consts[ins[1]]]
            else:
                pads = [int(p) for p in a.get("pads", [])]
            value = (
                consts[ins[2]].reshape(-1)[0]
                if len(ins) > 2 and ins[2] in consts
                else a.get("value", 0.0)
            )
            if len(ins) > 3:
                _reject(node, "padding selected axes is not supported")
            if float(value) != 0.0:
                _reject(node, f"only zero padding is supported, got value {float(value)}")
            if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
                _reject(
                    node,
                    f"only non-negative padding of H and W of an N x C x H x W tensor is "
                    f"supported, "
                    f"got pads {pads}",
                )
            op = Op(nm, "pad", ins[:1], out, pads=(pads[2], pads[3], pads[6], pads[7]))
        elif op_type in ("MaxPool", "AveragePool"):
            _check_attrs(
                node,
                a,
                (
                    "kernel_shape",
                    "strides",
                    "pads",
                    "auto_pad",
                    "ceil_mode",
                    "dilations",
                    "storage_order",
                    "count_include_pad",
                ),
            )
            if a.get("ceil_mode", 0):
                _reject(node, "ceil_mode=1 is not supported")
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                _reject(node, "dilations are not supported")
            kernel = tuple(a["kernel_shape"])
            if len(kernel) != 2:
                _reject(node, f"only 2-D pooling is supported, kernel {kernel}")
            op = Op(
                nm,
                "maxpool" if op_type == "MaxPool" else "avgpool",
                ins[:1],
                out,
                kernel=kernel,
                stride=tuple(a.get("strides", [1, 1])),
                pads=_pads(node, a),
                count_include_pad=bool(a.get("count_include_pad", 0)),
            )
        elif op_type == "GlobalAveragePool":
            op = Op(nm, "gap", ins[:1], out)
        elif op_type == "Flatten":
            if a.get("axis", 1) != 1:
                _reject(node, f"axis={a['axis']} is not supported (only 1)")
            op = Op(nm, "flatten", ins[:1], out)
        elif op_type == "Reshape":
            if len(ins) < 2 or ins[1] not in consts:
                _reject(
                    node, "the target shape must be a constant (dynamic shapes are not supported)"
                )
            target = [int(t) for t in consts[ins[1]]]
            if len(target) != 2 or target[1] not in (-1,) and target[0] not in (-1, 0):
                _reject(
                    node, f"only a reshape to (batch, features) is supported, got shape {target}"
                )
            op = Op(nm, "flatten", ins[:1], out)
        for t in op.inputs:
            if t in consts:
                _reject(node, f"input {t!r} is a constant; only weights and biases may be")
        ops.append(op)
        producer[out] = op
    ops = _fold_pads(ops)
    output = name_of(g.output[0].name)
    if output not in producer:
        raise UnsupportedModel(
            f"the graph output {g.output[0].name!r} is not computed by a supported node"
        )
    net = Network(ops, inputs[0].name, producer[output].output, tuple(shape))
    _check_shapes(net)
    return net


def _fold_pads(ops):
    """A ``pad`` whose only consumer is a convolution becomes that convolution's padding (zeros
    either way); other pads stay host operations."""
    out = []
    for op in ops:
        users = [u for u in ops if op.output in u.inputs]
        if op.kind == "pad" and len(users) == 1 and users[0].kind == "conv":
            c = users[0]
            c.pads = tuple(a + b for a, b in zip(c.pads, op.pads))
            c.inputs = [op.inputs[0] if t == op.output else t for t in c.inputs]
            continue
        out.append(op)
    return out


def _check_shapes(net):
    """Run shape inference once (also rejects a Gemm fed an un-flattened tensor)."""
    run_float(net, np.zeros((1, *net.input_shape)))


# -- float execution
# --------------------------------------------------------------------------------


def run_float(net, x, matmul=None, keep=False):
    """Execute ``net`` in float64 on ``x`` (``N x input_shape``); return the output (or, with
    ``keep``, every tensor).  ``matmul(op, x)`` may replace the float conv/gemm.  The op
    semantics are the interpreter's (:mod:`pqaccel.net.interp`)."""
    from .interp import FloatBackend, run

    return run(net, x, FloatBackend(matmul), keep)
