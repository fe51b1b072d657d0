import numpy as np
import pytest

from pqaccel.engines.pq import model
from pqaccel import fixedpoint as fx
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import LayerConfig, Requant, Widths, METRICS, ROUNDINGS

from naive_reference import naive_forward, naive_requant


def random_engine(rng):
    k = int(rng.choice([2, 3, 4, 8, 16, 64]))
    v = int(rng.choice([1, 2, 3, 4, 9]))
    widths = Widths(*(int(b) for b in rng.choice([2, 3, 5, 8, 12, 16], size=4)))
    c_max = int(rng.integers(1, 12))
    lut_bits = widths.lut_bits
    acc_bits = fx.signed_bits_for(
        c_max * -(1 << (lut_bits - 1)), c_max * ((1 << (lut_bits - 1)) - 1)
    )
    if rng.random() < 0.3:
        rq = Requant(mode="raw")
    else:
        rq = Requant(
            mode="shift",
            shift=int(rng.integers(0, acc_bits)),
            rounding=str(rng.choice(ROUNDINGS)),
            saturate=bool(rng.random() < 0.5),
        )
    return EngineConfig(
        v=v, k=k, c_max=c_max, m_max=8, metric=str(rng.choice(METRICS)), widths=widths, requant=rq
    )


def run_case(cfg, x, protos, lut):
    got = model.forward(cfg, x, protos, lut)
    want = np.array(naive_forward(cfg, x.tolist(), protos.tolist(), lut.tolist()), dtype=np.int64)
    return got, want


def test_hand_checked():
    # v=2, k=3, one subspace, L1.  x=(1, 2): distances to (0,0),(1,1),(3,3) are 3, 1, 3 -> k=1.
    cfg = EngineConfig(v=2, k=3, c_max=2, m_max=2, metric="l1", widths=Widths(lut_bits=12))
    protos = np.array([[[0, 0], [1, 1], [3, 3]], [[0, 0], [5, 5], [-5, -5]]])
    lut = np.array([[[1, 2], [10, 20], [100, 200]], [[3, 4], [30, 40], [-7, -8]]])
    # second subspace: x=(-4, -6): L1 to (0,0)=10, (5,5)=20, (-5,-5)=2 -> k=2
    y = model.forward(cfg, np.array([[1, 2, -4, -6]]), protos, lut)
    assert y.tolist() == [[10 - 7, 20 - 8]]
    # x=(4,0): L1 distances 4, 4, 4 (all tie -> k=0); L2 16, 10, 10 (-> k=1); Chebyshev 4, 3, 3 (->
    # k=1)
    x = np.array([[4, 0, 0, 0]])
    assert model.forward(cfg, x, protos, lut)[0].tolist() == [1 + 3, 2 + 4]
    assert model.forward(cfg.replace(metric="l2"), x, protos, lut)[0].tolist() == [10 + 3, 20 + 4]
    assert model.forward(cfg.replace(metric="chebyshev"), x, protos, lut)[0].tolist() == [13, 24]
    # x=(4,1): L1 5, 3, 3 (-> k=1); L2 17, 9, 5 (-> k=2); Chebyshev 4, 3, 2 (-> k=2)
    x = np.array([[4, 1, 0, 0]])
    assert model.forward(cfg, x, protos, lut)[0].tolist() == [13, 24]
    assert model.forward(cfg.replace(metric="l2"), x, protos, lut)[0].tolist() == [103, 204]
    assert model.forward(cfg.replace(metric="chebyshev"), x, protos, lut)[0].tolist() == [103, 204]


def test_requantize_hand_checked():
    acc = np.array([-7, -6, -5, -2, 2, 5, 6, 7, 100, -100])

    def r(**kw):
        return fx.requantize_np(acc, Requant(mode="shift", shift=2, **kw), 4).tolist()

    # /4: -1.75 -1.5 -1.25 -0.5 0.5 1.25 1.5 1.75 25 -25
    assert r(rounding="floor") == [-2, -2, -2, -1, 0, 1, 1, 1, 7, -8]
    assert r(rounding="half_up") == [-2, -1, -1, 0, 1, 1, 2, 2, 7, -8]
    assert r(rounding="half_even") == [-2, -2, -1, 0, 0, 1, 2, 2, 7, -8]
    # wrapping 25 and -25 into 4 bits: 25-32=-7, -25+32=7
    assert r(rounding="floor", saturate=False)[-2:] == [-7, 7]


