"""The one network interpreter: an op table and a walk over a :class:`~pqaccel.net.graph.Network`
with exchangeable backends.

Every operation kind has one entry in :data:`OPS` with its semantics:

* ``float(xp, op, *args)``: real-valued, written once against an array namespace ``xp`` so that
  NumPy (:class:`FloatBackend`, the float reference) and ``jax.numpy`` (the differentiable
  training forward, :mod:`pqaccel.net.finetune`) share it;
* ``int(ctx, op, *args)``: the integer semantics of the golden network model on the host
  (``ctx`` gives the activation width and the residual-add multipliers); ``None`` for the
  engine's layers (``conv``, ``gemm``), whose integer semantics are the engine's golden model.

:func:`walk` is a generator: it runs each op through the backend and, where a backend hands an
engine layer to somebody else (a :class:`Deferred`), yields it and takes the layer's output
back through ``send`` -- that is how a co-simulation runs layers on the RTL while the host side
stays this interpreter.  :func:`run` drives it to the end for backends that defer nothing.
"""

from dataclasses import dataclass

import numpy as np

__all__ = [
    "OPS",
    "OpSemantics",
    "Deferred",
    "walk",
    "run",
    "im2col",
    "rows_to_nchw",
    "conv_out_size",
    "pool",
    "FloatBackend",
]


# -- array helpers shared by every backend (``xp``: numpy or jax.numpy)
# -----------------------------


def conv_out_size(size, k, stride, pad_lo, pad_hi):
    return (size + pad_lo + pad_hi - k) // stride + 1


def im2col(x, kh, kw, stride, pads, fill=0, xp=np):
    """Patches of ``x`` (``N x C x H x W``) as rows ``(N*Ho*Wo) x (C*kh*kw)``, output pixels
    row-major per image, columns ordered ``(c, i, j)``: with ``v = kh*kw`` one subvector is one
    input channel's patch.  Returns ``(rows, Ho, Wo)``."""
    n, c, h, w = x.shape
    t, ly, b, r = pads
    xp_ = xp.pad(x, ((0, 0), (0, 0), (t, b), (ly, r)), constant_values=fill)
    ho, wo = conv_out_size(h, kh, stride[0], t, b), conv_out_size(w, kw, stride[1], ly, r)
    taps = [
        xp_[:, :, i : i + stride[0] * ho : stride[0], j : j + stride[1] * wo : stride[1]]
        for i in range(kh)
        for j in range(kw)
    ]
    cols = xp.stack(taps, axis=2)  # N x C x (kh*kw) x Ho x Wo
    return cols.transpose(0, 3, 4, 1, 2).reshape(n * ho * wo, c * kh * kw), ho, wo


def rows_to_nchw(y, n, ho, wo):
    return y.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def pool(x, op, reduce, xp=np):
    """Max or sum pooling of ``x`` with ``op``'s window; returns ``(pooled, counts)``."""
    kh, kw = op.kernel
    if reduce == "max":
        fill = np.iinfo(np.int64).min if np.issubdtype(x.dtype, np.integer) else -np.inf
    else:
        fill = 0
    n, c = x.shape[:2]
    rows, ho, wo = im2col(x.reshape(n * c, 1, *x.shape[2:]), kh, kw, op.stride, op.pads, fill, xp)
    rows = rows.reshape(n, c, ho, wo, kh * kw)
    if reduce == "max":
        return rows.max(axis=-1), None
    ones = np.ones((1, 1, *x.shape[2:]), dtype=np.int64)
    cnt, _, _ = im2col(ones, kh, kw, op.stride, op.pads, 0)
    counts = np.full((ho, wo), kh * kw) if op.count_include_pad else cnt.sum(axis=1).reshape(ho, wo)
    return rows.sum(axis=-1), counts


def matmul_rows(op, x, xp=np):
    """Engine input rows of a conv/gemm for input ``x`` and the output geometry (None for a
    gemm)."""
    if op.kind == "conv":
        kh, kw = op.w.shape[2:]
        rows, ho, wo = im2col(x, kh, kw, op.stride, op.pads, xp=xp)
        return rows, (x.shape[0], ho, wo)
    return x, None


def unrows(y, geom):
    return y if geom is None else rows_to_nchw(y, *geom)


def weight_matrix(op):
    """``D x M`` weights of a conv (rows in the im2col column order) or a gemm."""
    if op.kind == "conv":
        return op.w.reshape(op.w.shape[0], -1).T
    return op.w


def _qmax(bits):
    return (1 << (bits - 1)) - 1


# -- the op table ---------------------------------------------------------------------------------


def _float_matmul(xp, op, x, w=None, b=None):
    from .graph import UnsupportedModel

    w = weight_matrix(op) if w is None else w
    b = op.b if b is None else b
    if op.kind == "conv":
        if x.ndim != 4 or x.shape[1] * op.w.shape[2] * op.w.shape[3] != w.shape[0]:
            raise UnsupportedModel(
                f"node {op.name!r} (Conv): input shape {tuple(x.shape)} does not "
                f"match weights {op.w.shape}"
            )
    elif x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise UnsupportedModel(
            f"node {op.name!r} (Gemm): input shape {tuple(x.shape)} does not "
            f"match weights {tuple(w.shape)} (flatten first)"
        )
    rows, geom = matmul_rows(op, x, xp)
    return unrows(rows @ w + b, geom)


