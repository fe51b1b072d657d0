"""The integer network model (the golden network model): a converted network
(:class:`QuantNetwork`) run by the network interpreter with integer semantics.

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

from dataclasses import dataclass, field

import numpy as np

from ..engines.pq.config import EngineConfig
from .graph import Network
from .interp import Deferred, matmul_rows, run, semantics, unrows, walk
from .layer import qmax

__all__ = [
    "ADD_FRAC_BITS",
    "QuantNetwork",
    "IntBackend",
    "fused_relus",
    "quantize_input",
    "run_int",
    "walk_int",
    "table_bits",
]

#: Fraction bits of a residual add's multipliers.
ADD_FRAC_BITS = 16


@dataclass
class QuantNetwork:
    """A converted network: the graph, the engine configuration, per-layer
    :class:`~pqaccel.net.layer.EngineLayer`,
    the input scale and, per host tensor, its scale."""

    net: Network
    engine: EngineConfig
    layers: dict
    in_scale: float
    scales: dict = field(default_factory=dict)
    add_mult: dict = field(default_factory=dict)

    def engine_layers(self):
        return [self.layers[op.name] for op in self.net.matmul_ops()]


def fused_relus(net):
    """``{matmul op name: relu op}`` for every Relu (or Clip with lower bound 0, whose ceiling
    stays on the host) that is the only consumer of a conv/gemm: the engine applies the ReLU."""
    out = {}
    for op in net.matmul_ops():
        users = net.consumers(op.output)
        if len(users) == 1 and (
            users[0].kind == "relu" or (users[0].kind == "clip" and users[0].lo == 0)
        ):
            out[op.name] = users[0]
    return out


class IntBackend:
    """The integer golden network model as an interpreter backend (:mod:`pqaccel.net.interp`):
    inputs quantized, engine layers through the engines' golden models (or ``engine_layer(lq,
    rows)``), a fused ReLU already applied by its layer, host ops with their integer semantics.
    ``defer``: layers of this mode (``pq``/``mac``) are handed to the walk's driver instead."""

    def __init__(self, qn, engine_layer=None, defer=None):
        self.qn = qn
        self.engine_layer = engine_layer or (lambda lq, rows: lq.forward(qn.engine, rows))
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
            return args[0]  # already applied by the engine layer
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


def table_bits(qn):
    """Bits of every PQ table and codebook of the network (what the table port must load)."""
    return sum(lq.table_bits(qn.engine) for lq in qn.engine_layers())
