"""PQ-aware fine-tuning: train the converted network through its PQ layers, so that what the
engine computes is what was trained.

The recipe the public implementations share (LUT-NN, halutmatmul, PQA's layer-wise study), with
the engine's integer arithmetic as the hard path:

* **forward is hard**: every tensor's value is exactly the integer golden network model's
  (:func:`pqaccel.net.quant.run_int` on the integer arrays :func:`to_quant` derives from the
  current parameters: prototypes and activations quantized to their widths, tables =
  prototypes x weights quantized to ``lut_bits``, integer accumulation, the requantization shift,
  rounding, saturation and ReLU), times the tensor's scale;
* **gradient is soft**: the same network walked by the one interpreter
  (:mod:`pqaccel.net.interp`) with :class:`JaxBackend`: a PQ layer is the soft assignment
  ``s_c = softmax(-dist(x_c, P_c) / tau)`` with the engine's metric and ``y_soft = sum_c s_c T_c``
  with ``T_c = P_c W_c + dT_c`` re-derived every step; a conventional layer is ``x W + b``; host
  ops are the op table's float semantics; every tensor is ``soft + stop_gradient(hard - soft)``;
* trained: prototypes ``P``, weights ``W``, biases ``b`` (BatchNorm folded), per PQ layer a
  temperature (``tau = d0 * exp(theta)``, ``d0`` the layer's mean gap between the nearest and the
  second-nearest prototype's distance on the calibration images) and a table offset ``dT``
  (the refit's correction, zero without ``--refit``); scales, shifts and ReLUs stay as converted;
* Adam on a cosine schedule, optional distillation from the float network's logits; seeded and
  deterministic on the CPU; the training split only.

The result is a :class:`~pqaccel.net.quant.QuantNetwork` like any converted one: the bundle code,
``net eval``, ``net run --rtl`` and ``net sweep`` take it unchanged.
"""

import dataclasses
import time

import numpy as np

from .interp import matmul_rows, run, semantics, unrows, weight_matrix
from .quant import QuantNetwork, bias_columns, float_distances, fused_relus, qmax, run_float, run_int
from ..engines.pq import model as pqmodel

