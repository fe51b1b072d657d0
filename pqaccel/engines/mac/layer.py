"""A network layer kept conventional, on the MAC engine: int8 weights, the bias on extra input
columns that hold the constant ``qmax_in`` (:func:`bias_columns`), so the layer runs on the MAC
engine unchanged."""

from dataclasses import dataclass, replace

import numpy as np

from ...net.graph import conv_weight_matrix
from ...net.layer import EngineLayer, out_range, qmax, scale_and_shift
from .config import MacConfig
from .model import mac_forward

__all__ = ["MacLayer", "bias_columns", "mac_config", "MAC_SHIFT_MAX", "W_BITS"]

#: Weight width of a conventional layer.
W_BITS = 8
#: Largest run-time shift of the MAC engine that runs conventional layers (int8 x int8 sums of
#: hundreds of products need about 16 bits of shift to reach 8-bit outputs).
MAC_SHIFT_MAX = 20


def mac_config(engine, d_max, m_max, d_par=1, m_par=1):
    """The int8 MAC engine that runs a network's conventional layers (:meth:`MacConfig.for_engine`):
    the network engine's input and output width, rounding and saturation, 8-bit weights, run-time
    shift up to :data:`MAC_SHIFT_MAX`."""
    return MacConfig.for_engine(
        engine,
        d_max=d_max,
        m_max=m_max,
        d_par=d_par,
        m_par=m_par,
        w_bits=W_BITS,
        shift_max=MAC_SHIFT_MAX,
    )


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


def _quantize(engine, w, b, in_scale, acc_scale):
    qw = qmax(W_BITS)
    w_q = np.clip(np.rint(w * in_scale / acc_scale), -qw, qw).astype(np.int64)
    bias = bias_columns(
        np.rint(b / (acc_scale * qmax(engine.widths.in_bits))).astype(np.int64), W_BITS
    )
    return np.concatenate([w_q, bias]), len(bias)


@dataclass
class MacLayer(EngineLayer):
    """``w``: ``(d + bias_cols) x M`` integer weights, the last ``bias_cols`` rows carrying the
    bias."""

    w: np.ndarray = None

    mode = "mac"

    @classmethod
    def convert(cls, engine, op, rows, in_scale, relu, seed, percentile, teacher=None):
        w = conv_weight_matrix(op)
        d, m = w.shape
        y = rows * in_scale @ w + op.b
        shift, acc_scale = scale_and_shift(
            in_scale * float(np.abs(w).max()) / qmax(W_BITS),
            out_range(y, relu, percentile) / qmax(engine.widths.out_bits),
            mac_config(engine, d, m).requant.shift,
        )
        w_q, bias_cols = _quantize(engine, w, op.b, in_scale, acc_scale)
        return cls(
            op.name, d, m, relu, shift, in_scale, acc_scale, acc_scale * 2**shift, bias_cols, w=w_q
        )

    def config(self, engine):
        return mac_config(engine, self.d + self.bias_cols, self.m)

    def engine_rows(self, engine, rows):
        """``rows`` and the bias columns (the constant ``qmax_in``)."""
        return np.concatenate(
            [rows, np.full((len(rows), self.bias_cols), qmax(engine.widths.in_bits), np.int64)],
            axis=1,
        )

    def forward(self, engine, rows):
        x = self.engine_rows(engine, rows)
        return mac_forward(self.config(engine), x, self.w, self.shift, self.relu)

    def float_forward(self, engine, op, rows):
        return rows @ conv_weight_matrix(op) + op.b

    def job(self, manifest, engine, rows):
        from .job import MacJob

        return MacJob(manifest, self.engine_rows(engine, rows), self.w, self.shift, self.relu)

    def arrays(self):
        return {"w": self.w}

    def load_arrays(self, engine, get):
        self.w = get("w", (self.d + self.bias_cols, self.m), True, W_BITS)

    def table_bits(self, engine):
        """Conventional layers load weights, not tables: 0."""
        return 0

    def describe(self, engine):
        return "-"

    def params(self, engine, op):
        return {"W": conv_weight_matrix(op).astype(np.float64), "b": np.array(op.b, float)}

    def from_params(self, engine, p):
        w_q, bias_cols = _quantize(engine, p["W"], p["b"], self.in_scale, self.acc_scale)
        return replace(self, w=w_q, bias_cols=bias_cols)

    def soft_forward(self, jax, jnp, engine, p, rows, gap):
        return rows @ p["W"] + p["b"]
