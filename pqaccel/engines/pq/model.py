"""The golden model: the exact integer behaviour of the engine, and the float side that feeds it.

Integer side (the specification of the hardware; vectorized over rows):

* :func:`split` pads ``x`` (``n x d``) with zeros to ``C*v`` columns and views it as ``n x C x v``;
* :func:`distances` computes every distance exactly (``int64``; widths in :mod:`pqaccel.config`);
* :func:`encode` takes the argmin per subspace, lowest index on ties;
* :func:`accumulate` looks up ``T[c, k_c, m]`` and adds over ``c`` exactly;
* :func:`requantize` applies the configured shift, rounding and saturation;
* :func:`forward` chains them.

Float side: :func:`train` learns per-subspace k-means codebooks (scikit-learn, k-means++ init,
seeded), builds the table ``T[c,k,m] = P[c,k,:] . W[c*v:(c+1)*v, m]`` from real weights and
quantizes inputs, prototypes and table entries symmetrically to the configured widths.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ... import fixedpoint as fx
from ...config import LayerConfig
from .config import EngineConfig

__all__ = [
    "check_tables",
    "split",
    "distances",
    "encode",
    "accumulate",
    "requantize",
    "forward",
    "PQTables",
    "train",
    "quantize_symmetric",
    "random_tables",
    "random_inputs",
    "evaluate",
    "synthetic_layer",
]


def check_tables(cfg: EngineConfig, protos, lut):
    """Check integer codebooks ``protos`` (``C x k x v``) and tables ``lut`` (``C x k x M``)
    against ``cfg``; return ``(C, M)``.  Raises naming the array, its shape or range and what is
    valid."""
    protos = fx.as_int_array("protos", protos, 3)
    lut = fx.as_int_array("lut", lut, 3)
    c = protos.shape[0]
    if not 1 <= c <= cfg.c_max or protos.shape[1:] != (cfg.k, cfg.v):
        raise ValueError(
            f"protos must have shape (C, k, v) = (1..{cfg.c_max}, {cfg.k}, {cfg.v}), "
            f"got {protos.shape}"
        )
    if lut.shape[:2] != (c, cfg.k) or not 1 <= lut.shape[2] <= cfg.m_max:
        raise ValueError(
            f"lut must have shape (C, k, M) = ({c}, {cfg.k}, 1..{cfg.m_max}), got {lut.shape}"
        )
    fx.check_signed_range("protos", protos, cfg.widths.proto_bits)
    fx.check_signed_range("lut", lut, cfg.widths.lut_bits)
    return c, lut.shape[2]


def split(cfg: EngineConfig, x, c=None):
    """Zero-pad ``x`` (``n x d``) to ``C*v`` columns and reshape to ``n x C x v`` (``int64``)."""
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array (rows x d), got shape {x.shape}")
    c = -(-x.shape[1] // cfg.v) if c is None else c
    pad = c * cfg.v - x.shape[1]
    if pad < 0:
        raise ValueError(f"x has d={x.shape[1]} columns, more than C*v={c * cfg.v}")
    return np.pad(x, ((0, 0), (0, pad))).reshape(x.shape[0], c, cfg.v)


def distances(cfg: EngineConfig, xs, protos):
    """``dist[n, c, k]`` between subvectors ``xs`` (``n x C x v``) and ``protos`` (``C x K x
    v``)."""
    return fx.distance_np(cfg.metric, xs[:, :, None, :], protos[None, :, :, :])


def encode(cfg: EngineConfig, xs, protos):
    """Nearest prototype per row and subspace (``n x C``); ties go to the lowest index."""
    return np.argmin(
        fx.distance_np(cfg.metric, xs[:, :, None, :], protos[None, :, :, :], narrow=True), axis=2
    )


def accumulate(cfg: EngineConfig, codes, lut):
    """Exact ``acc[n, m] = sum_c lut[c, codes[n, c], m]`` (``int64``)."""
    acc = np.zeros((codes.shape[0], lut.shape[2]), dtype=np.int64)
    for c in range(lut.shape[0]):  # one subspace at a time: no n x C x M temporary
        acc += lut[c][codes[:, c]]
    return acc


def requantize(cfg: EngineConfig, acc, shift=None, relu=False):
    """Apply the engine's output requantization to exact accumulator values (with
    ``requant.runtime``, the layer's ``shift`` and ``relu``)."""
    return fx.requantize_np(acc, cfg.requant, cfg.widths.out_bits, shift, relu)


