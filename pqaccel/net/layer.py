"""A converted engine layer: the base every engine's network layer derives from, and the rules
all of them share (scales, shifts, output ranges).

A network layer (``conv``/``gemm`` as ``Y = im2col(X) @ W``) is converted for one engine; its
class lives in the engine's package (``pqaccel.engines.<kind>.layer``, found through the
registry :data:`pqaccel.engines.ENGINES`) and answers everything the network side asks of it:

* ``convert(engine, op, rows, in_scale, relu, seed, percentile, teacher)`` (class method): the
  layer from its calibration rows, with its integer output;
* ``forward(engine, rows)``: the integer output (the engine's golden model, fused ReLU included);
* ``float_forward(engine, op, rows)``: the float reference of the converted layer;
* ``config(engine)`` and ``engine_shape()``: the engine configuration and :class:`LayerConfig`
  it runs as (``engine``: the network's engine); ``engine_rows(engine, rows)``: the engine's input
  rows; ``job(manifest, engine, rows)``: a :class:`pqaccel.jobs.Job` to run it on the RTL;
* ``arrays()`` / ``load_arrays(engine, get)``: its arrays in a bundle; ``table_bits(engine)``;
* ``params(engine, op)``, ``from_params(engine, p)``, ``soft_forward(jax, jnp, engine, p, rows,
  gap)`` and ``distance_gap(engine, rows)``: the differentiable training forward
  (:mod:`pqaccel.net.finetune`).

Writes and cycles come from the engine: ``cfg.address_map().layer_writes(layer)``,
``write_count(layer.engine_shape())`` and ``cfg.row_latency(...)``.
"""

from dataclasses import dataclass

import numpy as np

from ..engines import engine_entry

__all__ = [
    "EngineLayer",
    "layer_class",
    "SCALAR_FIELDS",
    "CONVENTIONAL",
    "qmax",
    "scale_and_shift",
    "out_range",
]

#: The engine of the layers a conversion keeps conventional (``--keep``, ``--mac-only``).
CONVENTIONAL = "mac"

#: The fields every layer stores in a bundle's ``network.json`` (besides its arrays).
SCALAR_FIELDS = (
    "name",
    "mode",
    "d",
    "m",
    "relu",
    "shift",
    "in_scale",
    "acc_scale",
    "out_scale",
    "bias_cols",
)


def qmax(bits):
    """Largest magnitude of a symmetric ``bits``-bit integer: ``2**(bits-1) - 1``."""
    return (1 << (bits - 1)) - 1


def scale_and_shift(unit_min, s_y, shift_max):
    """``(shift, acc_scale)``: the largest ``shift <= shift_max`` with ``s_y / 2**shift >=
    unit_min`` (0 if none), and ``acc_scale = max(unit_min, s_y / 2**shift)``."""
    shift = (
        int(np.clip(np.floor(np.log2(s_y / unit_min)), 0, shift_max)) if unit_min > 0 else shift_max
    )
    return shift, max(unit_min, s_y / 2**shift)


def out_range(y, relu, percentile):
    """The calibrated magnitude of outputs ``y``: their ``percentile`` (after the ReLU)."""
    a = np.maximum(y, 0) if relu else np.abs(y)
    top = float(np.percentile(a, percentile)) if percentile < 100 else float(a.max(initial=0))
    return top if top > 0 else 1.0


def layer_class(mode):
    """The network-layer class of the engine ``mode`` (:class:`ValueError` naming the valid
    ones)."""
    return engine_entry(mode, "layer mode").load("layer")


@dataclass
class EngineLayer:
    """One converted engine layer.  ``mode`` (class attribute): the engine kind it runs on.
    Scales: ``in_scale`` (input integers), ``acc_scale`` (one unit of the accumulator),
    ``out_scale = acc_scale * 2**shift``.  ``bias_cols``: input columns an engine adds to carry
    the bias (0 where the bias is elsewhere)."""

    name: str
    d: int
    m: int
    relu: bool
    shift: int
    in_scale: float
    acc_scale: float
    out_scale: float
    bias_cols: int = 0

    mode = None

    def scalars(self):
        """The layer's ``network.json`` entry."""
        return {
            f: (float(getattr(self, f)) if "scale" in f else getattr(self, f))
            for f in SCALAR_FIELDS
        }

    @staticmethod
    def from_scalars(d):
        """The layer (arrays not yet loaded) of a ``network.json`` entry; :class:`ValueError` for
        an unknown mode, :class:`KeyError`/:class:`TypeError` for a missing or extra entry."""
        cls = layer_class(d["mode"])
        return cls(**{f: d[f] for f in SCALAR_FIELDS if f != "mode"})

    def engine_shape(self):
        """The :class:`~pqaccel.config.LayerConfig` the engine runs (inputs incl. bias columns)."""
        from ..config import LayerConfig

        return LayerConfig(d=self.d + self.bias_cols, m=self.m)

    def engine_rows(self, engine, rows):
        """The engine's input rows for the layer's integer input rows."""
        return rows

    def config(self, engine):
        """The engine configuration this layer runs on, given the network's engine."""
        return engine

    def distance_gap(self, engine, rows):
        """The training forward's temperature unit (None: the layer has no soft assignment)."""
        return None
