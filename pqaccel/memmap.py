"""How Yosys' ``memory_libmap`` maps one memory on a family: block RAMs, LUT-RAMs or flip-flops,
costed as Yosys does.  Pure Python, below the hardware: the resource estimate
(:mod:`pqaccel.estimate`) counts memories with it, and the engines built for a family
(:meth:`pqaccel.rtl.banked.BankedMemory.memory`) instantiate a block RAM primitive exactly where
Yosys would map that memory to one block.
"""

__all__ = ["MEMORY_LIBS", "map_memory"]

#: ``memory_libmap`` costs and shapes per family: block RAM (cost, {width: depth}), LUT-RAM
#: (cost, depth, width) or None, and the cost of one bit of memory as flip-flops.
MEMORY_LIBS = {
    "ecp5": {
        "bram": (128, {1: 16384, 2: 8192, 4: 4096, 9: 2048, 18: 1024, 36: 512}),
        "byte": 9,
        "lutram": (4, 16, 4),
        "logic_bit": 1.0,
        "mixed_depth": False,
    },
    "ice40": {
        "bram": (64, {2: 2048, 4: 1024, 8: 512, 16: 256}),
        "byte": 1,
        "lutram": None,
        "logic_bit": 1.0,
        "mixed_depth": True,
    },
}


def map_memory(depth, width, granularity, family):
    """``{"bram", "lutram", "ff", "how"}`` of one memory as ``memory_libmap`` maps it on
    ``family``: every mapping costed as Yosys does (the cells' library cost, plus half a unit
    per bit of the read multiplexer that joins depth pieces and per write enable of the
    demultiplexer that splits them, :func:`_libmap_cost`), the cheapest taken; flip-flops, then
    block RAM, then LUT-RAM on a tie.  (A read port whose address is a register is a
    synchronous port to Yosys, which absorbs the register: the codebooks' LUT-RAM-style reads
    may become block RAM.)"""
    lib = MEMORY_LIBS[family]
    if depth <= 0:
        return {"bram": 0, "lutram": 0, "ff": 0, "how": "none", "pieces": 0}
    options = []
    cost, shapes = lib["bram"]
    byte = lib["byte"]
    groups = -(-width // granularity)
    # a write-enable group takes whole bytes of the block RAM
    padded = (
        groups * (-(-granularity // byte) * byte) if byte > 1 and granularity < width else width
    )
    if lib["mixed_depth"]:
        n, how, pieces = _bram_blocks(depth, padded, tuple(sorted(shapes.items())), True)
        options.append(
            (
                _libmap_cost(n * cost, pieces, width, groups),
                {"bram": n, "lutram": 0, "ff": 0, "how": how, "pieces": pieces},
            )
        )
        # iCE40: the width in binary slices, each packed into whole blocks; a slice narrower
        # than the narrowest aspect folds its depth into the block's width
        bits = max(w * d for w, d in shapes.items())
        widest = max(shapes)
        rest = padded % widest
        n = (padded // widest) * -(-depth // shapes[widest])
        n += sum(-(-depth * (1 << i) // bits) for i in range(rest.bit_length()) if rest >> i & 1)
        if depth * widest >= bits:
            pieces = -(-depth * min(shapes) // bits)
            options.append(
                (
                    _libmap_cost(n * cost, pieces, width, groups),
                    {
                        "bram": n,
                        "lutram": 0,
                        "ff": 0,
                        "how": f"{depth}x{padded} in width slices",
                        "pieces": pieces,
                    },
                )
            )
    else:
        for w, d in sorted(shapes.items()):
            pieces = -(-depth // d)
            n = pieces * -(-padded // w)
            options.append(
                (
                    _libmap_cost(n * cost, pieces, width, groups),
                    {
                        "bram": n,
                        "lutram": 0,
                        "ff": 0,
                        "how": f"{depth}x{width} as {d}x{w}",
                        "pieces": pieces,
                    },
                )
            )
    if lib["lutram"]:
        lcost, ld, lw = lib["lutram"]
        # no write enables per bit group: each group is its own slice of LUT-RAMs
        slices = groups * -(-granularity // lw) if granularity < width else -(-width // lw)
        pieces = -(-depth // ld)
        n = pieces * slices
        options.append(
            (
                _libmap_cost(n * lcost, pieces, width, groups),
                {"bram": 0, "lutram": n, "ff": 0, "how": "lutram", "pieces": pieces},
            )
        )
    bits = depth * width
    options.append(
        (
            bits * lib["logic_bit"],
            {"bram": 0, "lutram": 0, "ff": bits, "how": "logic", "pieces": depth},
        )
    )
    rank = {"logic": 0, "lutram": 2}
    return min(options, key=lambda o: (o[0], rank.get(o[1]["how"], 1)))[1]


def _libmap_cost(cells, pieces, width, enables):
    """``memory_libmap``'s cost of a mapping: its cells' cost, half a unit per bit of the read
    mux over ``pieces`` depth pieces, half a unit per write enable of the write demux."""
    mux = (pieces - 1) * width
    demux = pieces * enables if pieces > 1 else 0
    return cells + 0.5 * mux + 0.5 * demux


def _bram_blocks(depth, width, shapes, mixed):
    """``(blocks, how, depth pieces)``: block RAMs of the aspect ratios ``shapes`` (``((width,
    depth), ...)``) for ``depth x width`` words, all in one ratio, or (``mixed``, as Yosys does
    on iCE40) whole blocks of one ratio and the rest of the depth mapped the same way (a
    768-word memory: 512 words in one ratio, 256 in another)."""
    best = None
    for w, d in shapes:
        if not mixed:
            n, how, pieces = (
                -(-depth // d) * -(-width // w),
                f"{depth}x{width} as {d}x{w}",
                -(-depth // d),
            )
        elif depth >= d:
            full = depth // d
            n = full * -(-width // w)
            rest = depth - full * d
            how = f"{full * d}x{width} as {d}x{w}"
            pieces = full
            if rest:
                n2, how2, p2 = _bram_blocks(rest, width, shapes, mixed)
                n, how, pieces = n + n2, f"{how} + {how2}", pieces + p2
        else:
            n, how, pieces = -(-width // w), f"{depth}x{width} as {d}x{w}", 1
        if best is None or n < best[0]:
            best = (n, how, pieces)
    return best
