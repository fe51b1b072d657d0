"""Width, rounding and saturation rules shared by the golden model and the RTL.

This is the one place where the integer behaviour of the engine is defined.  The table in
``docs/fixedpoint.md`` states the same rules in prose.  The NumPy functions (``*_np``) are what the
golden model uses; the Amaranth functions (``*_hdl``) build the same arithmetic as hardware, and
the tests check each against the other.
"""

import numpy as np

__all__ = [
    "field_bits",
    "tree_levels",
    "signed_range",
    "signed_bits_for",
    "diff_abs_max",
    "dist_max",
    "distance_np",
    "requantize_np",
    "requantize_hdl",
    "requantize_runtime_hdl",
    "requant_shift_hdl",
    "requant_finish_hdl",
    "requant_round_hdl",
    "requant_clamp_hdl",
    "requant_bits",
    "as_int_array",
    "check_signed_range",
]


def field_bits(n):
    """Bits of an index ranging over ``n`` values (0 for ``n == 1``)."""
    return (n - 1).bit_length()


def tree_levels(n):
    """Levels of a binary reduction tree over ``n`` leaves."""
    return (n - 1).bit_length()


def signed_range(bits):
    """``(lo, hi)`` of a ``bits``-wide two's-complement number."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def signed_bits_for(lo, hi):
    """Smallest two's-complement width that holds every integer in ``[lo, hi]``."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def diff_abs_max(in_bits, proto_bits):
    """Largest ``|x - p|`` for ``x`` of ``in_bits`` and ``p`` of ``proto_bits`` (both signed)."""
    return (1 << (in_bits - 1)) + (1 << (proto_bits - 1)) - 1


def dist_max(metric, v, in_bits, proto_bits):
    """Largest distance between a ``v``-element input and prototype, for ``metric``."""
    d = diff_abs_max(in_bits, proto_bits)
    if metric == "l1":
        return v * d
    if metric == "l2":
        return v * d * d
    if metric == "chebyshev":
        return d
    raise ValueError(f"metric must be one of 'l1', 'l2', 'chebyshev', got {metric!r}")


def distance_np(metric, x, p, narrow=False):
    """Exact integer distance over the last axis (broadcasting ``x`` against ``p``).

    L1 is ``sum |x-p|``, L2 is ``sum (x-p)**2`` (no square root: the order is the same and the
    value stays an integer), Chebyshev is ``max |x-p|``.  ``int64``; with ``narrow`` in the
    narrowest of ``int16``/``int32``/``int64`` that holds every possible value for these inputs
    (the same numbers, faster: what an argmin needs).
    """
    if metric not in ("l1", "l2", "chebyshev"):
        raise ValueError(f"metric must be one of 'l1', 'l2', 'chebyshev', got {metric!r}")
    x = np.asarray(x, dtype=np.int64)
    p = np.asarray(p, dtype=np.int64)
    v = max(x.shape[-1], p.shape[-1])
    dtype = np.int64
    if narrow and x.size and p.size:
        e_max = int(np.abs(x).max()) + int(np.abs(p).max())
        top = {"l1": v * e_max, "l2": v * e_max * e_max, "chebyshev": e_max}[metric]
        dtype = np.int16 if top < 2**15 else np.int32 if top < 2**31 else np.int64
        x, p = x.astype(dtype), p.astype(dtype)
    out = None
    # one element position at a time: no temporary with the (short) last axis, whose
    # reduction would dominate the time of a network's integer model
    for j in range(v):
        e = np.abs(x[..., j if x.shape[-1] > 1 else 0] - p[..., j if p.shape[-1] > 1 else 0])
        if metric == "l2":
            e = e * e
        if out is None:
            out = e
        elif metric == "chebyshev":
            out = np.maximum(out, e)
        else:
            out = out + e
    return out


def requant_bits(requant, acc_bits, out_bits):
    """Width of the requantized output."""
    return out_bits if requant.mode == "shift" else acc_bits