def _int_add(ctx, op, a, b):
    ma, mb = ctx.add_mult[op.name]
    q = _qmax(ctx.bits)
    frac = ctx.add_frac_bits
    return np.clip((a * ma + b * mb + (1 << (frac - 1))) >> frac, -q - 1, q)


def _int_avgpool(ctx, op, a):
    s, counts = pool(a, op, "sum")
    return (2 * s + counts) // (2 * counts)


def _int_gap(ctx, op, a):
    n = a.shape[2] * a.shape[3]
    return (2 * a.sum(axis=(2, 3), keepdims=True) + n) // (2 * n)


def _int_clip(ctx, op, a):
    """The float bounds on the integer grid of the input's scale: ``ceil(lo/s)``,
    ``floor(hi/s)``."""
    s = ctx.scales[op.inputs[0]]
    lo = None if op.lo is None else int(np.ceil(op.lo / s - 1e-9))
    hi = None if op.hi is None else int(np.floor(op.hi / s + 1e-9))
    return np.clip(a, lo, hi)


def _float_clip(xp, op, a):
    return xp.clip(a, -np.inf if op.lo is None else op.lo, np.inf if op.hi is None else op.hi)


def _pad(xp, op, a):
    t, ly, b, r = op.pads
    return xp.pad(a, ((0, 0), (0, 0), (t, b), (ly, r)))


def _float_avgpool(xp, op, a):
    s, counts = pool(a, op, "sum", xp)
    return s / counts


@dataclass(frozen=True)
class OpSemantics:
    """One op kind: its float semantics (array namespace generic), its integer host semantics
    (None: an engine layer), and where it runs."""

    float: object
    int: object
    where: str  # "engine" or "host"


OPS = {
    "conv": OpSemantics(_float_matmul, None, "engine"),
    "gemm": OpSemantics(_float_matmul, None, "engine"),
    "relu": OpSemantics(
        lambda xp, op, a: xp.maximum(a, 0), lambda ctx, op, a: np.maximum(a, 0), "host"
    ),
    "add": OpSemantics(lambda xp, op, a, b: a + b, _int_add, "host"),
    "maxpool": OpSemantics(
        lambda xp, op, a: pool(a, op, "max", xp)[0],
        lambda ctx, op, a: pool(a, op, "max")[0],
        "host",
    ),
    "avgpool": OpSemantics(_float_avgpool, _int_avgpool, "host"),
    "gap": OpSemantics(lambda xp, op, a: a.mean(axis=(2, 3), keepdims=True), _int_gap, "host"),
    "flatten": OpSemantics(
        lambda xp, op, a: a.reshape(a.shape[0], -1),
        lambda ctx, op, a: a.reshape(a.shape[0], -1),
        "host",
    ),
    # a ReLU with a ceiling when lo = 0 (the engine layer before it applies the ReLU); bounds on
    # the input's integer grid
    "clip": OpSemantics(_float_clip, _int_clip, "host"),
    # constant zero padding of H and W that could not be folded into the next convolution
    "pad": OpSemantics(_pad, lambda ctx, op, a: _pad(np, op, a), "host"),
}


def semantics(op):
    try:
        return OPS[op.kind]
    except KeyError:
        raise ValueError(
            f"op {op.name!r} has unknown kind {op.kind!r}; known: {', '.join(OPS)}"
        ) from None


# -- the walk -------------------------------------------------------------------------------------


class Deferred:
    """An engine layer a backend hands to its driver: ``op``, the integer input ``rows``, the
    output ``geom``; the driver sends back the layer's output rows."""

    def __init__(self, op, rows, geom):
        self.op, self.rows, self.geom = op, rows, geom

    def finish(self, out_rows):
        return unrows(out_rows, self.geom)


def walk(net, x, backend):
    """Generator over ``net`` on input ``x`` with ``backend`` (``input(x)``, ``matmul(op, x)``,
    ``host(op, *args)``); yields every :class:`Deferred` the backend returns and takes its output
    rows through ``send``; returns every tensor (``{name: value}``)."""
    env = {net.input: backend.input(x)}
    for op in net.ops:
        args = [env[t] for t in op.inputs]
        if semantics(op).where == "engine":
            y = backend.matmul(op, args[0])
            if isinstance(y, Deferred):
                y = y.finish((yield y))
        else:
            y = backend.host(op, *args)
        env[op.output] = y
    return env


def run(net, x, backend, keep=False):
    """:func:`walk` to the end (the backend defers nothing): the output, or every tensor."""
    gen = walk(net, x, backend)
    try:
        item = next(gen)
    except StopIteration as stop:
        env = stop.value
    else:
        raise RuntimeError(f"backend deferred layer {item.op.name!r} with nobody to run it")
    return env if keep else env[net.output]


class FloatBackend:
    """Real-valued execution in float64 (NumPy); ``matmul(op, x)`` may replace the conv/gemm."""

    def __init__(self, matmul=None, xp=np):
        self.xp = xp
        self._matmul = matmul

    def input(self, x):
        return self.xp.asarray(x, dtype=self.xp.float64)

    def matmul(self, op, x):
        if self._matmul is not None:
            return self._matmul(op, x)
        return OPS[op.kind].float(self.xp, op, x)

    def host(self, op, *args):
        return semantics(op).float(self.xp, op, *args)
