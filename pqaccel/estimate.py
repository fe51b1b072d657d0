"""Resources of an engine from its parameters, without synthesis (milliseconds).

``estimate(cfg, target)`` returns the resources Yosys would report (:func:`pqaccel.synth.classify`
columns) and their split by block.  Two parts:

* **Memories and multipliers: exact from their shapes.**  Every memory of the engine is listed
  from the same definitions the RTL uses (:mod:`pqaccel.pipeline` depths, the blocks' word
  widths, the credit FIFOs), and mapped the way Yosys' ``memory_libmap`` maps it: each legal
  mapping (block RAM in each of its aspect ratios, LUT-RAM, flip-flops) is costed with the
  library's costs (ECP5 ``DP16KD``/``PDPW16KD`` 128, ``TRELLIS_DPR16X4`` 4; iCE40 ``SB_RAM40_4K``
  64; a bit of soft logic 1) and the cheapest is taken.  Multipliers: one DSP block per ``a*b``
  wider than the family's threshold (the MAC's products with DSP multipliers, L2 squares
  wider than :data:`pqaccel.rtl.distance.SQUARE_TABLE_MAX_BITS`).
* **Logic (LUT, FF, carry, wide-function mux): a linear model per block.**  Each block has
  features counted from the parameters (bits of its subtractors, adders, comparators,
  registers; :func:`features`), and one non-negative coefficient per feature and resource,
  fitted by least squares on synthesized engines (``benchmarks/fit_estimate.py``, which also
  prints the error on points held out of the fit).  The fitted coefficients live in
  ``estimate_model.json`` next to this module.

Families without a fitted model raise a :class:`ValueError` that names the ones with one.
"""

import json
import os


__all__ = [
    "MODEL_PATH",
    "memory_list",
    "map_memory",
    "features",
    "Estimator",
    "estimate",
    "fit",
    "save_model",
    "load_model",
    "families",
]

from .memmap import MEMORY_LIBS, map_memory  # noqa: F401  (part of this module's API)

MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "estimate_model.json")

#: Fitted logic columns.
LOGIC = ("lut", "ff", "carry", "mux")

#: Smallest product width a family's DSP mapping takes (narrower products stay in LUTs), and the
#: widest operand one DSP block takes.
DSP_RULES = {"ecp5": {"min_y": 0, "max_a": 18}, "ice40": {"min_y": 11, "max_a": 16}}


def memory_list(cfg, family=None):
    """``[{"name", "block", "count", "depth", "width", "granularity"}]``: every memory of the
    engine built for ``family``, as its configuration lists them (``memory_list(family)``)."""
    return cfg.memory_list(family)


def _dsp_count(cfg, family):
    """``(block, DSP blocks)``: multipliers whose product is at least the family's minimum width
    (the engine's ``dsp_multipliers(rule)``)."""
    return cfg.dsp_multipliers(DSP_RULES[family])


def _memory_features(cfg, family):
    """Per block: bits of the read multiplexers that join a memory's depth pieces (block RAMs
    or LUT-RAMs stacked in depth), and of the read data."""
    out = {}
    for mem in memory_list(cfg, family):
        mm = map_memory(mem["depth"], mem["width"], mem["granularity"], family)
        f = out.setdefault(mem["block"], {"mem_mux": 0, "mem_data": 0})
        f["mem_mux"] += mem["count"] * mem["width"] * max(0, mm["pieces"] - 1)
        f["mem_data"] += mem["count"] * mem["width"]
    return out


def features(cfg, family="ecp5"):
    """``{block: {feature: count}}``: what each block's logic scales with (bits of its
    arithmetic, registers and memory read multiplexers), from the parameters alone."""
    feats = _logic_features(cfg)
    for block, fs in _memory_features(cfg, family).items():
        feats.setdefault(block, {}).update(fs)
    port = cfg.address_map()
    feats["control"]["port"] = port.data_bits + port.addr_bits
    return feats


def _logic_features(cfg):
    return cfg.logic_features()


def _flat(feats):
    return {f"{b}.{f}": v for b, fs in feats.items() for f, v in fs.items()}


def exact_part(cfg, family):
    """``{"resources", "blocks", "memories"}`` of the exactly counted part: memories, DSPs."""
    if family not in MEMORY_LIBS:
        raise ValueError(
            f"target must be one of {', '.join(sorted(MEMORY_LIBS))} for an estimate, got "
            f"{family!r}"
        )
    res = {"bram": 0, "lutram": 0, "dsp": 0, "ff": 0}
    blocks = {}
    mems = []
    for mem in memory_list(cfg, family):
        mm = map_memory(mem["depth"], mem["width"], mem["granularity"], family)
        mems.append(
            {
                **mem,
                **{
                    k: v * mem["count"] if k in ("bram", "lutram", "ff") else v
                    for k, v in mm.items()
                },
            }
        )
        for k in ("bram", "lutram", "ff"):
            res[k] += mm[k] * mem["count"]
            blocks.setdefault(mem["block"], {}).setdefault(k, 0)
            blocks[mem["block"]][k] += mm[k] * mem["count"]
    block, dsp = _dsp_count(cfg, family)
    res["dsp"] = dsp
    if dsp:
        blocks.setdefault(block, {})["dsp"] = dsp
    return {"resources": res, "blocks": blocks, "memories": mems}