def requantize_np(acc, requant, out_bits, shift=None, relu=False):
    """Requantize exact accumulator values (``int64`` array) as the hardware does.

    ``raw``: unchanged.  ``shift``: ``q = round(acc / 2**shift)`` with ``floor`` (arithmetic shift),
    ``half_up`` (``floor((acc + 2**(shift-1)) / 2**shift)``, ties towards +inf) or ``half_even``
    (ties to the even quotient); then saturate to ``[-2**(out_bits-1), 2**(out_bits-1)-1]`` or wrap
    modulo ``2**out_bits`` into the same range; then, with ``relu``, ``max(q, 0)``.  ``shift`` and
    ``relu`` are a layer's run-time settings (``requant.runtime``); ``shift=None`` is
    ``requant.shift``.
    """
    acc = np.asarray(acc, dtype=np.int64)
    s, relu = requant.check_layer_settings(shift, relu)
    if requant.mode == "raw":
        return acc.copy()
    q = _requantize_np(acc, requant, out_bits, s)
    return np.maximum(q, 0) if relu else q


def _requantize_np(acc, requant, out_bits, s):
    q = acc >> s
    if s > 0 and requant.rounding != "floor":
        rem = acc & ((1 << s) - 1)
        half = 1 << (s - 1)
        if requant.rounding == "half_up":
            q = q + (rem >= half)
        else:
            q = q + ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    lo, hi = signed_range(out_bits)
    if requant.saturate:
        return np.clip(q, lo, hi)
    return ((q - lo) & ((1 << out_bits) - 1)) + lo


def requantize_hdl(acc, requant, out_bits):
    """Amaranth expression computing :func:`requantize_np` of the signed value ``acc``.

    Purely combinational; the caller registers the result.
    """
    from amaranth.hdl import Mux

    if requant.mode == "raw":
        return acc
    s = requant.shift
    q = (acc >> s) if s else acc
    if s > 0 and requant.rounding != "floor":
        rem = acc[:s]
        half = 1 << (s - 1)
        if requant.rounding == "half_up":
            up = rem >= half
        else:
            up = (rem > half) | ((rem == half) & q[0])
        q = q + up
    lo, hi = signed_range(out_bits)
    if requant.saturate:
        return Mux(q > hi, hi, Mux(q < lo, lo, q))[:out_bits].as_signed()
    return q[:out_bits].as_signed()


def requantize_runtime_hdl(acc, requant, out_bits, shift, relu):
    """:func:`requantize_np` with a run-time ``shift`` (``0..requant.shift``) and ``relu`` (Amaranth
    values), purely combinational: :func:`requant_shift_hdl` then :func:`requant_finish_hdl`
    (the engines put a register between the two)."""
    q, up = requant_shift_hdl(acc, requant, shift)
    return requant_finish_hdl(q, up, requant, out_bits, relu)


def requant_shift_hdl(acc, requant, shift):
    """First half of the run-time requantization: ``(q, up)`` with ``q = acc >> shift`` (a barrel
    shift) and ``up`` the rounding increment (the bit below ``q`` and the sticky bits below that,
    selected by ``shift``)."""
    from amaranth.hdl import Array, Const, C

    acc_bits = len(acc)
    smax = requant.shift
    q = acc >> shift
    up = C(0, 1)
    if smax > 0 and requant.rounding != "floor":
        nz = shift != 0
        half_bit = acc.as_unsigned().bit_select((shift - 1)[: len(shift)], 1)
        if requant.rounding == "half_up":
            up = nz & half_bit
        else:
            masks = Array(Const((1 << max(0, s - 1)) - 1, acc_bits) for s in range(smax + 1))
            sticky = (acc.as_unsigned() & masks[shift]) != 0
            up = nz & half_bit & (sticky | q[0])
    return q, up


def requant_finish_hdl(q, up, requant, out_bits, relu):
    """Second half: ``q + up``, then the same saturation or wrap as :func:`requantize_hdl`, then
    ReLU (``relu``: an Amaranth value): :func:`requant_round_hdl` then :func:`requant_clamp_hdl`
    (the engines put a register between the two)."""
    return requant_clamp_hdl(*requant_round_hdl(q, up, requant, out_bits), out_bits, relu)


def requant_round_hdl(q, up, requant, out_bits):
    """``(q + up, over, under)``: the rounded value and whether it lies above or below the
    ``out_bits`` range, the flags taken from ``q`` and ``up`` (beside the increment's carry
    chain, not after it).  Without ``requant.saturate`` both flags are 0 (the value wraps)."""
    from amaranth.hdl import C

    lo, hi = signed_range(out_bits)
    if not requant.saturate:
        return q + up, C(0, 1), C(0, 1)
    over = (q > hi) | (up & (q == hi))
    under = (q < lo) & ~(up & (q == lo - 1))
    return q + up, over, under


