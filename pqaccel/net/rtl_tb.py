"""cocotb testbench: a converted network on the emitted PQ engine, checked bit for bit.

Configuration (JSON file named by ``PQ_COSIM``): ``{"manifest", "bundle", "images": path of an
``.npy`` with the float images, "in_gap", "out_stall", "seed", "load_bits", "result"}``.

The network runs layer by layer over the whole batch of images: the host side (input
quantization, im2col, residual adds, pooling, and the layers the engine does not run) in NumPy
with the integer network model, every layer of the engine's kind on the engine: the ``pq``
layers on a PQ engine, the ``mac`` layers (with their bias columns) on a MAC engine.  Each PQ
layer's tables (and its shift and
ReLU) are written through the table port while the layer before computes (double buffer) and
committed once that layer's last input beat is accepted.  Every output beat is compared with the
golden network model; the first mismatch stops the run and is reported with its image, layer, row
and output.  The host glue takes no simulated time, so the cycles are the engine's: per layer the
table-load cycles (first write to commit), the compute cycles (first input beat to last output
beat) and the stall cycles (rows ready, tables not yet committed).

``load_bits`` (optional) limits the table port to the bandwidth of an external link of that many
bits per cycle: the link earns ``load_bits`` credit bits per cycle (a buffer of one data word plus
one cycle's bits holds them) and a write, which carries a whole data word of the port, is
offered only when the credit covers it.  So both engines can be compared at the same bits/cycle
whatever their port widths.
"""

import json

import cocotb
import numpy as np

from pqaccel.engines import engine_from_manifest
from pqaccel.net import intmodel
from pqaccel.net.bundle import load_bundle
from pqaccel.sim.tbutil import Traffic, clock_cycle, load_config, next_write, reset


class Host:
    """The host side: the network interpreter's integer walk
    (:func:`pqaccel.net.intmodel.walk_int`),
    which stops at every layer of the engine's kind and hands over its rows."""

    def __init__(self, qn, x, kind):
        self.qn = qn
        self.walk = intmodel.walk_int(qn, x, kind)
        self.started = False
        self.result = None
        self.env = None

    def next_layer(self):
        """Run the network until the next layer of the engine's kind; return ``(op, rows,
        geometry)`` or None at the end."""
        try:
            if self.started:
                req = self.walk.send(self.result)
            else:
                self.started = True
                req = next(self.walk)
        except StopIteration as stop:
            self.env = stop.value
            return None
        return req.op, req.rows, req.geom

    def done(self, op, out, geom):
        """The output rows of the layer ``next_layer`` handed over."""
        self.result = out

    @property
    def output(self):
        return self.env[self.qn.net.output]


