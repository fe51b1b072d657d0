import re

import numpy as np
import pytest

from pqaccel.config import LayerConfig, Requant
from pqaccel.presets import preset
from pqaccel.engines.mac.config import MacConfig
from pqaccel.engines.mac.model import mac_forward
from pqaccel.engines.mac.addrmap import MacAddressMap

from naive_reference import naive_requant


def test_init_derived():
    c = MacConfig(d_max=576, m_max=64, d_par=9, m_par=16, in_bits=8, w_bits=8)
    # products of two 8-bit signed numbers: [-128*127, 128*128] -> 16 bits signed (+16384 needs 16)
    assert c.product_range == (-16256, 16384) and c.product_bits == 16
    # 576 products: [-9363456, 9437184] -> 25 bits signed
    assert c.acc_bits == 25
    layer = LayerConfig(d=144, m=16, n=1024)
    assert c.ideal_cycles_per_row(layer) == 16 * 1
    assert c.multiplier_utilization(layer) == 1.0
    assert c.multiplier_utilization(LayerConfig(d=27, m=16)) == 1.0
    assert c.multiplier_utilization(LayerConfig(d=20, m=10)) == pytest.approx(200 / (3 * 9 * 16))


def test_for_engine():
    c = MacConfig.for_engine(preset("resnet20-v9k8"))
    assert (c.d_max, c.m_max, c.in_bits, c.d_par, c.m_par) == (576, 64, 8, 9, 16)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(d_par=0), "d_par must be an integer from 1 to d_max=576, got 0"),
        (dict(m_max=8, m_par=9), "m_par must be an integer from 1 to m_max=8, got 9"),
        (dict(w_bits=1), "w_bits must be an integer from 2 to 16, got 1"),
    ],
)
def test_wrong(kw, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        MacConfig(**kw)


def test_forward_matches_naive():
    rng = np.random.default_rng(0)
    for rq in (
        Requant("raw"),
        Requant("shift", 5, "half_even", True),
        Requant("shift", 3, "floor", False),
    ):
        c = MacConfig(
            d_max=20, m_max=6, d_par=4, m_par=2, in_bits=7, w_bits=5, out_bits=9, requant=rq
        )
        x = rng.integers(-64, 64, size=(7, 13))
        w = rng.integers(-16, 16, size=(13, 6))
        got = mac_forward(c, x, w)
        for r in range(7):
            for m in range(6):
                acc = sum(int(x[r, d]) * int(w[d, m]) for d in range(13))
                assert got[r, m] == naive_requant(_as_engine(c), acc)


def _as_engine(c):
    class E:  # the naive requantizer reads cfg.requant and cfg.widths.out_bits
        requant = c.requant

        class widths:
            out_bits = c.out_bits

    return E


def test_weight_writes_cover_every_weight():
    c = MacConfig(d_max=10, m_max=5, d_par=3, m_par=2)
    amap = MacAddressMap(c)
    w = np.arange(50).reshape(10, 5) - 25
    writes = amap.weight_writes(w)
    body = [(a, d) for a, d in writes if a >> amap.body_bits == 0]
    assert len(body) == 50 and len({a for a, _ in body}) == 50
