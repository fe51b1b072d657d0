"""Pipeline latencies of every block and the FIFO sizes of both engines, in pure Python.

One definition, read by the RTL blocks (each exposes its figure as ``latency``: cycles from an
input to the output it produces), by the engines (credit FIFO depths, rows in flight), by the
manifest and by the cycle model (:mod:`pqaccel.net.perf`), so none of them restates a sum.
"""

from .fixedpoint import tree_levels

__all__ = ["LUTRAM_MAX_DEPTH", "MEMORY_READ", "distance", "argmin", "encoder", "codebook_depth", "codebook",
           "accumulator", "pq", "mac", "CREDIT_ROUND_TRIP"]

#: Memories this shallow map to LUT-RAM on every family pqaccel targets (asynchronous read).
LUTRAM_MAX_DEPTH = 64

#: A block-RAM read: the address registered, the synchronous read, the data registered.
MEMORY_READ = 3

#: Credit loop beyond a producer's pipeline: FIFO write -> readable (2 cycles, the FIFOs are
#: buffered so their heads are registers), pop -> credit back (1), and one spare.
CREDIT_ROUND_TRIP = 4


def distance(metric, v):
    """:class:`pqaccel.rtl.distance.DistanceUnit`: difference (and square), adder tree."""
    return (2 if metric == "l2" else 1) + tree_levels(v)


def argmin(n):
    """:class:`pqaccel.rtl.argmin.ArgminTree` over ``n`` distances."""
    return tree_levels(n)


def encoder(cfg):
    """:class:`pqaccel.rtl.encoder.Encoder`: distances, argmin tree, the running minimum."""
    return distance(cfg.metric, cfg.v) + argmin(cfg.par.k_par) + 1


def codebook_depth(cfg):
    """Words of one codebook memory (both banks)."""
    return 2 * cfg.g_max * cfg.k_steps


def codebook(cfg):
    """:class:`pqaccel.rtl.codebook.CodebookMemory`: LUT-RAM (asynchronous read) when shallow."""
    return 2 if codebook_depth(cfg) <= LUTRAM_MAX_DEPTH else MEMORY_READ


def accumulator(lanes, requant):
    """:class:`pqaccel.rtl.accumulator.Accumulator`: adder tree, running sum, requantization
    (two stages when ``requant.runtime``)."""
    return tree_levels(lanes) + 2 + (1 if requant.runtime else 0)


def pq(cfg):
    """The PQ engine's pipeline: ``encode_stages`` (codebook read + encoder), ``lookup_stages``
    (table read + accumulator), the code and output FIFO depths that cover each credit loop,
    and ``rows_in_flight`` (the most rows between first issue and last table read: the encoder
    pipeline, the code FIFO and the lookup issue each hold at least one group of a row)."""
    encode = codebook(cfg) + encoder(cfg)
    lookup = MEMORY_READ + accumulator(cfg.par.c_par, cfg.requant)
    code_depth = encode + CREDIT_ROUND_TRIP
    return {"encode_stages": encode, "lookup_stages": lookup,
            "code_fifo_depth": code_depth, "out_fifo_depth": lookup + CREDIT_ROUND_TRIP,
            "rows_in_flight": encode + code_depth + 3}


def mac(cfg):
    """The MAC engine's pipeline: weight read, multiply (1), accumulator; its output FIFO; rows
    in flight (the issuing row and the one whose start is counted a cycle late)."""
    lookup = MEMORY_READ + 1 + accumulator(cfg.d_par, cfg.requant)
    return {"lookup_stages": lookup, "out_fifo_depth": lookup + CREDIT_ROUND_TRIP, "rows_in_flight": 2}
