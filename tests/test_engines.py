"""The engine registry and what every engine package provides: its parts load, counts agree with
what they count, and the one rule for a matching MAC engine."""

import numpy as np
import pytest

from pqaccel.config import LayerConfig, Requant
from pqaccel.engines import ENGINES, engine_entry, engine_from_manifest
from pqaccel.engines.mac.config import MacConfig
from pqaccel.jobs import Job
from pqaccel.net.layer import EngineLayer, layer_class
from pqaccel.presets import PRESETS, preset


def test_every_engine_package_provides_its_parts():
    assert set(ENGINES) == {"pq", "mac"}
    for kind, entry in ENGINES.items():
        assert entry.kind == kind == entry.config.kind
        assert issubclass(entry.load("job"), Job)
        assert issubclass(entry.load("layer"), EngineLayer) and entry.load("layer").mode == kind
        assert layer_class(kind) is entry.load("layer")
        assert callable(entry.load("rtl"))
    with pytest.raises(ValueError, match=r"^engine kind must be one of mac, pq, got 'fft'$"):
        engine_entry("fft")
    with pytest.raises(ValueError, match=r"^manifest kind must be one of mac, pq, got 'fft'$"):
        engine_from_manifest({"kind": "fft", "engine": {}})


def _random_arrays(cfg, layer, rng):
    if cfg.kind == "pq":
        c = cfg.subspaces(layer)
        return {
            "protos": rng.integers(-3, 4, size=(c, cfg.k, cfg.v)),
            "lut": rng.integers(-3, 4, size=(c, cfg.k, layer.m)),
        }
    return {"w": rng.integers(-3, 4, size=(layer.d, layer.m))}


@pytest.mark.parametrize("name", ["default", "resnet20-v9k8", "resnet20-v9k8-net", "net-v3k32"])
@pytest.mark.parametrize("kind", ["pq", "mac"])
def test_write_count_is_the_number_of_writes(name, kind):
    """The cycle model's count (``write_count``) equals the writes the address map makes, for
    random layer shapes, with and without the wide port."""
    rng = np.random.default_rng(7)
    base = PRESETS[name] if kind == "pq" else MacConfig.for_engine(PRESETS[name], d_par=5, m_par=3)
    for wide in (False, True):
        cfg = base.replace(wide_port=wide)
        amap = cfg.address_map()
        for _ in range(4):
            layer = LayerConfig(
                d=int(rng.integers(1, min(cfg.d_max, 200) + 1)),
                m=int(rng.integers(1, cfg.m_max + 1)),
            )
            shift = 0 if cfg.requant.runtime else None  # a fixed requantization takes none
            arrays = _random_arrays(cfg, layer, rng)
            lq = layer_class(kind)("x", layer.d, layer.m, False, shift, 1.0, 1.0, 1.0, **arrays)
            assert amap.write_count(lq.engine_shape()) == len(amap.layer_writes(lq)), (cfg, layer)


def test_one_rule_for_the_matching_mac_engine():
    pq = preset("resnet20-v9k8-net")
    mac = MacConfig.for_engine(pq)
    assert (mac.d_max, mac.m_max, mac.in_bits, mac.out_bits) == (pq.d_max, pq.m_max, 8, 8)
    assert mac.requant == pq.requant and mac.wide_port == pq.wide_port
    assert (mac.d_par, mac.m_par) == (9, 16)
    # a network's conventional layers: run-time shift up to min(shift_max, acc_bits - 1)
    small = MacConfig.for_engine(pq, d_max=10, m_max=3, d_par=64, m_par=64, shift_max=20)
    assert (small.d_par, small.m_par) == (10, 3)
    assert small.requant == Requant(
        "shift", min(20, small.acc_bits - 1), pq.requant.rounding, pq.requant.saturate, runtime=True
    )
