"""A network layer converted to the PQ engine: prototypes by k-means on the layer's integer
input rows of the calibration images (sequential calibration), tables = quantized prototypes
times the weights with the bias folded into subspace 0, optionally refit by least squares to the
float network's output (:func:`refit_tables`); the engine's golden model computes it."""

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ...net.graph import conv_weight_matrix
from ...net.layer import EngineLayer, out_range, qmax, scale_and_shift
from . import model

__all__ = ["PQLayer", "encode_chunked", "float_distances", "refit_tables", "FIT_ROWS", "REFIT_ROWS"]

#: k-means is fitted on at most this many calibration rows per layer (seeded subsample).
FIT_ROWS = 8192
#: Rows per chunk when distances are computed (bounds memory to about 100 MB).
CHUNK = 2048
#: Table refit: calibration rows used (seeded subsample), sweeps of block coordinate descent,
#: and the ridge weight pulling an entry towards its prototype-times-weights value (in rows).
REFIT_ROWS = 32768
REFIT_SWEEPS = 4
REFIT_RIDGE = 4.0


def encode_chunked(engine, rows, protos):
    """Nearest prototype of every subspace for integer ``rows`` (chunked :func:`model.encode`)."""
    c = protos.shape[0]
    codes = np.empty((len(rows), c), dtype=np.int64)
    for i in range(0, len(rows), CHUNK):
        xs = model.split(engine, rows[i : i + CHUNK], c)
        codes[i : i + CHUNK] = model.encode(engine, xs, protos)
    return codes


def float_distances(metric, xs, protos):
    """Real-valued distances ``rows x C x k`` of subvectors ``xs`` (``rows x C x v``) to
    ``protos`` (``C x k x v``) under the engine's ``metric``."""
    diff = np.abs(xs[:, :, None, :] - protos[None])
    return {
        "l1": lambda t: t.sum(-1),
        "l2": lambda t: (t * t).sum(-1),
        "chebyshev": lambda t: t.max(-1),
    }[metric](diff)


def _kmeans(engine, xs, seed):
    from sklearn.cluster import KMeans

    c = xs.shape[1]
    protos = np.empty((c, engine.k, engine.v))
    for ci in range(c):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few distinct points (e.g. zero padding) is legitimate
            km = KMeans(n_clusters=engine.k, init="k-means++", n_init=1, random_state=seed + ci)
            km.fit(xs[:, ci, :])
        protos[ci] = km.cluster_centers_
    return protos


def refit_tables(codes, target, lut0, ridge=REFIT_RIDGE, sweeps=REFIT_SWEEPS):
    """Least-squares tables: ``argmin_T sum_rows |sum_c T[c, codes[row, c]] - target[row]|^2 +
    ridge * |T - lut0|^2`` (``codes``: ``N x C``, ``target``: ``N x M``, ``lut0``: ``C x k x M``).

    Block coordinate descent over the subspaces, starting from ``lut0``: the rows with code
    ``j`` in subspace ``c`` share one entry, so each block has the closed form ``T[c, j] =
    (sum of the residual over those rows + ridge * lut0[c, j]) / (count + ridge)``; every update
    lowers the objective (MADDNESS/LUT-NN-style table learning without retraining)."""
    n, c = codes.shape
    k = lut0.shape[1]
    lut = lut0.astype(np.float64).copy()
    pred = lut[np.arange(c)[None, :], codes, :].sum(axis=1)
    resid = target - pred
    for _ in range(sweeps):
        for ci in range(c):
            own = lut[ci][codes[:, ci]]
            r = resid + own  # residual without subspace ci
            sums = np.zeros((k, lut.shape[2]))
            np.add.at(sums, codes[:, ci], r)
            counts = np.bincount(codes[:, ci], minlength=k)[:, None]
            lut[ci] = (sums + ridge * lut0[ci]) / (counts + ridge)
            resid = r - lut[ci][codes[:, ci]]
    return lut


def _tables(protos_real, w_pad, b, c, v):
    """Float tables ``P_c W_c`` with the bias in subspace 0 (NumPy, float64)."""
    t = np.einsum("ckv,cvm->ckm", protos_real, w_pad.reshape(c, v, -1))
    t[0] += b
    return t