def requant_clamp_hdl(rounded, over, under, out_bits, relu):
    """The ``out_bits`` result of :func:`requant_round_hdl`'s outputs: the range's end when
    ``over`` or ``under``, else the low bits; then ReLU (``relu``)."""
    from amaranth.hdl import Mux

    lo, hi = signed_range(out_bits)
    out = Mux(over, hi, Mux(under, lo, rounded.as_signed()))[:out_bits].as_signed()
    # the result's sign without going through the clamp: bit out_bits-1 of the rounded value
    # (its own sign bit when it is narrower)
    negative = under | (~over & rounded[min(out_bits, len(rounded)) - 1])
    return Mux(relu & negative, 0, out)


#: How a multiplier is built: ``dsp`` (a ``*``: synthesis maps it to DSP blocks where the family
#: has them) or ``lut`` (explicit shift-and-add partial products: logic only, no DSP).
MULTIPLIERS = ("dsp", "lut")


def multiply_hdl(a, b, kind="dsp"):
    """``a * b`` of two signed Amaranth values, built as ``kind`` (:data:`MULTIPLIERS`).

    ``lut``: the partial products of :func:`partial_products_hdl` summed: the same value, as
    adders that synthesis keeps in LUTs and carry chains."""
    if kind == "dsp":
        return a * b
    if kind != "lut":
        raise ValueError(f"multiplier must be one of {', '.join(MULTIPLIERS)}, got {kind!r}")
    (total,) = partial_products_hdl(a, b, 1)
    return total


def partial_products_hdl(a, b, groups):
    """``a * b`` (signed Amaranth values) as ``groups`` partial sums that add up to it: one
    partial product per bit of ``b`` (``a << i`` where the bit is set; the sign bit's
    subtracted, two's complement: ``b = -b[n-1] 2^(n-1) + sum b[i] 2^i``), the bits of ``b``
    split into ``groups`` runs of consecutive bits, each run summed as a balanced tree of
    adders (``ceil(log2(run))`` adders deep, not a chain), the sign bit's product subtracted at
    its leaf."""
    from amaranth.hdl import Mux

    n = len(b)
    a = a.as_signed()
    terms = [(Mux(b[i], a << i, 0), i < n - 1) for i in range(n)]
    size = -(-n // groups)
    sums = []
    for g in range(groups):
        run = terms[g * size : (g + 1) * size]
        while len(run) > 1:
            pairs = [run[i : i + 2] for i in range(0, len(run), 2)]
            run = [_add_signed_terms(*pair) if len(pair) == 2 else pair[0] for pair in pairs]
        if run:
            value, positive = run[0]
            sums.append(value if positive else -value)
    return sums


def _add_signed_terms(x, y):
    """The sum of two ``(value, positive)`` terms, as one adder or subtractor."""
    (xv, xp), (yv, yp) = x, y
    if xp == yp:
        return xv + yv, xp
    return (xv - yv, True) if xp else (yv - xv, True)


def as_int_array(name, a, ndim):
    """``a`` as an ``int64`` array of ``ndim`` dimensions; anything else (floats, bools, objects,
    another number of dimensions) raises :class:`ValueError` (or :class:`TypeError`) naming it."""
    arr = np.asarray(a)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        if (
            arr.dtype.kind == "f"
            and arr.size
            and np.all(np.isfinite(arr))
            and np.all(arr == np.rint(arr))
        ):
            hint = " (whole-valued floats: convert with .astype(np.int64) if that is meant)"
        else:
            hint = ""
        raise TypeError(f"{name} must be an array of integers, got dtype {arr.dtype}{hint}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has values beyond int64")
    return arr.astype(np.int64)


def check_signed_range(name, a, bits):
    """Raise :class:`ValueError` naming ``name`` unless every value of ``a`` fits ``bits`` signed
    bits."""
    lo, hi = signed_range(bits)
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(
            f"{name} must hold {bits}-bit signed integers in [{lo}, {hi}], "
            f"got values in [{a.min()}, {a.max()}]"
        )
