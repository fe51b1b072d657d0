"""PQ conversion of an imported CNN and the integer network model (the golden network model).

Every ``conv``/``gemm`` of a :class:`~pqaccel.net.graph.Network` becomes an engine layer
``Y = im2col(X) @ W`` (see :func:`~pqaccel.net.graph.im2col`: with ``v = kh*kw`` one subvector is
one input channel's patch).  A layer is either

* ``pq``: prototypes by k-means on the layer's *integer* input rows of the calibration images,
  produced by the already converted earlier layers (sequential calibration); tables are the
  quantized prototypes times the weights, with the bias folded into subspace 0's table; the PQ
  engine's golden model (:func:`pqaccel.model.forward`) computes it.  With ``refit`` the float
  tables are then fitted by least squares (:func:`refit_tables`) so that the sum of the looked-up
  entries reproduces the *float network's* output of that layer on the calibration images (the
  teacher), which also absorbs the error of the earlier PQ layers; or
* ``mac``: kept conventional, int8 weights on the MAC engine's golden model
  (:func:`pqaccel.mac.mac_forward`); the bias rides on extra input columns that hold the
  constant ``qmax_in`` (see :func:`bias_columns`), so the layer runs on the MAC engine unchanged.

Integer arithmetic, exactly as :func:`run_int` executes it (``q(b) = 2**(b-1) - 1``):

* the input image: ``x_q = clip(rint(x / s_in), -q, q)`` at ``in_bits``;
* an engine layer: accumulator ``acc`` (exact), then the engine's run-time requantization
  (:func:`pqaccel.fixedpoint.requantize_np` with the layer's ``shift``: rounding, saturation to
  ``out_bits``, and ReLU when the layer's ReLU is fused, i.e. the ONNX graph has a ``Relu`` as
  the layer's only consumer).  Scales: with the calibrated output step ``s_y`` (the
  ``percentile`` of the output magnitudes over ``q(out_bits)``) the layer takes the largest
  ``shift <= requant.shift`` with ``s_y / 2**shift`` no finer than its tables (or weights) need,
  the accumulator unit ``s_acc = max(max|T| / q(lut_bits), s_y / 2**shift)`` and the output
  scale ``s_out = s_acc * 2**shift``;
* ``add`` (residual): ``clip((a*Ma + b*Mb + 2**15) >> 16)`` with ``Ma = rint(s_a/s_o * 2**16)``;
* ``relu``, ``maxpool``, ``flatten``: exact on integers, scale unchanged;
* ``avgpool`` and ``gap``: ``floor((2*sum + n) / (2*n))`` (the mean rounded half up), scale
  unchanged.

The prediction is the argmax of the last layer's integers (lowest index on ties).
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..engines.pq import model as pqmodel
from ..engines.pq.config import EngineConfig
from ..config import LayerConfig
from .graph import Network, conv_weight_matrix, run_float
from .interp import Deferred, matmul_rows, run, semantics, unrows, walk

__all__ = ["ADD_FRAC_BITS", "LayerQuant", "QuantNetwork", "IntBackend", "convert", "run_int", "walk_int", "bias_columns",
           "encode_chunked", "mac_config", "refit_tables"]

ADD_FRAC_BITS = 16
#: k-means is fitted on at most this many calibration rows per layer (seeded subsample).
FIT_ROWS = 8192
#: Rows per chunk when distances are computed (bounds memory to about 100 MB).
CHUNK = 2048
#: Table refit: calibration rows used (seeded subsample), sweeps of block coordinate descent,
#: and the ridge weight pulling an entry towards its prototype-times-weights value (in rows).
REFIT_ROWS = 32768
REFIT_SWEEPS = 4
REFIT_RIDGE = 4.0


def qmax(bits):
    return (1 << (bits - 1)) - 1


@dataclass
class LayerQuant:
    """One converted engine layer.  ``mode``: ``pq`` or ``mac``.  Scales: ``in_scale`` (input
    integers), ``acc_scale`` (one unit of the accumulator), ``out_scale = acc_scale * 2**shift``.

    ``pq``: ``protos`` (``C x k x v``), ``lut`` (``C x k x M``), integer; ``protos_f``/``lut_f``
    the float codebooks and tables (for the float PQ reference).  ``mac``: ``w`` (``D' x M``
    integer weights, the last ``bias_cols`` rows carrying the bias).
    """
    name: str
    mode: str
    d: int
    m: int
    relu: bool
    shift: int
    in_scale: float
    acc_scale: float
    out_scale: float
    protos: np.ndarray = None
    lut: np.ndarray = None
    protos_f: np.ndarray = None
    lut_f: np.ndarray = None
    w: np.ndarray = None
    bias_cols: int = 0


@dataclass
class QuantNetwork:
    """A converted network: the graph, the engine configuration, per-layer :class:`LayerQuant`,
    the input scale and, per host tensor, its scale."""
    net: Network
    engine: EngineConfig
    layers: dict
    in_scale: float
    scales: dict = field(default_factory=dict)
    add_mult: dict = field(default_factory=dict)

    def engine_layers(self):
        return [self.layers[op.name] for op in self.net.matmul_ops()]


#: Largest run-time shift of the MAC engine that runs conventional layers (int8 x int8 sums of
#: hundreds of products need about 16 bits of shift to reach 8-bit outputs).
MAC_SHIFT_MAX = 20


def mac_config(engine: EngineConfig, d_max, m_max, d_par=1, m_par=1):
    """The int8 MAC engine that runs the conventional layers (:meth:`MacConfig.for_engine`): the
    PQ engine's input and output width, rounding and saturation, 8-bit weights, run-time shift up
    to :data:`MAC_SHIFT_MAX`."""
    from ..engines.mac.config import MacConfig
    return MacConfig.for_engine(engine, d_max=d_max, m_max=m_max, d_par=d_par, m_par=m_par, w_bits=8,
                                shift_max=MAC_SHIFT_MAX)


def bias_columns(b_units, w_bits):
    """Weight rows that add ``b_units[m] * qmax_in`` to the accumulator through extra input
    columns holding ``qmax_in``: as few rows as keep every weight within ``w_bits``."""
    q = qmax(w_bits)
    b_units = np.asarray(b_units, dtype=np.int64)
    n = max(1, -(-int(np.abs(b_units).max(initial=0)) // q))
    rows, rest = [], b_units.copy()
    for _ in range(n):
        r = np.clip(rest, -q, q)
        rows.append(r)
        rest = rest - r
    return np.stack(rows)


def network_problem(engine: EngineConfig):
    """Why ``engine`` cannot run a network (``None`` if it can)."""
    if engine.requant.mode != "shift" or not engine.requant.runtime:
        missing = [] if engine.requant.mode == "shift" else [f"requant.mode='shift' (it has {engine.requant.mode!r})"]
        if not engine.requant.runtime:
            missing.append("requant.runtime=true (each layer sets its own shift and ReLU at run time)")
        return "it lacks " + " and ".join(missing)
    if engine.widths.out_bits != engine.widths.in_bits:
        return (f"widths.out_bits must equal widths.in_bits={engine.widths.in_bits} (outputs feed the next "
                f"layer), got {engine.widths.out_bits}")
    return None


def sweep_engine(base, net, keep, metric, v, k, bits, widths=None):
    """The engine of one accuracy point: ``c_max`` from the widest PQ layer and every width
    (inputs, prototypes, tables, outputs) ``bits``, or the :class:`~pqaccel.config.Widths`
    ``widths``: prototypes share the inputs' integer grid, so prototypes narrower than the
    activations would lose their range."""
    from dataclasses import replace
    from ..config import Parallelism, Widths
    ds = [conv_weight_matrix(op).shape for op in net.matmul_ops() if op.name not in keep]
    c_max = max(-(-d // v) for d, _ in ds)
    m_max = max(m for _, m in ds)
    widths = widths or Widths(bits, bits, bits, bits)
    probe = base.replace(v=v, k=k, c_max=c_max, m_max=max(m_max, base.m_max), metric=metric,
                         par=Parallelism(1, 1, 1), widths=widths, requant=replace(base.requant, shift=0))
    return probe.replace(requant=replace(base.requant, shift=min(base.requant.shift, probe.acc_bits - 1)))


def int8_mac_network(net, engine, calib_x):
    """The int8 MAC network (8-bit activations and weights, every layer conventional) that PQ
    accuracy is compared with, whatever widths ``engine`` has."""
    from ..config import Widths
    return convert(net, engine.replace(widths=Widths(8, 8, 8, 8)), calib_x, mac_only=True)


def network_presets():
    """The presets whose engines can run a network."""
    from ..presets import PRESETS, preset
    return [name for name in PRESETS if network_problem(preset(name)) is None]


def check_engine(engine: EngineConfig):
    """A network engine must requantize (``shift``, set per layer at run time) to the width it
    takes in."""
    problem = network_problem(engine)
    if problem:
        raise ValueError(f"this engine cannot run a network: {problem}; network presets: "
                         f"{', '.join(network_presets())}")


def encode_chunked(engine, rows, protos):
    """Nearest prototype of every subspace for integer ``rows`` (chunked :func:`pqaccel.model.encode`)."""
    c = protos.shape[0]
    codes = np.empty((len(rows), c), dtype=np.int64)
    for i in range(0, len(rows), CHUNK):
        xs = pqmodel.split(engine, rows[i:i + CHUNK], c)
        codes[i:i + CHUNK] = pqmodel.encode(engine, xs, protos)
    return codes


def mac_rows(engine, lq, rows):
    """The MAC engine's input rows of a conventional layer: ``rows`` and the bias columns."""
    return np.concatenate([rows, np.full((len(rows), lq.bias_cols), qmax(engine.widths.in_bits), np.int64)],
                          axis=1)


