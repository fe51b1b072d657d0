"""A deliberately naive reference: plain Python loops and floats, no NumPy broadcasting.

It restates the dataflow of docs/architecture.md and the rules of docs/fixedpoint.md directly,
so the vectorized golden model can be checked against it.
"""

import math


def naive_forward(cfg, x, protos, lut, shift=None, relu=False):
    v, k = cfg.v, cfg.k
    d = len(x[0])
    c_count = math.ceil(d / v)
    m_count = len(lut[0][0])
    out = []
    for row in x:
        padded = [float(e) for e in row] + [0.0] * (c_count * v - d)
        y = [0.0] * m_count
        for c in range(c_count):
            sub = padded[c * v : (c + 1) * v]
            best, best_k = None, None
            for kk in range(k):
                diffs = [abs(sub[i] - float(protos[c][kk][i])) for i in range(v)]
                if cfg.metric == "l1":
                    dist = sum(diffs)
                elif cfg.metric == "l2":
                    dist = sum(e * e for e in diffs)
                else:
                    dist = max(diffs)
                if best is None or dist < best:  # strict: the lowest index wins a tie
                    best, best_k = dist, kk
            for m in range(m_count):
                y[m] += float(lut[c][best_k][m])
        out.append([naive_requant(cfg, a, shift, relu) for a in y])
    return out


def naive_requant(cfg, acc, shift=None, relu=False, out_bits=None):
    rq = cfg.requant
    if rq.mode == "raw":
        return int(acc)
    shift = rq.shift if shift is None else shift
    out_bits = cfg.widths.out_bits if out_bits is None else out_bits
    q = acc / 2.0**shift  # exact in float64 for these magnitudes
    if rq.rounding == "floor":
        q = math.floor(q)
    elif rq.rounding == "half_up":
        q = math.floor(q + 0.5)
    else:
        q = round(q)  # Python rounds half to even
    lo, hi = -(2 ** (out_bits - 1)), 2 ** (out_bits - 1) - 1
    if rq.saturate:
        q = int(min(hi, max(lo, q)))
    else:
        span = 2**out_bits
        q = int((q - lo) % span + lo)
    return max(q, 0) if relu else q