def _padded_weights(op, c, v):
    w = conv_weight_matrix(op)
    return np.pad(w, ((0, c * v - w.shape[0]), (0, 0)))


@dataclass
class PQLayer(EngineLayer):
    """``protos`` (``C x k x v``), ``lut`` (``C x k x M``): the integer codebooks and tables;
    ``protos_f``/``lut_f``: the float ones they were quantized from (the float PQ reference)."""

    protos: np.ndarray = None
    lut: np.ndarray = None
    protos_f: np.ndarray = None
    lut_f: np.ndarray = None

    mode = "pq"

    # -- conversion -------------------------------------------------------------------------------
    @classmethod
    def convert(cls, engine, op, rows, in_scale, relu, seed, percentile, teacher=None):
        w = conv_weight_matrix(op)
        d, m = w.shape
        c = -(-d // engine.v)
        rng = np.random.default_rng(seed)
        fit = (
            rows if len(rows) <= FIT_ROWS else rows[rng.choice(len(rows), FIT_ROWS, replace=False)]
        )
        xs = model.split(engine, fit, c).astype(np.float64) * in_scale
        if len(xs) < engine.k:
            raise ValueError(
                f"layer {op.name!r}: {len(xs)} calibration rows are fewer than k={engine.k}"
            )
        protos_f = _kmeans(engine, xs, seed)
        qp = qmax(engine.widths.proto_bits)
        protos = np.clip(np.rint(protos_f / in_scale), -qp, qp).astype(np.int64)
        lut_f = _tables(protos * in_scale, _padded_weights(op, c, engine.v), op.b, c, engine.v)
        codes = encode_chunked(engine, rows, protos)
        if teacher is not None:
            t_rows = teacher.transpose(0, 2, 3, 1).reshape(-1, m) if op.kind == "conv" else teacher
            pick = (
                np.arange(len(rows))
                if len(rows) <= REFIT_ROWS
                else rng.choice(len(rows), REFIT_ROWS, replace=False)
            )
            lut_f = refit_tables(codes[pick], t_rows[pick], lut_f)
        y = lut_f[np.arange(c)[None, :], codes, :].sum(axis=1)
        ql = qmax(engine.widths.lut_bits)
        shift, acc_scale = scale_and_shift(
            float(np.abs(lut_f).max()) / ql,
            out_range(y, relu, percentile) / qmax(engine.widths.out_bits),
            engine.requant.shift,
        )
        lut = np.clip(np.rint(lut_f / acc_scale), -ql, ql).astype(np.int64)
        return cls(
            op.name,
            d,
            m,
            relu,
            shift,
            in_scale,
            acc_scale,
            acc_scale * 2**shift,
            protos=protos,
            lut=lut,
            protos_f=protos_f,
            lut_f=lut_f,
        )

    # -- running it -------------------------------------------------------------------------------
    def forward(self, engine, rows):
        codes = encode_chunked(engine, rows, self.protos)
        acc = model.accumulate(engine, codes, self.lut)
        return model.requantize(engine, acc, self.shift, self.relu)

    def float_forward(self, engine, op, rows):
        """Float activations, float codebooks (nearest prototype in float) and the float tables
        the integer tables were quantized from (``lut_f``: after the refit, when there was one;
        older bundles: prototypes times weights)."""
        c, v = self.protos_f.shape[0], engine.v
        xs = np.pad(rows, ((0, 0), (0, c * v - rows.shape[1]))).reshape(len(rows), c, v)
        codes = np.empty((len(rows), c), dtype=np.int64)
        for i in range(0, len(rows), CHUNK):
            codes[i : i + CHUNK] = float_distances(
                engine.metric, xs[i : i + CHUNK], self.protos_f
            ).argmin(axis=2)
        t = (
            self.lut_f
            if self.lut_f is not None
            else _tables(self.protos_f, _padded_weights(op, c, v), op.b, c, v)
        )
        return t[np.arange(c)[None, :], codes, :].sum(axis=1)

    def job(self, manifest, engine, rows):
        from .job import PQJob

        return PQJob(manifest, rows, self.protos, self.lut, self.shift, self.relu)

    # -- bundle -----------------------------------------------------------------------------------
    def arrays(self):
        return {
            "protos": self.protos,
            "lut": self.lut,
            "protos_f": self.protos_f,
            "lut_f": self.lut_f,
        }

    def load_arrays(self, engine, get):
        """Fill the arrays through ``get(suffix, shape, integer, bits, optional=False)`` and check
        the layer's run-time settings against ``engine``."""
        c, w = -(-self.d // engine.v), engine.widths
        self.protos = get("protos", (c, engine.k, engine.v), True, w.proto_bits)
        self.lut = get("lut", (c, engine.k, self.m), True, w.lut_bits)
        self.protos_f = get("protos_f", (c, engine.k, engine.v), False)
        self.lut_f = get(
            "lut_f", (c, engine.k, self.m), False, optional=True
        )  # absent in older bundles
        engine.requant.check_layer_settings(self.shift, self.relu)

    def table_bits(self, engine):
        """Bits of the layer's tables and codebooks (what the table port loads)."""
        return self.lut.size * engine.widths.lut_bits + self.protos.size * engine.widths.proto_bits

    def describe(self, engine):
        """What the layer table of ``net convert`` shows in its ``C`` column."""
        return -(-self.d // engine.v)

    # -- the differentiable training forward ------------------------------------------------------
    def params(self, engine, op):
        """Float prototypes ``P``, padded weights ``W``, bias ``b``, ``dT`` (the converted tables
        minus ``P_q W + b``) and the temperature's log-scale ``theta``."""
        c = self.protos.shape[0]
        w_pad = _padded_weights(op, c, engine.v)
        base = _tables(self.protos * self.in_scale, w_pad, op.b, c, engine.v)
        lut_f = self.lut_f if self.lut_f is not None else base
        return {
            "P": np.array(self.protos_f, dtype=np.float64),
            "W": w_pad,
            "b": np.array(op.b, float),
            "dT": lut_f - base,
            "theta": np.zeros(()),
        }

    def from_params(self, engine, p):
        """The layer the engine runs for trained ``p``, quantized exactly as the conversion does."""
        qp, ql = qmax(engine.widths.proto_bits), qmax(engine.widths.lut_bits)
        c = self.protos.shape[0]
        protos = np.clip(np.rint(p["P"] / self.in_scale), -qp, qp).astype(np.int64)
        lut_f = _tables(protos * self.in_scale, p["W"], p["b"], c, engine.v)
        if np.any(p["dT"]):
            lut_f = lut_f + p["dT"]
        lut = np.clip(np.rint(lut_f / self.acc_scale), -ql, ql).astype(np.int64)
        return replace(self, protos=protos, lut=lut, protos_f=p["P"], lut_f=lut_f)

    def distance_gap(self, engine, rows):
        """Mean gap between the nearest and second-nearest prototype's distance (real units)."""
        xs = model.split(engine, rows, self.protos.shape[0]).astype(np.float64) * self.in_scale
        two = np.sort(float_distances(engine.metric, xs, self.protos_f), axis=2)[:, :, :2]
        gap = float(np.mean(two[:, :, 1] - two[:, :, 0]))
        return gap if gap > 0 else 1.0

    def soft_forward(self, jax, jnp, engine, p, rows, gap):
        """Soft assignment (softmax of the negative distances over ``gap * exp(theta)``) times
        the tables ``P W + dT`` (bias in subspace 0)."""
        c, v = self.protos.shape[0], engine.v
        rows = jnp.pad(rows, ((0, 0), (0, c * v - rows.shape[1])))
        xs = rows.reshape(rows.shape[0], c, v)
        if engine.metric == "l2":  # |x|^2 - 2 x.P + |P|^2: no rows x C x k x v temporary
            dist = (
                (xs * xs).sum(-1)[:, :, None]
                - 2 * jnp.einsum("ncv,ckv->nck", xs, p["P"])
                + (p["P"] * p["P"]).sum(-1)[None]
            )
        else:
            diff = jnp.abs(xs[:, :, None, :] - p["P"][None])
            dist = diff.sum(-1) if engine.metric == "l1" else diff.max(-1)
        s = jax.nn.softmax(-dist / (gap * jnp.exp(p["theta"])), axis=-1)
        t = jnp.einsum("ckv,cvm->ckm", p["P"], p["W"].reshape(c, v, -1)) + p["dT"]
        t = t.at[0].add(p["b"])
        return jnp.einsum("nck,ckm->nm", s, t)
