"""The MAC engine's golden model: exact ``x @ w``, then the same requantization as the PQ engine."""

from ... import fixedpoint as fx
from ...config import LayerConfig
from .config import MacConfig

__all__ = ["mac_forward"]


def mac_forward(cfg: MacConfig, x, w, shift=None, relu=False):
    """Exact ``x @ w`` (``int64``), then the configured requantization (with ``requant.runtime``,
    the layer's ``shift`` and ``relu``)."""
    x = fx.as_int_array("x", x, 2)
    w = fx.as_int_array("w", w, 2)
    fx.check_signed_range("x", x, cfg.in_bits)
    fx.check_signed_range("w", w, cfg.w_bits)
    cfg.check_layer(LayerConfig(d=x.shape[1], m=w.shape[1], n=max(1, x.shape[0])))
    return fx.requantize_np(x @ w, cfg.requant, cfg.out_bits, shift, relu)