class Estimator:
    """Estimates from a fitted model (``{"families": {family: {kind: {column: {feature:
    coef}}}}}``)."""

    def __init__(self, model=None):
        self.model = load_model() if model is None else model

    def families(self):
        return sorted(self.model.get("families", {}))

    def estimate(self, cfg, target):
        fams = self.model.get("families", {})
        if target not in fams or cfg.kind not in fams[target]:
            raise ValueError(
                f"target must be one of {', '.join(self.families())} for an estimate "
                f"(families with a fitted model), got {target!r}"
            )
        coefs = fams[target][cfg.kind]
        ex = exact_part(cfg, target)
        res = {c: 0.0 for c in ("lut", "ff", "carry", "mux", "bram", "lutram", "dsp")}
        for k, v in ex["resources"].items():
            res[k] += v
        blocks = {b: dict(v) for b, v in ex["blocks"].items()}
        for block, fs in features(cfg, target).items():
            for f, x in fs.items():
                for col in LOGIC:
                    c = coefs.get(col, {}).get(f"{block}.{f}", 0.0)
                    if c and x:
                        res[col] += c * x
                        blocks.setdefault(block, {}).setdefault(col, 0.0)
                        blocks[block][col] += c * x
        for col in LOGIC:
            res[col] = round(res[col])
        from .area import area

        return {
            "target": target,
            "resources": res,
            "area": area(res, target),
            "blocks": {b: {k: round(v, 1) for k, v in d.items()} for b, d in blocks.items()},
            "block_area": {b: area(d, target) for b, d in blocks.items()},
            "memories": ex["memories"],
        }


def estimate(cfg, target="ecp5"):
    """Resources of ``cfg`` on ``target`` (see the module documentation)."""
    return Estimator().estimate(cfg, target)


def families():
    return Estimator().families()


def _nnls_fit(X, y, t):
    """Non-negative least squares of ``y`` on ``X``, relative to the totals ``t`` (every point
    weighs the same whatever its size); returns the coefficients."""
    import numpy as np
    from scipy.optimize import nnls

    scale = X.max(axis=0)
    scale[scale == 0] = 1.0
    wgt = 1.0 / np.maximum(t, 1.0)
    sol, _ = nnls((X / scale) * wgt[:, None], y * wgt)
    return sol / scale


def _loo_error(X, y, t):
    """Mean relative error of leave-one-out predictions of the totals ``t``."""
    import numpy as np

    errs = []
    for i in range(len(y)):
        m = np.arange(len(y)) != i
        c = _nnls_fit(X[m], y[m], t[m])
        errs.append(abs(X[i] @ c + (t[i] - y[i]) - t[i]) / max(t[i], 1.0))
    return float(np.mean(errs))


def fit(rows):
    """Fit the logic model on ``rows`` of ``(cfg, family, resources)`` (synthesized): per family,
    engine kind and logic column, non-negative least squares of (synthesized - exact part) on
    the features, relative to the synthesized total; features are dropped one at a time while
    that lowers the leave-one-out error (with few points, fewer terms predict better).
    Returns the model dict."""
    import numpy as np

    model = {"version": 2, "families": {}, "points": {}, "loo_error": {}}
    groups = {}
    for cfg, fam, res in rows:
        groups.setdefault((fam, cfg.kind), []).append((cfg, res))
    for (fam, kind), items in sorted(groups.items()):
        names = sorted(_flat(features(items[0][0], fam)))
        X = np.array([[_flat(features(c, fam))[n] for n in names] for c, _ in items], dtype=float)
        out = {}
        for col in LOGIC:
            t = np.array([res.get(col, 0) for _, res in items], dtype=float)
            y = t - np.array(
                [exact_part(c, fam)["resources"].get(col, 0) for c, _ in items], dtype=float
            )
            use = [i for i in range(len(names)) if X[:, i].any()]
            err = _loo_error(X[:, use], y, t)
            while len(use) > 1:
                trials = [(_loo_error(X[:, [j for j in use if j != i]], y, t), i) for i in use]
                best, drop = min(trials)
                if best >= err - 1e-4:
                    break
                err, use = best, [j for j in use if j != drop]
            coef = _nnls_fit(X[:, use], y, t)
            out[col] = {names[i]: float(c) for i, c in zip(use, coef) if c}
            model["loo_error"].setdefault(fam, {}).setdefault(kind, {})[col] = round(err, 4)
        model["families"].setdefault(fam, {})[kind] = out
        model["points"].setdefault(fam, {})[kind] = len(items)
    return model


def save_model(model, path=MODEL_PATH):
    with open(path, "w") as f:
        json.dump(model, f, indent=1, sort_keys=True)
        f.write("\n")


def load_model(path=MODEL_PATH):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"families": {}}