def _engine_forward(engine, lq, rows):
    """Integer engine output of layer ``lq`` for integer ``rows`` (the golden models), ReLU
    included when fused."""
    if lq.mode == "pq":
        codes = encode_chunked(engine, rows, lq.protos)
        acc = pqmodel.accumulate(engine, codes, lq.lut)
        return pqmodel.requantize(engine, acc, lq.shift, lq.relu)
    from ..engines.mac.model import mac_forward
    x = mac_rows(engine, lq, rows)
    return mac_forward(mac_config(engine, x.shape[1], lq.m), x, lq.w, lq.shift, lq.relu)


def _scale_and_shift(unit_min, s_y, shift_max):
    """``(shift, acc_scale)``: the largest ``shift <= shift_max`` with ``s_y / 2**shift >=
    unit_min`` (0 if none), and ``acc_scale = max(unit_min, s_y / 2**shift)``."""
    shift = int(np.clip(np.floor(np.log2(s_y / unit_min)), 0, shift_max)) if unit_min > 0 else shift_max
    return shift, max(unit_min, s_y / 2 ** shift)


def _kmeans(engine, xs, seed):
    from sklearn.cluster import KMeans
    c = xs.shape[1]
    protos = np.empty((c, engine.k, engine.v))
    for ci in range(c):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # few distinct points (e.g. zero padding) is legitimate
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
            r = resid + own                        # residual without subspace ci
            sums = np.zeros((k, lut.shape[2]))
            np.add.at(sums, codes[:, ci], r)
            counts = np.bincount(codes[:, ci], minlength=k)[:, None]
            lut[ci] = (sums + ridge * lut0[ci]) / (counts + ridge)
            resid = r - lut[ci][codes[:, ci]]
    return lut