def forward(cfg: EngineConfig, x, protos, lut, shift=None, relu=False):
    """The engine's output for input rows ``x`` (``n x d``), exact integers.

    ``protos``: ``C x K x v`` (``proto_bits`` each), ``lut``: ``C x K x m`` (``lut_bits`` each),
    with ``C = ceil(d / v)``; ``shift``/``relu``: the layer's requantization settings (only with
    ``requant.runtime``).  Raises :class:`ValueError` on shapes or values out of range.
    """
    x = fx.as_int_array("x", x, 2)
    protos = fx.as_int_array("protos", protos, 3)
    lut = fx.as_int_array("lut", lut, 3)
    w = cfg.widths
    layer = cfg.check_layer(LayerConfig(d=x.shape[1], m=lut.shape[2], n=max(1, x.shape[0])))
    c = cfg.subspaces(layer)
    if protos.shape != (c, cfg.k, cfg.v):
        raise ValueError(
            f"protos must have shape (C, k, v) = {(c, cfg.k, cfg.v)}, got {protos.shape}"
        )
    if lut.shape[:2] != (c, cfg.k):
        raise ValueError(
            f"lut must have shape (C, k, m) = {(c, cfg.k, lut.shape[2])}, got {lut.shape}"
        )
    fx.check_signed_range("x", x, w.in_bits)
    fx.check_signed_range("protos", protos, w.proto_bits)
    fx.check_signed_range("lut", lut, w.lut_bits)
    cfg.requant.check_layer_settings(shift, relu)
    codes = encode(cfg, split(cfg, x, c), protos)
    return requantize(cfg, accumulate(cfg, codes, lut), shift, relu)


# -- float side -----------------------------------------------------------------------------------


def quantize_symmetric(a, bits, scale=None):
    """Symmetric quantization to ``bits`` signed: ``q = clip(rint(a / scale), -(2**(b-1)-1),
    2**(b-1)-1)``.

    ``scale`` defaults to ``max|a| / (2**(bits-1)-1)`` (1.0 for an all-zero array).
    Returns ``(q, scale)``.
    """
    a = np.asarray(a, dtype=np.float64)
    qmax = (1 << (bits - 1)) - 1
    if scale is None:
        amax = float(np.max(np.abs(a))) if a.size else 0.0
        scale = amax / qmax if amax > 0 else 1.0
    q = np.clip(np.rint(a / scale), -qmax, qmax).astype(np.int64)
    return q, scale


@dataclass
class PQTables:
    """A trained, quantized PQ layer.

    ``protos_f`` (``C x K x v``) and ``lut_f`` (``C x K x m``) are the float codebooks and table;
    ``protos``/``lut`` their integer versions.  Inputs and prototypes share ``x_scale`` (a distance
    compares them, so they must be on one grid); table entries use ``lut_scale``; an output ``y``
    of the engine stands for ``y * out_scale``.
    """

    protos_f: np.ndarray
    lut_f: np.ndarray
    protos: np.ndarray
    lut: np.ndarray
    x_scale: float
    lut_scale: float
    out_scale: float

    def quantize_inputs(self, cfg, x):
        return quantize_symmetric(x, cfg.widths.in_bits, self.x_scale)[0]


