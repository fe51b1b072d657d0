"""Will a design fit any device pqaccel targets?  A lower bound of what an engine needs, from its
parameters alone (milliseconds), checked before elaboration (which grows with the parallelism:
``benchmarks/bench_elaborate.py``), so that a design no supported device could hold is refused
with the figures before minutes of work and gigabytes of memory.

The bound is deliberately loose (it must never refuse a design that fits):

* memory: the bits of every memory the engine declares (:meth:`memories`), against the block RAM
  plus LUT-RAM-free capacity of the largest device;
* logic: the engine's :meth:`min_logic_luts` (PQ: one LUT4 per bit of every element subtractor of
  the distance units and per bit of every table-sum adder; MAC: per bit of every adder of its
  accumulation trees), against the largest device's logic in LUT4 equivalents.
"""

__all__ = ["LARGEST_DEVICES", "lower_bound", "check_capacity"]

#: The largest device of each family pqaccel synthesizes for: (name, LUT4 equivalents, block RAM
# bits)
LARGEST_DEVICES = {
    "ice40": ("iCE40 HX8K", 7_680, 32 * 4096),
    "ecp5": ("ECP5 LFE5UM-85F", 83_640, 208 * 18_432),
    "nexus": ("CrossLink-NX LIFCL-40", 39_000, 84 * 18_432 + 5 * 524_288),
    "gowin": ("GW2A-55", 55_296, 140 * 18_432),
    "cyclonev": ("Cyclone V 5CGXFC9", 2 * 113_560, 1_220 * 10_240),
    "xilinx": ("Virtex-7 XC7V2000T", 2 * 1_221_600, 2_584 * 18_432),
}


def lower_bound(cfg):
    """``{"memory_bits", "logic_luts"}`` that ``cfg`` needs at the least."""
    bits = sum(m["count"] * m["depth"] * m["width"] for m in cfg.memories().values())
    return {"memory_bits": bits, "logic_luts": cfg.min_logic_luts()}


def check_capacity(cfg):
    """Raise :class:`ValueError` if ``cfg`` cannot fit the largest device of any family."""
    need = lower_bound(cfg)
    mem_name, _, mem = max(LARGEST_DEVICES.values(), key=lambda d: d[2])
    lut_name, luts, _ = max(LARGEST_DEVICES.values(), key=lambda d: d[1])
    problems = []
    if need["memory_bits"] > mem:
        problems.append(
            f"its memories hold {need['memory_bits'] / 2**20:,.1f} Mbit, the largest block RAM "
            f"of a supported device ({mem_name}) {mem / 2**20:,.1f} Mbit"
        )
    if need["logic_luts"] > luts:
        problems.append(
            f"its datapath needs at least {need['logic_luts']:,} LUT4s, the largest supported "
            f"device ({lut_name}) has {luts:,}"
        )
    if problems:
        raise ValueError(
            "this engine fits no supported device: "
            + "; ".join(problems)
            + " (lower the parallelism par.* or c_max/m_max)"
        )
    return need