def _out_range(y, relu, percentile):
    a = np.maximum(y, 0) if relu else np.abs(y)
    top = float(np.percentile(a, percentile)) if percentile < 100 else float(a.max(initial=0))
    return top if top > 0 else 1.0


def _convert_layer(engine, op, mode, x_q, in_scale, relu, seed, percentile, teacher=None):
    rows, geom = matmul_rows(op, x_q)
    w = conv_weight_matrix(op)
    d, m = w.shape
    engine.check_layer(LayerConfig(d=d, m=m))
    q_out = qmax(engine.widths.out_bits)
    if mode == "pq":
        c = -(-d // engine.v)
        rng = np.random.default_rng(seed)
        fit = rows if len(rows) <= FIT_ROWS else rows[rng.choice(len(rows), FIT_ROWS, replace=False)]
        xs = pqmodel.split(engine, fit, c).astype(np.float64) * in_scale
        if len(xs) < engine.k:
            raise ValueError(f"layer {op.name!r}: {len(xs)} calibration rows are fewer than k={engine.k}")
        protos_f = _kmeans(engine, xs, seed)
        qp = qmax(engine.widths.proto_bits)
        protos = np.clip(np.rint(protos_f / in_scale), -qp, qp).astype(np.int64)
        wp = np.pad(w, ((0, c * engine.v - d), (0, 0))).reshape(c, engine.v, m)
        lut_f = np.einsum("ckv,cvm->ckm", protos * in_scale, wp)
        lut_f[0] += op.b                        # the bias, once per row: folded into subspace 0
        codes = encode_chunked(engine, rows, protos)
        if teacher is not None:
            t_rows = teacher.transpose(0, 2, 3, 1).reshape(-1, m) if op.kind == "conv" else teacher
            pick = (np.arange(len(rows)) if len(rows) <= REFIT_ROWS
                    else rng.choice(len(rows), REFIT_ROWS, replace=False))
            lut_f = refit_tables(codes[pick], t_rows[pick], lut_f)
        y = lut_f[np.arange(c)[None, :], codes, :].sum(axis=1)
        ql = qmax(engine.widths.lut_bits)
        shift, acc_scale = _scale_and_shift(float(np.abs(lut_f).max()) / ql, _out_range(y, relu, percentile) / q_out,
                                            engine.requant.shift)
        lut = np.clip(np.rint(lut_f / acc_scale), -ql, ql).astype(np.int64)
        lq = LayerQuant(op.name, "pq", d, m, relu, shift, in_scale, acc_scale, acc_scale * 2 ** shift,
                        protos=protos, lut=lut, protos_f=protos_f, lut_f=lut_f)
    else:
        y = rows * in_scale @ w + op.b
        qw = qmax(8)
        shift, acc_scale = _scale_and_shift(in_scale * float(np.abs(w).max()) / qw,
                                            _out_range(y, relu, percentile) / q_out,
                                            mac_config(engine, d, m).requant.shift)
        w_q = np.clip(np.rint(w * in_scale / acc_scale), -qw, qw).astype(np.int64)
        b_units = np.rint(op.b / (acc_scale * qmax(engine.widths.in_bits))).astype(np.int64)
        bias = bias_columns(b_units, 8)
        lq = LayerQuant(op.name, "mac", d, m, relu, shift, in_scale, acc_scale, acc_scale * 2 ** shift,
                        w=np.concatenate([w_q, bias]), bias_cols=len(bias))
    return lq, unrows(_engine_forward(engine, lq, rows), geom)


def fused_relus(net):
    """``{matmul op name: relu op}`` for every Relu (or Clip with lower bound 0, whose ceiling
    stays on the host) that is the only consumer of a conv/gemm: the engine applies the ReLU."""
    out = {}
    for op in net.matmul_ops():
        users = net.consumers(op.output)
        if len(users) == 1 and (users[0].kind == "relu" or (users[0].kind == "clip" and users[0].lo == 0)):
            out[op.name] = users[0]
    return out


def convert(net: Network, engine: EngineConfig, calib_x, *, keep=(), seed=0, percentile=99.99, mac_only=False,
            refit=False):
    """Convert ``net`` for ``engine`` with calibration images ``calib_x`` (float, ``N x input_shape``).

    ``keep``: names of conv/gemm layers kept conventional (``mac``); ``mac_only`` keeps all (the
    int8 MAC network).  Scales come from the ``percentile`` of the calibrated magnitudes.  Every
    layer is checked against ``engine`` first.  Raises :class:`ValueError` naming a layer that
    does not fit.  ``refit``: fit each PQ layer's float tables to the float network's output of
    that layer (:func:`refit_tables`) before they are quantized.
    """
    check_engine(engine)
    names = [op.name for op in net.matmul_ops()]
    unknown = sorted(set(keep) - set(names))
    if unknown:
        raise ValueError(f"keep names unknown layer {unknown[0]!r}; layers: {', '.join(names)}")
    check_fit(net, engine, keep=names if mac_only else keep)
    relus = fused_relus(net)
    fused_ops = {r.name for r in relus.values()}
    q_in = qmax(engine.widths.in_bits)
    calib_x = np.asarray(calib_x, dtype=np.float64)
    in_scale = float(np.abs(calib_x).max()) / q_in or 1.0
    qn = QuantNetwork(net, engine, {}, in_scale)
    host = IntBackend(qn)                   # the integer host semantics (add multipliers as they come)
    teacher = run_float(net, calib_x, keep=True) if refit and not mac_only else None
    env = {net.input: np.clip(np.rint(calib_x / in_scale), -q_in, q_in).astype(np.int64)}
    scales = {net.input: in_scale}
    host.scales = scales
    for i, op in enumerate(net.ops):
        a = env[op.inputs[0]]
        if op.is_matmul:
            mode = "mac" if (mac_only or op.name in keep) else "pq"
            lq, y = _convert_layer(engine, op, mode, a, scales[op.inputs[0]], op.name in relus, seed + 1000 * i,
                                   percentile, None if teacher is None else teacher[op.output])
            qn.layers[op.name] = lq
            s = lq.out_scale
        elif op.kind == "relu" and op.name in fused_ops:
            y, s = a, scales[op.inputs[0]]          # already applied by the engine layer
        elif op.kind == "add":
            b = env[op.inputs[1]]
            sa, sb = scales[op.inputs[0]], scales[op.inputs[1]]
            f = a * sa + b * sb
            s = _out_range(f, False, percentile) / q_in
            qn.add_mult[op.name] = (int(round(sa / s * 2 ** ADD_FRAC_BITS)), int(round(sb / s * 2 ** ADD_FRAC_BITS)))
            y = host.host(op, a, b)
        else:
            y, s = host.host(op, *[env[t] for t in op.inputs]), scales[op.inputs[0]]
        env[op.output] = y
        scales[op.output] = s
    qn.scales = scales
    return qn


def check_fit(net, engine, keep=()):
    """Raise :class:`ValueError` for the first PQ layer that does not fit ``engine``."""
    for op in net.matmul_ops():
        if op.name in keep:
            continue
        d, m = conv_weight_matrix(op).shape
        try:
            engine.check_layer(LayerConfig(d=d, m=m))
        except ValueError as e:
            raise ValueError(f"layer {op.name!r} (d={d}, m={m}) does not fit the engine: {e}") from None


class IntBackend:
    """The integer golden network model as an interpreter backend (:mod:`pqaccel.net.interp`):
    inputs quantized, engine layers through the engines' golden models (or ``engine_layer(lq,
    rows)``), a fused ReLU already applied by its layer, host ops with their integer semantics.
    ``defer``: layers of this mode (``pq``/``mac``) are handed to the walk's driver instead."""

    def __init__(self, qn, engine_layer=None, defer=None):
        self.qn = qn
        self.engine_layer = engine_layer or (lambda lq, rows: _engine_forward(qn.engine, lq, rows))
        self.defer = defer
        self.fused = {r.name for r in fused_relus(qn.net).values()}
        # what the integer host semantics read
        self.bits = qn.engine.widths.in_bits
        self.scales = qn.scales
        self.add_mult = qn.add_mult
        self.add_frac_bits = ADD_FRAC_BITS

    def input(self, x):
        return quantize_input(self.qn, x)

    def matmul(self, op, x):
        lq = self.qn.layers[op.name]
        rows, geom = matmul_rows(op, x)
        if lq.mode == self.defer:
            return Deferred(op, rows, geom)
        return unrows(self.engine_layer(lq, rows), geom)

    def host(self, op, *args):
        if op.kind == "relu" and op.name in self.fused:
            return args[0]                      # already applied by the engine layer
        return semantics(op).int(self, op, *args)


def quantize_input(qn, x):
    q = qmax(qn.engine.widths.in_bits)
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) / qn.in_scale), -q, q).astype(np.int64)