def test_requantize_matches_naive():
    rng = np.random.default_rng(5)
    for _ in range(200):
        cfg = random_engine(rng)
        lo, hi = cfg.acc_range
        acc = rng.integers(lo, hi + 1, size=50)
        got = model.requantize(cfg, acc).tolist()
        assert got == [naive_requant(cfg, int(a)) for a in acc]


def test_random_vs_naive_1000_cases():
    rng = np.random.default_rng(2024)
    mismatches = 0
    for _ in range(1000):
        cfg = random_engine(rng)
        layer = LayerConfig(
            d=int(rng.integers(1, cfg.v * cfg.c_max + 1)),
            m=int(rng.integers(1, 9)),
            n=int(rng.integers(1, 6)),
        )
        protos, lut = model.random_tables(cfg, layer, rng)
        x = model.random_inputs(cfg, layer, rng)
        got, want = run_case(cfg, x, protos, lut)
        assert got.shape == want.shape
        mismatches += int(np.sum(got != want))
    assert mismatches == 0


@pytest.mark.parametrize("metric", METRICS)
def test_adversarial(metric):
    rng = np.random.default_rng(7)
    for bits in (2, 16):
        w = Widths(in_bits=bits, proto_bits=bits, lut_bits=bits, out_bits=bits)
        lo, hi = fx.signed_range(bits)
        for v, k, m, d in ((1, 2, 1, 1), (3, 4, 1, 7), (9, 8, 3, 10), (2, 64, 2, 5)):
            c = -(-d // v)
            cfg = EngineConfig(v=v, k=k, c_max=c, m_max=m, metric=metric, widths=w)
            lut = rng.integers(lo, hi + 1, size=(c, k, m))
            # all prototypes equal: every distance ties, index 0 must win
            protos = np.full((c, k, v), hi)
            x = np.full((3, d), lo)
            got, want = run_case(cfg, x, protos, lut)
            assert (got == want).all() and (got[0] == lut[:, 0, :].sum(0)).all()
            # extreme values on both sides, maximal distances
            protos = rng.choice([lo, hi], size=(c, k, v))
            x = rng.choice([lo, hi], size=(4, d))
            got, want = run_case(cfg, x, protos, lut)
            assert (got == want).all()
            # the largest distance fits the derived width
            assert fx.distance_np(metric, np.full(v, lo), np.full(v, hi)).max() <= cfg.dist_max
            assert cfg.dist_max < (1 << cfg.dist_bits)


def test_accumulator_never_wraps():
    cfg = EngineConfig(v=1, k=2, c_max=64, m_max=1, widths=Widths(lut_bits=16))
    lo, hi = fx.signed_range(16)
    for value in (lo, hi):
        lut = np.full((64, 2, 1), value)
        acc = model.accumulate(cfg, np.zeros((1, 64), dtype=np.int64), lut)
        lo_acc, hi_acc = fx.signed_range(cfg.acc_bits)
        assert acc[0, 0] == 64 * value and lo_acc <= acc[0, 0] <= hi_acc


def test_forward_rejects_bad_input():
    cfg = EngineConfig(v=2, k=2, c_max=2, m_max=2, widths=Widths(in_bits=4))
    protos = np.zeros((1, 2, 2), dtype=np.int64)
    lut = np.zeros((1, 2, 2), dtype=np.int64)
    with pytest.raises(
        ValueError,
        match=r"^x must hold 4-bit signed integers in \[-8, 7\], got values in \[0, 8\]$",
    ):
        model.forward(cfg, np.array([[0, 8]]), protos, lut)
    with pytest.raises(ValueError, match=r"^protos must have shape"):
        model.forward(cfg, np.array([[0, 1, 2]]), protos, lut)


def test_train_deterministic_and_accurate():
    rng = np.random.default_rng(0)
    cfg = EngineConfig(
        v=4,
        k=16,
        c_max=4,
        m_max=4,
        metric="l2",
        widths=Widths(in_bits=8, proto_bits=8, lut_bits=8, out_bits=16),
    )
    centers = rng.normal(size=(8, 16))
    x = centers[rng.integers(0, 8, size=600)] + 0.05 * rng.normal(size=(600, 16))
    w = rng.normal(size=(16, 4))
    t1 = model.train(cfg, x[:400], w, seed=3)
    t2 = model.train(cfg, x[:400], w, seed=3)
    assert np.array_equal(t1.protos, t2.protos) and np.array_equal(t1.lut, t2.lut)
    # the table is the prototypes times the weights
    assert np.allclose(t1.lut_f[1], t1.protos_f[1] @ w[4:8])
    stats = model.evaluate(cfg, t1, x[400:], w)
    # 8 tight clusters, 16 prototypes: PQ is near exact, and 8-bit quantization adds little
    assert stats["float_pq"]["rel_fro"] < 0.1
    assert stats["quantized_pq"]["rel_fro"] < 0.1
    assert stats["quant_gap_rel_fro"] < 0.05
    # more prototypes never make the float approximation worse on training data
    assert np.abs(t1.protos).max() <= 127 and np.abs(t1.lut).max() <= 127


def test_quantize_symmetric():
    q, s = model.quantize_symmetric(np.array([-2.0, 0.5, 1.0]), 3)
    assert s == pytest.approx(2.0 / 3) and q.tolist() == [-3, 1, 2]
    q, s = model.quantize_symmetric(np.zeros(3), 4)
    assert s == 1.0 and q.tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    "x, exc, message",
    [
        (np.full((2, 8), 0.7), TypeError, r"^x must be an array of integers, got dtype float64$"),
        (
            np.ones((2, 8), dtype=bool),
            TypeError,
            r"^x must be an array of integers, got dtype bool$",
        ),
        (
            np.array([[np.nan] * 8]),
            TypeError,
            r"^x must be an array of integers, got dtype float64$",
        ),
        (
            np.zeros((2, 8)),
            TypeError,
            r"^x must be an array of integers, got dtype float64 \(whole-valued floats",
        ),
        (np.zeros(8, dtype=np.int64), ValueError, r"^x must be a 2-D array, got shape \(8,\)$"),
        ([["a"] * 8], TypeError, r"^x must be an array of integers, got dtype <U1$"),
    ],
)
def test_forward_rejects_non_integer_inputs(x, exc, message):
    cfg = EngineConfig(v=4, k=2, c_max=2, m_max=2)
    protos = np.zeros((2, 2, 4), dtype=np.int64)
    lut = np.zeros((2, 2, 2), dtype=np.int64)
    with pytest.raises(exc, match=message):
        model.forward(cfg, x, protos, lut)