__all__ = ["FinetuneSettings", "init_params", "to_quant", "JaxBackend", "soft_forward", "finetune"]


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
    """``epochs`` over the training split in batches of ``batch`` images (the last partial batch
    is dropped), Adam at ``lr`` with a cosine decay to zero (``relative``: each step scaled by
    the RMS of the tensor it updates, so ``lr`` is a fraction of each tensor's own magnitude), ``distill``: weight of the KL
    divergence to the float network's logits against the labels' cross-entropy (0: labels only),
    ``seed`` for the batch order.  The defaults are those ``benchmarks/bench_accuracy.py``
    measures."""
    epochs: int = 4
    batch: int = 32
    lr: float = 1e-2
    distill: float = 0.0
    seed: int = 0
    relative: bool = True

    def __post_init__(self):
        for name, lo in (("epochs", 1), ("batch", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ValueError(f"lr must be a number in (0, 1), got {self.lr!r}")
        if not (isinstance(self.distill, (int, float)) and 0 <= self.distill <= 1):
            raise ValueError(f"distill must be a number from 0 to 1, got {self.distill!r}")


def _padded_weights(op, c, v):
    w = weight_matrix(op)
    return np.pad(w, ((0, c * v - w.shape[0]), (0, 0)))


def _tables(protos_real, w_pad, b, c, v):
    """Float tables ``P_c W_c`` with the bias in subspace 0 (NumPy, float64)."""
    t = np.einsum("ckv,cvm->ckm", protos_real, w_pad.reshape(c, v, -1))
    t[0] += b
    return t


def init_params(qn: QuantNetwork):
    """The trainable parameters of ``qn`` as NumPy float64 arrays, ``{layer: {...}}``: PQ layers
    ``P`` (float prototypes), ``W``, ``b``, ``dT`` (the converted tables minus ``P_q W + b``),
    ``theta``; conventional layers ``W``, ``b``."""
    e = qn.engine
    params = {}
    for op in qn.net.matmul_ops():
        lq = qn.layers[op.name]
        w = weight_matrix(op).astype(np.float64)
        if lq.mode == "pq":
            c = lq.protos.shape[0]
            w_pad = _padded_weights(op, c, e.v)
            base = _tables(lq.protos * lq.in_scale, w_pad, op.b, c, e.v)
            lut_f = lq.lut_f if lq.lut_f is not None else base
            params[op.name] = {"P": np.array(lq.protos_f, dtype=np.float64), "W": w_pad, "b": np.array(op.b, float),
                               "dT": lut_f - base, "theta": np.zeros(())}
        else:
            params[op.name] = {"W": w, "b": np.array(op.b, float)}
    return params


def to_quant(qn: QuantNetwork, params):
    """The :class:`QuantNetwork` the engine runs for ``params``: ``qn`` with every layer's integer
    arrays re-derived exactly as the conversion quantizes them (its scales, shifts and ReLUs)."""
    e = qn.engine
    qp, ql = qmax(e.widths.proto_bits), qmax(e.widths.lut_bits)
    layers = {}
    for op in qn.net.matmul_ops():
        lq = qn.layers[op.name]
        p = {k: np.asarray(v, dtype=np.float64) for k, v in params[op.name].items()}
        if lq.mode == "pq":
            c = lq.protos.shape[0]
            protos = np.clip(np.rint(p["P"] / lq.in_scale), -qp, qp).astype(np.int64)
            lut_f = _tables(protos * lq.in_scale, p["W"], p["b"], c, e.v)
            if np.any(p["dT"]):
                lut_f = lut_f + p["dT"]
            lut = np.clip(np.rint(lut_f / lq.acc_scale), -ql, ql).astype(np.int64)
            layers[op.name] = dataclasses.replace(lq, protos=protos, lut=lut, protos_f=p["P"], lut_f=lut_f)
        else:
            qw, q_in = qmax(8), qmax(e.widths.in_bits)
            w_q = np.clip(np.rint(p["W"] * lq.in_scale / lq.acc_scale), -qw, qw).astype(np.int64)
            bias = bias_columns(np.rint(p["b"] / (lq.acc_scale * q_in)).astype(np.int64), 8)
            layers[op.name] = dataclasses.replace(lq, w=np.concatenate([w_q, bias]), bias_cols=len(bias))
    return dataclasses.replace(qn, layers=layers)


def hard_tensors(qn: QuantNetwork, x):
    """Every tensor of the integer network on ``x``, times its scale (float32): the values the
    training forward takes."""
    env = run_int(qn, x, keep=True)
    return {t: (v * qn.scales[t]).astype(np.float32) for t, v in env.items()}


def _distance_gaps(qn, x):
    """Per PQ layer, the mean gap between the nearest and the second-nearest prototype's
    distance (real units) over the layer's input rows of ``x``: the temperature's unit."""
    env = run_int(qn, x, keep=True)
    e = qn.engine
    out = {}
    for op in qn.net.matmul_ops():
        lq = qn.layers[op.name]
        if lq.mode != "pq":
            continue
        rows, _ = matmul_rows(op, env[op.inputs[0]])
        rows = rows[np.random.default_rng(0).permutation(len(rows))[:2048]]
        xs = pqmodel.split(e, rows, lq.protos.shape[0]).astype(np.float64) * lq.in_scale
        dist = float_distances(e.metric, xs, lq.protos_f)
        two = np.sort(dist, axis=2)[:, :, :2]
        gap = float(np.mean(two[:, :, 1] - two[:, :, 0]))
        out[op.name] = gap if gap > 0 else 1.0
    return out


class JaxBackend:
    """The differentiable training forward as a backend of the network interpreter: values are
    the hard (integer model) tensors ``hard``, gradients flow through the soft path."""

    def __init__(self, qn, params, hard, gaps):
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        self.qn, self.params, self.hard, self.gaps = qn, params, hard, gaps
        self.fused = {r.name for r in fused_relus(qn.net).values()}

    def _hard(self, op, soft):
        return soft + self.jax.lax.stop_gradient(self.hard[op.output] - soft)

    def input(self, x):
        return self.hard[self.qn.net.input]

    def matmul(self, op, a):
        jnp = self.jnp
        lq, p, e = self.qn.layers[op.name], self.params[op.name], self.qn.engine
        rows, geom = matmul_rows(op, a, jnp)
        if lq.mode == "pq":
            c, v = lq.protos.shape[0], e.v
            rows = jnp.pad(rows, ((0, 0), (0, c * v - rows.shape[1])))
            xs = rows.reshape(rows.shape[0], c, v)
            if e.metric == "l2":      # |x|^2 - 2 x.P + |P|^2: no rows x C x k x v temporary
                dist = ((xs * xs).sum(-1)[:, :, None] - 2 * jnp.einsum("ncv,ckv->nck", xs, p["P"])
                        + (p["P"] * p["P"]).sum(-1)[None])
            else:
                diff = jnp.abs(xs[:, :, None, :] - p["P"][None])
                dist = diff.sum(-1) if e.metric == "l1" else diff.max(-1)
            tau = self.gaps[op.name] * jnp.exp(p["theta"])
            s = self.jax.nn.softmax(-dist / tau, axis=-1)
            t = jnp.einsum("ckv,cvm->ckm", p["P"], p["W"].reshape(c, v, -1)) + p["dT"]
            t = t.at[0].add(p["b"])
            y = jnp.einsum("nck,ckm->nm", s, t)
        else:
            y = rows @ p["W"] + p["b"]
        if lq.relu:
            y = jnp.maximum(y, 0)
        top = qmax(e.widths.out_bits) * lq.out_scale
        y = jnp.clip(y, -top, top)
        return self._hard(op, unrows(y, geom))

    def host(self, op, *args):
        if op.kind == "relu" and op.name in self.fused:
            return args[0]
        return self._hard(op, semantics(op).float(self.jnp, op, *args))


def soft_forward(qn, params, hard, gaps):
    """Logits of the training forward (values: the integer model's; gradients: the soft path)."""
    return run(qn.net, None, JaxBackend(qn, params, hard, gaps))


def _batches(n, batch, rng):
    order = rng.permutation(n)
    return [order[i:i + batch] for i in range(0, n - batch + 1, batch)]


def finetune(qn: QuantNetwork, data, settings=FinetuneSettings(), progress=False, log=None):
    """Fine-tune the converted ``qn`` on ``data``'s training split (:class:`FinetuneSettings`);
    the temperatures' unit comes from the calibration split.  Returns ``(QuantNetwork, history)``
    with ``history`` per epoch: mean loss, running accuracy of the hard forward on the training
    batches, wall time."""
    import jax
    import jax.numpy as jnp
    import optax
    from tqdm import tqdm

    x_train, y_train = data.split("train")
    if len(x_train) < settings.batch:
        raise ValueError(f"fine-tuning needs at least one batch of {settings.batch} training images, "
                         f"the training split has {len(x_train)}")
    gaps = _distance_gaps(qn, data.calib_x[:64])
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), init_params(qn))
    rng = np.random.default_rng(settings.seed)
    steps_per_epoch = len(x_train) // settings.batch
    total = settings.epochs * steps_per_epoch
    opt = optax.adam(optax.cosine_decay_schedule(settings.lr, total))
    state = opt.init(params)
    teacher = run_float(qn.net, x_train).astype(np.float32) if settings.distill else None

    def loss_fn(p, hard, yb, tb):
        logits = soft_forward(qn, p, hard, gaps)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        if tb is not None:
            soft_t = jax.nn.softmax(tb, axis=-1)
            kl = (soft_t * (jnp.log(soft_t + 1e-9) - jax.nn.log_softmax(logits, axis=-1))).sum(-1).mean()
            loss = (1 - settings.distill) * loss + settings.distill * kl
        return loss, logits

    # Adam steps relative to each tensor's own magnitude (its RMS at the start): weights, prototypes
    # and tables live on scales that differ by orders of magnitude
    if settings.relative:
        size = jax.tree_util.tree_map(lambda a: jnp.sqrt(jnp.mean(a * a)) if a.ndim else jnp.float32(1.0), params)
        size = jax.tree_util.tree_map(lambda r: jnp.where(r > 0, r, 1.0), size)
    else:
        size = jax.tree_util.tree_map(lambda a: jnp.float32(1.0), params)

    @jax.jit
    def step(p, s, hard, yb, tb):
        (loss, logits), g = jax.value_and_grad(loss_fn, has_aux=True)(p, hard, yb, tb)
        upd, s = opt.update(g, s, p)
        upd = jax.tree_util.tree_map(lambda u, r: u * r, upd, size)
        return optax.apply_updates(p, upd), s, loss, logits

    history = []
    bar = tqdm(total=total, desc="fine-tune", unit="step", disable=not progress, dynamic_ncols=True)
    try:
        for epoch in range(settings.epochs):
            t0 = time.perf_counter()
            losses, right, seen = [], 0, 0
            for idx in _batches(len(x_train), settings.batch, rng):
                hard = hard_tensors(to_quant(qn, params), x_train[idx])
                tb = None if teacher is None else jnp.asarray(teacher[idx])
                params, state, loss, logits = step(params, state, hard, jnp.asarray(y_train[idx]), tb)
                losses.append(float(loss))
                right += int((np.asarray(logits).argmax(1) == y_train[idx]).sum())
                seen += len(idx)
                bar.set_postfix_str(f"epoch {epoch + 1}/{settings.epochs} loss {np.mean(losses):.3f} "
                                    f"train acc {100 * right / seen:.1f} %")
                bar.update(1)
            history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_accuracy": right / seen,
                            "wall_s": time.perf_counter() - t0})
            if log:
                log(history[-1])
    finally:
        bar.close()
    return to_quant(qn, jax.tree_util.tree_map(np.asarray, params)), history