def run_int(qn: QuantNetwork, x, engine_layer=None, keep=False):
    """The integer network on float images ``x``: returns the last layer's integers (``keep``:
    every tensor).  ``engine_layer(lq, rows)`` may replace the golden engine model of a layer (it
    gets the integer input rows and returns the requantized outputs, fused ReLU included), which
    is how a run on the RTL plugs in.  One walk of the interpreter with :class:`IntBackend`."""
    return run(qn.net, x, IntBackend(qn, engine_layer), keep)


def walk_int(qn: QuantNetwork, x, defer):
    """The integer network as a generator (:func:`pqaccel.net.interp.walk`) that yields every
    layer of mode ``defer`` for its driver to run (a co-simulation) and takes its output rows."""
    return walk(qn.net, x, IntBackend(qn, defer=defer))


def float_distances(metric, xs, protos):
    """Real-valued distances ``rows x C x k`` of subvectors ``xs`` (``rows x C x v``) to
    ``protos`` (``C x k x v``) under the engine's ``metric``."""
    diff = np.abs(xs[:, :, None, :] - protos[None])
    return {"l1": lambda t: t.sum(-1), "l2": lambda t: (t * t).sum(-1), "chebyshev": lambda t: t.max(-1)}[metric](diff)


def run_pq_float(qn: QuantNetwork, x):
    """Float reference of the PQ network: float activations, float codebooks (nearest prototype
    in float) and the float tables the integer tables were quantized from (``lut_f``: after the
    refit, when there was one) for PQ layers, float weights for the kept layers."""
    from .graph import run_float

    def matmul(op, a):
        lq = qn.layers[op.name]
        rows, geom = matmul_rows(op, a)
        if lq.mode == "mac":
            return unrows(rows @ conv_weight_matrix(op) + op.b, geom)
        c = lq.protos_f.shape[0]
        xs = np.pad(rows, ((0, 0), (0, c * qn.engine.v - rows.shape[1]))).reshape(len(rows), c, qn.engine.v)
        codes = np.empty((len(rows), c), dtype=np.int64)
        for i in range(0, len(rows), CHUNK):
            dist = float_distances(qn.engine.metric, xs[i:i + CHUNK], lq.protos_f)
            codes[i:i + CHUNK] = dist.argmin(axis=2)
        if lq.lut_f is not None:
            t = lq.lut_f                        # the float tables the integer ones were quantized from
        else:                                   # (refit included); older bundles: prototypes x weights
            w = conv_weight_matrix(op)
            wp = np.pad(w, ((0, c * qn.engine.v - w.shape[0]), (0, 0))).reshape(c, qn.engine.v, -1)
            t = np.einsum("ckv,cvm->ckm", lq.protos_f, wp)
            t[0] += op.b
        return unrows(t[np.arange(c)[None, :], codes, :].sum(axis=1), geom)
    return run_float(qn.net, x, matmul=matmul)


def accuracy(logits, labels):
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean())


def rows_per_image(net):
    """Engine rows of every conv/gemm for one image: output pixels of a conv, 1 for a gemm."""
    tensors = run_float(net, np.zeros((1, *net.input_shape)), keep=True)
    return {op.name: (tensors[op.output].shape[2] * tensors[op.output].shape[3] if op.kind == "conv" else 1)
            for op in net.matmul_ops()}


def table_bits(qn):
    """Bits of every PQ table and codebook of the network (what the table port must load)."""
    e = qn.engine
    total = 0
    for lq in qn.engine_layers():
        if lq.mode == "pq":
            total += lq.lut.size * e.widths.lut_bits + lq.protos.size * e.widths.proto_bits
    return total

