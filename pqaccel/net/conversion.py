"""Conversion of an imported CNN for an engine: calibration, each layer by its engine's class.

Every ``conv``/``gemm`` of a :class:`~pqaccel.net.graph.Network` becomes an engine layer
``Y = im2col(X) @ W`` (see :func:`~pqaccel.net.graph.im2col`: with ``v = kh*kw`` one subvector is
one input channel's patch), converted for an engine by that engine's network-layer class
(:mod:`pqaccel.net.layer`): either

* ``pq`` (:class:`pqaccel.engines.pq.layer.PQLayer`): prototypes by k-means on the layer's
  *integer* input rows of the calibration images, produced by the already converted earlier
  layers (sequential calibration); tables are the quantized prototypes times the weights, with
  the bias folded into subspace 0's table.  With ``refit`` the float tables are then fitted by
  least squares (:func:`pqaccel.engines.pq.layer.refit_tables`) so that the sum of the looked-up
  entries reproduces the *float network's* output of that layer on the calibration images (the
  teacher), which also absorbs the error of the earlier PQ layers; or
* ``mac`` (:class:`pqaccel.engines.mac.layer.MacLayer`): kept conventional, int8 weights on the
  MAC engine's golden model; the bias rides on extra input columns that hold the constant
  ``qmax_in``, so the layer runs on the MAC engine unchanged.

The integer arithmetic of the result: :mod:`pqaccel.net.intmodel`.
"""

import numpy as np

from ..config import LayerConfig
from ..engines.pq.config import EngineConfig
from .graph import Network, conv_weight_matrix, run_float
from .interp import matmul_rows, unrows
from .intmodel import ADD_FRAC_BITS, IntBackend, QuantNetwork, fused_relus
from .layer import CONVENTIONAL, layer_class, out_range, qmax

__all__ = [
    "convert",
    "check_fit",
    "check_engine",
    "network_problem",
    "network_presets",
    "sweep_engine",
    "int8_mac_network",
]


def network_problem(engine: EngineConfig):
    """Why ``engine`` cannot run a network (``None`` if it can)."""
    if engine.requant.mode != "shift" or not engine.requant.runtime:
        missing = (
            []
            if engine.requant.mode == "shift"
            else [f"requant.mode='shift' (it has {engine.requant.mode!r})"]
        )
        if not engine.requant.runtime:
            missing.append(
                "requant.runtime=true (each layer sets its own shift and ReLU at run time)"
            )
        return "it lacks " + " and ".join(missing)
    if engine.widths.out_bits != engine.widths.in_bits:
        return (
            f"widths.out_bits must equal widths.in_bits={engine.widths.in_bits} (outputs feed the "
            f"next "
            f"layer), got {engine.widths.out_bits}"
        )
    return None


def network_presets():
    """The presets whose engines can run a network."""
    from ..presets import PRESETS, preset

    return [name for name in PRESETS if network_problem(preset(name)) is None]


def check_engine(engine: EngineConfig):
    """A network engine must requantize (``shift``, set per layer at run time) to the width it
    takes in."""
    problem = network_problem(engine)
    if problem:
        raise ValueError(
            f"this engine cannot run a network: {problem}; network presets: "
            f"{', '.join(network_presets())}"
        )


def check_fit(net, engine, keep=()):
    """Raise :class:`ValueError` for the first PQ layer that does not fit ``engine``."""
    for op in net.matmul_ops():
        if op.name in keep:
            continue
        d, m = conv_weight_matrix(op).shape
        try:
            engine.check_layer(LayerConfig(d=d, m=m))
        except ValueError as e:
            raise ValueError(
                f"layer {op.name!r} (d={d}, m={m}) does not fit the engine: {e}"
            ) from None


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
    probe = base.replace(
        v=v,
        k=k,
        c_max=c_max,
        m_max=max(m_max, base.m_max),
        metric=metric,
        par=Parallelism(1, 1, 1),
        widths=widths,
        requant=replace(base.requant, shift=0),
    )
    return probe.replace(
        requant=replace(base.requant, shift=min(base.requant.shift, probe.acc_bits - 1))
    )


def int8_mac_network(net, engine, calib_x):
    """The int8 MAC network (8-bit activations and weights, every layer conventional) that PQ
    accuracy is compared with, whatever widths ``engine`` has."""
    from ..config import Widths

    return convert(net, engine.replace(widths=Widths(8, 8, 8, 8)), calib_x, mac_only=True)


def _convert_layer(engine, op, mode, x_q, in_scale, relu, seed, percentile, teacher=None):
    """Layer ``op`` converted for the engine ``mode`` (its package's network-layer class) from
    its integer input ``x_q``; returns the layer and its integer output."""
    rows, geom = matmul_rows(op, x_q)
    d, m = conv_weight_matrix(op).shape
    engine.check_layer(LayerConfig(d=d, m=m))
    lq = layer_class(mode).convert(engine, op, rows, in_scale, relu, seed, percentile, teacher)
    return lq, unrows(lq.forward(engine, rows), geom)


def convert(
    net: Network,
    engine: EngineConfig,
    calib_x,
    *,
    keep=(),
    seed=0,
    percentile=99.99,
    mac_only=False,
    refit=False,
):
    """Convert ``net`` for ``engine`` with calibration images ``calib_x`` (float, ``N x
    input_shape``).

    ``keep``: names of conv/gemm layers kept conventional (``mac``); ``mac_only`` keeps all (the
    int8 MAC network).  Scales come from the ``percentile`` of the calibrated magnitudes.  Every
    layer is checked against ``engine`` first.  Raises :class:`ValueError` naming a layer that
    does not fit.  ``refit``: fit each PQ layer's float tables to the float network's output of
    that layer (:func:`pqaccel.engines.pq.layer.refit_tables`) before they are quantized.
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
    host = IntBackend(qn)  # the integer host semantics (add multipliers as they come)
    teacher = run_float(net, calib_x, keep=True) if refit and not mac_only else None
    env = {net.input: np.clip(np.rint(calib_x / in_scale), -q_in, q_in).astype(np.int64)}
    scales = {net.input: in_scale}
    host.scales = scales
    for i, op in enumerate(net.ops):
        a = env[op.inputs[0]]
        if op.is_matmul:
            mode = CONVENTIONAL if (mac_only or op.name in keep) else engine.kind
            lq, y = _convert_layer(
                engine,
                op,
                mode,
                a,
                scales[op.inputs[0]],
                op.name in relus,
                seed + 1000 * i,
                percentile,
                None if teacher is None else teacher[op.output],
            )
            qn.layers[op.name] = lq
            s = lq.out_scale
        elif op.kind == "relu" and op.name in fused_ops:
            y, s = a, scales[op.inputs[0]]  # already applied by the engine layer
        elif op.kind == "add":
            b = env[op.inputs[1]]
            sa, sb = scales[op.inputs[0]], scales[op.inputs[1]]
            f = a * sa + b * sb
            s = out_range(f, False, percentile) / q_in
            qn.add_mult[op.name] = (
                int(round(sa / s * 2**ADD_FRAC_BITS)),
                int(round(sb / s * 2**ADD_FRAC_BITS)),
            )
            y = host.host(op, a, b)
        else:
            y, s = host.host(op, *[env[t] for t in op.inputs]), scales[op.inputs[0]]
        env[op.output] = y
        scales[op.output] = s
    qn.scales = scales
    return qn
