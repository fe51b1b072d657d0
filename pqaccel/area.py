"""An explicit area model: resources in LUT4-equivalents.

Silicon area of FPGA resources is not published per primitive, so any single-number area is a
model.  This one is stated in full and every compare table also shows the raw resources, so a
reader can apply another.  Weights (LUT4 = 1):

* ``lut`` 1: a 4-input LUT (a 6-input LUT counts 2 on families that have them).
* ``carry`` 2: ECP5 ``CCU2C`` / Nexus ``CCU2`` are two LUT4s with their carry logic; iCE40
  ``SB_CARRY`` and Xilinx ``CARRY4`` ride along with LUTs already counted (weights 0 and 0).
* ``ff`` 0.5: two flip-flops share a slice with two LUTs; a design that needs more flip-flops
  than LUTs pays for the slices anyway.
* ``mux`` 0: wide-function muxes live inside the slice.
* ``lutram`` 4: an ECP5 ``TRELLIS_DPR16X4`` uses the LUTs of a slice pair.
* ``bram`` 96: one 18-kbit block RAM (ECP5 ``DP16KD``) ~ 96 LUT4s of die, taking the ECP5-85F
  (84k LUT4s, 208 EBRs, 156 18x18 multipliers) as a die split of about 75 % logic, 15 % block
  RAM and 10 % multipliers: 0.15/0.75 * 84k / 208 ~ 81, rounded up for the block's routing.
* ``dsp`` 64: one 18x18 multiplier: 0.10/0.75 * 84k / 156 ~ 72, rounded down because an ECP5
  sysDSP slice holds two of them with shared routing.

``compare`` prints the perf/area ratio under these weights and with the block RAM and DSP
weights halved and doubled, so the conclusion's sensitivity to the model is visible.
"""

__all__ = ["WEIGHTS", "area", "FAMILY_LUT_WEIGHT"]

WEIGHTS = {
    "lut": 1.0,
    "carry": 2.0,
    "ff": 0.5,
    "mux": 0.0,
    "lutram": 4.0,
    "bram": 96.0,
    "dsp": 64.0,
    "other": 1.0,
}

# LUT4-equivalents of one "lut" cell, and of one "carry" cell, per family.
FAMILY_LUT_WEIGHT = {
    "ice40": (1.0, 0.0),
    "ecp5": (1.0, 2.0),
    "nexus": (1.0, 2.0),
    "gowin": (1.0, 1.0),
    "xilinx": (2.0, 0.0),
    "cyclonev": (2.0, 0.0),
    "generic": (1.0, 1.0),
}


def area(resources, target="ecp5", weights=None, scale_bram=1.0, scale_dsp=1.0):
    """LUT4-equivalent area of a ``resources`` dict from :func:`pqaccel.synth.classify`."""
    w = dict(WEIGHTS if weights is None else weights)
    lut_w, carry_w = FAMILY_LUT_WEIGHT.get(target, (1.0, 2.0))
    w["lut"] *= lut_w
    w["carry"] = carry_w
    w["bram"] *= scale_bram
    w["dsp"] *= scale_dsp
    return sum(w[k] * resources.get(k, 0) for k in w)
