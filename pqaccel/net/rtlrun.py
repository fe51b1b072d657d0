"""A converted network on the emitted engine: which engine a bundle runs on, the cocotb run
(:mod:`pqaccel.net.rtl_tb`), and the analytical cycle model for the same rows."""

import os

import numpy as np

__all__ = ["rtl_engine", "run_rtl", "compare_model"]


def rtl_engine(qn, mac_par=(9, 16)):
    """The engine a bundle runs on: its PQ engine if it has PQ layers; for an int8 MAC bundle
    (``net convert --mac-only``) a MAC engine with ``d_par x m_par`` multipliers that takes every
    layer (bias columns included) with the model's widths and run-time requantization."""
    from ..engines.mac.layer import mac_config

    layers = qn.engine_layers()
    if any(ly.mode == qn.engine.kind for ly in layers):
        return qn.engine
    d_max = max(ly.engine_shape().d for ly in layers)
    m_max = max(ly.m for ly in layers)
    return mac_config(qn.engine, d_max, m_max, *mac_par)


def run_rtl(
    qn, bundle, x, *, sim="verilator", in_gap=0.0, out_stall=0.0, seed=0, waves=None, load_bits=None
):
    """Run the engine layers of the bundle ``qn`` (folder ``bundle``) on the emitted engine
    (:func:`rtl_engine`) for images ``x`` under cocotb (:mod:`pqaccel.net.rtl_tb`), table loads
    limited to ``load_bits`` bits per cycle (None: one write per cycle); return its result dict."""
    import tempfile
    from ..export import generate
    from ..sim.runner import run_testbench

    with tempfile.TemporaryDirectory(prefix="pqaccel-netrun-") as tmp:
        files = generate(rtl_engine(qn), os.path.join(tmp, "rtl"))
        images = os.path.join(tmp, "images.npy")
        np.save(images, np.asarray(x, dtype=np.float64))
        return run_testbench(
            files["verilog"],
            files["manifest"],
            "pqaccel.net.rtl_tb",
            {
                "bundle": os.path.abspath(bundle),
                "images": images,
                "in_gap": in_gap,
                "out_stall": out_stall,
                "seed": seed,
                "load_bits": load_bits,
            },
            sim=sim,
            build_dir=os.path.join(tmp, "build"),
            waves=waves,
        )


def compare_model(qn, r):
    """The analytical model for the rows of an RTL run ``r``; adds each measured layer's wait for
    tables (``wait_cycles``: first input beat after the previous layer's last output)."""
    from .perf import network_cycles

    prev = 0
    for ly in r["layers"]:
        ly["wait_cycles"] = (ly["first_in"] - prev - 1) if ly["first_in"] else None
        prev = ly["last_out"] or prev
    return network_cycles(
        qn,
        {ly["layer"]: ly["rows"] for ly in r["layers"]},
        rtl_engine(qn),
        load_bits=r.get("load_bits"),
    )
