"""Pipeline latencies of every block, in pure Python; each engine sums its own in its
configuration's ``pipeline()`` (FIFO depths, rows in flight).

One definition, read by the RTL blocks (each exposes its figure as ``latency``: cycles from an
input to the output it produces), by the engines (credit FIFO depths, rows in flight), by the
manifest and by the cycle model (:mod:`pqaccel.net.perf`), so none of them restates a sum.
"""

from .fixedpoint import tree_levels

__all__ = [
    "REPLICA_ATTR",
    "LUTRAM_MAX_DEPTH",
    "MEMORY_READ",
    "LUTRAM_READ",
    "read_address_stages",
    "write_stages",
    "MULTIPLY",
    "distance",
    "argmin",
    "encoder_step",
    "encoder",
    "codebook_depth",
    "table_depth",
    "weight_depth",
    "codebook_lutram",
    "CODEBOOK_ELEMENT_SPLIT",
    "codebook_split",
    "codebook",
    "SQUARE_TABLE_MAX_BITS",
    "accumulator",
    "CREDIT_ROUND_TRIP",
]

#: The attribute of a register copied on purpose to split a high fan-out net
#: (:func:`pqaccel.rtl.util.replica`); synthesis keeps such copies apart.
REPLICA_ATTR = "pqaccel_replica"

#: Widest ``|x - p|`` whose square an L2 distance unit looks up in a table (wider: a multiplier).
SQUARE_TABLE_MAX_BITS = 6

#: Memories this shallow map to LUT-RAM on every family pqaccel targets (asynchronous read).
LUTRAM_MAX_DEPTH = 64

#: A block-RAM read: the address registered twice (a copy per group of memories, then per
#: memory: one register per lane driving 16 table banks' address pins set the ECP5 Fmax of
#: ``resnet20-v9k8-net``), the synchronous read, the data registered twice (beside the block
#: RAM, whose clock-to-output delay is most of a cycle, then beside the loads: one register
#: alone is pulled toward its loads and the route after the block RAM set the ECP5 Fmax too).
MEMORY_READ = 5

#: A LUT-RAM read: the address registered three times (once, then a copy per group of memories,
#: then a copy per memory: a lane of LUT-RAM is hundreds of cells, and one copy driving a
#: lane's 72 memories set the ECP5 Fmax of ``resnet20-v9k8-net``), the asynchronous read, the
#: data registered.
LUTRAM_READ = 4


def read_address_stages(lutram):
    """Registers on a memory's read address before the memory reads (LUT-RAM: 3, block RAM:
    2)."""
    return 3 if lutram else 2


def write_stages(lutram):
    """Registers on a table-port write between the table port's own register and the memory:
    one per level of the fan-out (the block, then groups of memories, then, block RAM, each
    memory; LUT-RAM, hundreds of cells a lane, per lane, per slot, per memory).  At most three
    more than :func:`read_address_stages`: the double buffer lets a row read a committed bank
    four cycles after the commit, and the writes before it must be in place
    (:mod:`pqaccel.rtl.banked`).  Block RAM: 3; LUT-RAM: 4."""
    return read_address_stages(lutram) + 1


#: A MAC multiplier (:class:`pqaccel.rtl.multiplier.Multiplier`): both operands registered, the
#: product registered (the registers a DSP block holds inside: ECP5 ``MULT18X18D`` with its
#: input and output registers), and the product registered again in the fabric beside the block
#: (the DSP column to the adder tree took 8.8 ns of routing on ``resnet20-v9k8-net``).  (With
#: the product registered once in the fabric and the operands copied per multiplier there,
#: ``resnet20-v9k8-net``'s MAC reached 75 MHz on ECP5: the routes to 144 multipliers spread over
#: the DSP columns set the clock.)
MULTIPLY = 3

#: Credit loop beyond a producer's pipeline: FIFO write -> readable (2 cycles, the FIFOs are
#: buffered so their heads are registers), pop -> credit back (1), and one spare.
CREDIT_ROUND_TRIP = 4


def distance(metric, v):
    """:class:`pqaccel.rtl.distance.DistanceUnit`: difference (and square), adder tree."""
    return (2 if metric == "l2" else 1) + tree_levels(v)


def argmin(n):
    """:class:`pqaccel.rtl.argmin.ArgminTree` over ``n`` distances: a register per tree level,
    and the result registered once more (the root's route to the encoder's running minimum
    set the ECP5 Fmax of ``resnet20-v9k8-net``)."""
    return tree_levels(n) + 1


def encoder_step(cfg):
    """Cycles of :class:`pqaccel.rtl.encoder.Encoder` from a beat to its step's winner at the
    outputs of the argmin trees over the step's prototypes: distances, then the tree."""
    return distance(cfg.metric, cfg.v) + argmin(cfg.par.k_par)


def encoder(cfg):
    """:class:`pqaccel.rtl.encoder.Encoder`: :func:`encoder_step`, then the codes registered
    (one step a row) or each step's winner registered and an argmin tree over the ``k_steps``
    winners (several: no running minimum, whose compare and select closed a loop that set the
    iCE40 Fmax)."""
    per_step = encoder_step(cfg) + 1
    return per_step if cfg.k_steps == 1 else per_step + argmin(cfg.k_steps)


def codebook_depth(cfg):
    """Words of one codebook memory (both banks): ``k_steps`` words per group."""
    return 2 * cfg.g_max * cfg.k_steps


def table_depth(cfg):
    """Words of one PQ table bank (both banks): ``k`` entries per group and output beat."""
    return 2 * cfg.g_max * cfg.mt_max * cfg.k


def weight_depth(cfg):
    """Words of one MAC weight bank (both banks): one per group and output beat."""
    return 2 * cfg.g_max * cfg.mt_max


def codebook_lutram(cfg):
    """Whether the codebooks are LUT-RAM (shallow) rather than block RAM."""
    return codebook_depth(cfg) <= LUTRAM_MAX_DEPTH


#: Families whose LUT-RAM codebooks are one memory per (lane, slot, element)
#: (:class:`pqaccel.rtl.codebook.CodebookMemory` built for them): ECP5 has one 16x4 LUT-RAM a
#: logic block, so a (lane, slot) memory of a 9-element prototype spans dozens of blocks, and
#: its one read-address copy was the critical net of ``resnet20-v9k8-net``.  Elsewhere (iCE40
#: has no LUT-RAM: every memory is a block RAM) one per (lane, slot).
CODEBOOK_ELEMENT_SPLIT = ("ecp5",)


def codebook_split(cfg, family):
    """Whether the codebook of ``cfg`` built for ``family`` is one memory per (lane, slot,
    element): a LUT-RAM codebook on a family of :data:`CODEBOOK_ELEMENT_SPLIT`."""
    return codebook_lutram(cfg) and family in CODEBOOK_ELEMENT_SPLIT


def codebook(cfg):
    """:class:`pqaccel.rtl.codebook.CodebookMemory`: :data:`LUTRAM_READ` when shallow, else
    :data:`MEMORY_READ`."""
    return LUTRAM_READ if codebook_lutram(cfg) else MEMORY_READ


def accumulator(lanes, requant):
    """:class:`pqaccel.rtl.accumulator.Accumulator`: adder tree, running sum, requantization
    (three stages when ``requant.runtime``: shift, rounding increment, saturation)."""
    return tree_levels(lanes) + 2 + (2 if requant.runtime else 0)