@cocotb.test()
async def pq_network(dut):
    cfg, manifest = load_config()
    qn = load_bundle(cfg["bundle"])
    x = np.load(cfg["images"])
    kind = manifest.get("kind", "pq")
    pq_ops = [op for op in qn.net.matmul_ops() if qn.layers[op.name].mode == kind]
    engine = engine_from_manifest(manifest)
    if kind == qn.engine.kind and engine != qn.engine:
        raise ValueError("the bundle was converted for another engine than the manifest's")
    amap = engine.address_map()
    writes = [amap.layer_writes(qn.layers[op.name]) for op in pq_ops]
    host = Host(qn, x, kind)
    golden = intmodel.run_int(qn, x)
    rng = np.random.default_rng(cfg.get("seed", 0))
    in_gap, out_stall = cfg.get("in_gap", 0.0), cfg.get("out_stall", 0.0)
    n_layers = len(pq_ops)
    load_bits = cfg.get("load_bits")
    word = amap.data_bits
    credit, credit_cap = 0, word + (load_bits or 0)

    await reset(dut)

    jobs = [None] * n_layers
    geoms = [None] * n_layers
    stats = [
        {
            "layer": op.name,
            "writes": len(w),
            "first_write": None,
            "commit": None,
            "first_in": None,
            "last_out": None,
            "stall_cycles": 0,
        }
        for op, w in zip(pq_ops, writes)
    ]

    def prepare(j):
        found = host.next_layer()
        assert found is not None and found[0] is pq_ops[j]
        op, rows, geom = found
        jobs[j] = qn.layers[op.name].job(manifest, qn.engine, rows)
        geoms[j] = geom

    if n_layers:
        prepare(0)
    wj = wi = fj = fi = cj = 0
    committed = [False] * n_layers
    fed = [False] * n_layers
    outputs = [[] for _ in range(n_layers)]
    traffic = Traffic(rng)
    cycle = 0
    mismatch = None
    idle = 0
    while cj < n_layers and mismatch is None:
        cycle += 1
        idle += 1
        assert idle < 100_000, f"the engine made no progress for 100000 cycles (cycle {cycle})"
        wr_item = next_write(writes, wj, wi, fed)
        if load_bits:
            credit = min(credit + load_bits, credit_cap)
            if credit < word:
                wr_item = None
        beat = None
        if fj < n_layers and jobs[fj] is not None:
            if not committed[fj]:
                stats[fj]["stall_cycles"] += 1
            else:
                beat = traffic.offer(jobs[fj].in_beats[fi])
        wr_fire, in_fire, payload = await clock_cycle(dut, wr_item, beat, traffic.ready())
        out_fire = payload is not None
        if wr_fire or in_fire or out_fire:
            idle = 0
        if wr_fire:
            if load_bits:
                credit -= word
            if wi == 0:
                stats[wj]["first_write"] = cycle
            wi += 1
            if wi == len(writes[wj]):
                committed[wj] = True
                stats[wj]["commit"] = cycle
                wj, wi = wj + 1, 0
        if in_fire:
            if fi == 0:
                stats[fj]["first_in"] = cycle
            fi += 1
            if fi == len(jobs[fj].in_beats):
                fed[fj] = True
                fj, fi = fj + 1, 0
            else:
                traffic.input_taken(in_gap)
        if out_fire:
            outputs[cj].append(payload)
            if len(outputs[cj]) == jobs[cj].out_beats:
                stats[cj]["last_out"] = cycle
                bad = jobs[cj].check(outputs[cj])
                if bad:
                    b = bad[0]
                    per_image = geoms[cj][1] * geoms[cj][2] if geoms[cj] else 1
                    mismatch = {
                        "layer": pq_ops[cj].name,
                        "image": b.get("row", 0) // per_image,
                        **b,
                    }
                    break
                host.done(pq_ops[cj], jobs[cj].expected, geoms[cj])
                cj += 1
                if cj < n_layers:
                    prepare(cj)
            else:
                traffic.output_taken(out_stall)
    if mismatch is None and cj == n_layers:
        assert host.next_layer() is None
        rtl_out = host.output
    else:
        rtl_out = None
    layers = []
    for j, (op, s) in enumerate(zip(pq_ops, stats)):
        lq = qn.layers[op.name]
        job = jobs[j]
        entry = {
            "layer": op.name,
            "d": lq.d,
            "m": lq.m,
            "rows": int(job.layer.n) if job else None,
            "writes": s["writes"],
            "stall_cycles": s["stall_cycles"],
            "load_cycles": (s["commit"] - s["first_write"] + 1) if s["commit"] else None,
            "compute_cycles": (s["last_out"] - s["first_in"] + 1) if s["last_out"] else None,
            "ideal_compute_cycles": int(job.layer.n * job.ideal_cycles_per_row) if job else None,
            "first_write": s["first_write"],
            "commit": s["commit"],
            "first_in": s["first_in"],
            "last_out": s["last_out"],
        }
        layers.append(entry)
    result = {
        "images": len(x),
        "cycles": cycle,
        "load_bits": load_bits,
        "word_bits": word,
        "layers": layers,
        "mismatch": mismatch,
        "mismatches": 0 if mismatch is None else 1,
        "predictions": rtl_out.argmax(axis=1).tolist() if rtl_out is not None else None,
        "golden_predictions": golden.argmax(axis=1).tolist(),
        "equal_to_golden": bool(rtl_out is not None and np.array_equal(rtl_out, golden)),
    }
    with open(cfg["result"], "w") as f:
        json.dump(result, f, indent=2)
    assert mismatch is None, f"mismatch: {mismatch}"
    assert result["equal_to_golden"]
