"""PQ-aware fine-tuning: train the converted network through its PQ layers, so that what the
engine computes is what was trained.

The recipe the public implementations share (LUT-NN, halutmatmul, PQA's layer-wise study), with
the engine's integer arithmetic as the hard path:

* **forward is hard**: every tensor's value is exactly the integer golden network model's
  (:func:`pqaccel.net.intmodel.run_int` on the integer arrays :func:`to_quant` derives from the
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

The result is a :class:`~pqaccel.net.intmodel.QuantNetwork` like any converted one: the bundle code,
``net eval``, ``net run --rtl`` and ``net sweep`` take it unchanged.
"""

import dataclasses
import time

import numpy as np

from .interp import matmul_rows, run, semantics, unrows
from .layer import qmax
from .graph import run_float
from .intmodel import QuantNetwork, fused_relus, run_int

__all__ = ["FinetuneSettings", "init_params", "to_quant", "JaxBackend", "soft_forward", "finetune"]


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
    """``epochs`` over the training split in batches of ``batch`` images (the last partial batch
    is dropped), Adam at ``lr`` with a cosine decay to zero (``relative``: each step scaled by
    the RMS of the tensor it updates, so ``lr`` is a fraction of each tensor's own magnitude),
    ``distill``: weight of the KL
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


def init_params(qn: QuantNetwork):
    """The trainable parameters of ``qn`` as NumPy float64 arrays, ``{layer: {...}}``, as each
    layer's engine defines them (``params``: PQ layers ``P``, ``W``, ``b``, ``dT``, ``theta``;
    conventional layers ``W``, ``b``)."""
    return {op.name: qn.layers[op.name].params(qn.engine, op) for op in qn.net.matmul_ops()}


def to_quant(qn: QuantNetwork, params):
    """The :class:`QuantNetwork` the engine runs for ``params``: ``qn`` with every layer's integer
    arrays re-derived exactly as the conversion quantizes them (its scales, shifts and ReLUs)."""
    layers = {}
    for op in qn.net.matmul_ops():
        p = {k: np.asarray(v, dtype=np.float64) for k, v in params[op.name].items()}
        layers[op.name] = qn.layers[op.name].from_params(qn.engine, p)
    return dataclasses.replace(qn, layers=layers)


def hard_tensors(qn: QuantNetwork, x):
    """Every tensor of the integer network on ``x``, times its scale (float32): the values the
    training forward takes."""
    env = run_int(qn, x, keep=True)
    return {t: (v * qn.scales[t]).astype(np.float32) for t, v in env.items()}


def _distance_gaps(qn, x):
    """Per layer with a soft assignment, its temperature's unit over (at most 2048 of) the
    layer's input rows of ``x`` (``distance_gap``: for PQ, the mean gap between the nearest and
    the second-nearest prototype's distance in real units)."""
    env = run_int(qn, x, keep=True)
    out = {}
    for op in qn.net.matmul_ops():
        rows, _ = matmul_rows(op, env[op.inputs[0]])
        rows = rows[np.random.default_rng(0).permutation(len(rows))[:2048]]
        gap = qn.layers[op.name].distance_gap(qn.engine, rows)
        if gap is not None:
            out[op.name] = gap
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
        y = lq.soft_forward(self.jax, jnp, e, p, rows, self.gaps.get(op.name))
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
    return [order[i : i + batch] for i in range(0, n - batch + 1, batch)]


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
        raise ValueError(
            f"fine-tuning needs at least one batch of {settings.batch} training images, "
            f"the training split has {len(x_train)}"
        )
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
            kl = (
                (soft_t * (jnp.log(soft_t + 1e-9) - jax.nn.log_softmax(logits, axis=-1)))
                .sum(-1)
                .mean()
            )
            loss = (1 - settings.distill) * loss + settings.distill * kl
        return loss, logits

    # Adam steps relative to each tensor's own magnitude (its RMS at the start): weights, prototypes
    # and tables live on scales that differ by orders of magnitude
    if settings.relative:
        size = jax.tree_util.tree_map(
            lambda a: jnp.sqrt(jnp.mean(a * a)) if a.ndim else jnp.float32(1.0), params
        )
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
                params, state, loss, logits = step(
                    params, state, hard, jnp.asarray(y_train[idx]), tb
                )
                losses.append(float(loss))
                right += int((np.asarray(logits).argmax(1) == y_train[idx]).sum())
                seen += len(idx)
                bar.set_postfix_str(
                    f"epoch {epoch + 1}/{settings.epochs} loss {np.mean(losses):.3f} "
                    f"train acc {100 * right / seen:.1f} %"
                )
                bar.update(1)
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": float(np.mean(losses)),
                    "train_accuracy": right / seen,
                    "wall_s": time.perf_counter() - t0,
                }
            )
            if log:
                log(history[-1])
    finally:
        bar.close()
    return to_quant(qn, jax.tree_util.tree_map(np.asarray, params)), history