def test_forward_rejects_float_tables():
    cfg = EngineConfig(v=4, k=2, c_max=2, m_max=2)
    x = np.zeros((1, 8), dtype=np.int64)
    with pytest.raises(TypeError, match=r"^lut must be an array of integers"):
        model.forward(cfg, x, np.zeros((2, 2, 4), dtype=np.int64), np.full((2, 2, 2), 0.5))
    # plain Python integer lists are integers
    assert model.forward(
        cfg,
        x.tolist(),
        np.zeros((2, 2, 4), dtype=int).tolist(),
        np.ones((2, 2, 2), dtype=int).tolist(),
    ).tolist() == [[2, 2]]


@pytest.mark.parametrize("metric", ["l1", "l2", "chebyshev"])
@pytest.mark.parametrize("top", [3, 2**7, 2**14 - 1, 2**14, 2**15])
def test_narrow_distances_equal_the_int64_ones(metric, top):
    """The narrow dtype that :func:`pqaccel.model.encode` computes in is chosen from the
    inputs' range: the same distances as in ``int64`` up to each dtype's edge (both signs)."""
    rng = np.random.default_rng(top)
    x = rng.integers(-top, top + 1, size=(300, 4, 1, 3))
    p = rng.integers(-top, top + 1, size=(1, 4, 7, 3))
    x[0, 0, 0] = top
    p[0, 0, 0] = -top
    wide = fx.distance_np(metric, x, p)
    narrow = fx.distance_np(metric, x, p, narrow=True)
    assert wide.dtype == np.int64
    assert np.array_equal(wide, narrow)