def train(cfg: EngineConfig, x_train, w, seed=0, n_init=1):
    """Learn PQ codebooks on ``x_train`` (``n x d``) for weights ``w`` (``d x m``) and quantize.

    Codebooks: scikit-learn ``KMeans`` per subspace, ``init="k-means++"``, ``random_state=seed``.
    """
    from sklearn.cluster import KMeans

    x_train = np.asarray(x_train, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, d = x_train.shape
    if w.shape[0] != d:
        raise ValueError(f"w must have d={d} rows, got shape {w.shape}")
    layer = cfg.check_layer(LayerConfig(d=d, m=w.shape[1], n=n))
    c = cfg.subspaces(layer)
    if n < cfg.k:
        raise ValueError(f"x_train must have at least k={cfg.k} rows, got {n}")
    xs = np.pad(x_train, ((0, 0), (0, c * cfg.v - d))).reshape(n, c, cfg.v)
    wp = np.pad(w, ((0, c * cfg.v - d), (0, 0))).reshape(c, cfg.v, w.shape[1])
    protos_f = np.empty((c, cfg.k, cfg.v))
    for ci in range(c):
        with warnings.catch_warnings():
            # Few distinct points in a subspace (e.g. all-zero padding) is legitimate here.
            warnings.simplefilter("ignore")
            km = KMeans(n_clusters=cfg.k, init="k-means++", n_init=n_init, random_state=seed + ci)
            km.fit(xs[:, ci, :])
        protos_f[ci] = km.cluster_centers_
    lut_f = np.einsum("ckv,cvm->ckm", protos_f, wp)
    wd = cfg.widths
    qx = (1 << (wd.in_bits - 1)) - 1
    qp = (1 << (wd.proto_bits - 1)) - 1
    x_scale = max(np.max(np.abs(x_train)) / qx, np.max(np.abs(protos_f)) / qp)
    x_scale = float(x_scale) if x_scale > 0 else 1.0
    protos, _ = quantize_symmetric(protos_f, wd.proto_bits, x_scale)
    lut, lut_scale = quantize_symmetric(lut_f, wd.lut_bits)
    out_scale = lut_scale * (2**cfg.requant.shift if cfg.requant.mode == "shift" else 1)
    return PQTables(protos_f, lut_f, protos, lut, x_scale, float(lut_scale), float(out_scale))


def float_pq(cfg: EngineConfig, tables: PQTables, x):
    """PQ in floating point (float codebooks and table, no quantization)."""
    x = np.asarray(x, dtype=np.float64)
    c = tables.protos_f.shape[0]
    xs = np.pad(x, ((0, 0), (0, c * cfg.v - x.shape[1]))).reshape(x.shape[0], c, cfg.v)
    diff = np.abs(xs[:, :, None, :] - tables.protos_f[None])
    dist = {
        "l1": lambda a: a.sum(-1),
        "l2": lambda a: (a * a).sum(-1),
        "chebyshev": lambda a: a.max(-1),
    }[cfg.metric](diff)
    codes = np.argmin(dist, axis=2)
    return tables.lut_f[np.arange(c)[None, :], codes, :].sum(axis=1)


def evaluate(cfg: EngineConfig, tables: PQTables, x, w):
    """Error statistics of float PQ and of the integer engine against the exact ``x @ w``."""
    x = np.asarray(x, dtype=np.float64)
    exact = x @ np.asarray(w, dtype=np.float64)
    fpq = float_pq(cfg, tables, x)
    y = forward(cfg, tables.quantize_inputs(cfg, x), tables.protos, tables.lut) * tables.out_scale
    norm = np.linalg.norm(exact) or 1.0

    def stats(approx):
        e = approx - exact
        return {
            "rel_fro": float(np.linalg.norm(e) / norm),
            "max_abs": float(np.max(np.abs(e))),
            "rmse": float(np.sqrt(np.mean(e * e))),
        }

    f, q = stats(fpq), stats(y)
    return {
        "float_pq": f,
        "quantized_pq": q,
        "quant_gap_rel_fro": float(np.linalg.norm(y - fpq) / norm),
        "exact_rms": float(np.sqrt(np.mean(exact * exact))),
    }


# -- random stimuli
# ---------------------------------------------------------------------------------


def random_tables(cfg: EngineConfig, layer: LayerConfig, rng):
    """Uniformly random integer prototypes and table entries over their full ranges."""
    c = cfg.subspaces(layer)
    plo, phi = fx.signed_range(cfg.widths.proto_bits)
    llo, lhi = fx.signed_range(cfg.widths.lut_bits)
    protos = rng.integers(plo, phi + 1, size=(c, cfg.k, cfg.v), dtype=np.int64)
    lut = rng.integers(llo, lhi + 1, size=(c, cfg.k, layer.m), dtype=np.int64)
    return protos, lut


def random_inputs(cfg: EngineConfig, layer: LayerConfig, rng):
    """Uniformly random integer input rows (``n x d``) over the full input range."""
    lo, hi = fx.signed_range(cfg.widths.in_bits)
    return rng.integers(lo, hi + 1, size=(layer.n, layer.d), dtype=np.int64)


def synthetic_layer(layer, seed):
    """A seeded random layer with structure: ``(x, w)``, inputs a mixture of 32 clusters, weights
    Gaussian.  Used by ``model`` and ``generate --train-seed``."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(32, layer.d))
    x = centers[rng.integers(0, 32, size=layer.n)] + 0.3 * rng.normal(size=(layer.n, layer.d))
    w = rng.normal(size=(layer.d, layer.m)) / np.sqrt(layer.d)
    return x, w
