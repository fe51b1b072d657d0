"""Analytical cycles of a whole network run on the PQ engine: compute plus table loads, overlapped.

For a batch of ``B`` images the PQ layers run one after the other, each over the rows of all
``B`` images (its tables are loaded once per batch).  Per PQ layer ``j``:

* ``L_j``: the cycles of its table-port writes (shape, requantization, codebooks, table entries,
  commit): one write per cycle, or, for a load bandwidth of ``B`` bits per cycle below the port's
  data width ``W``, ``ceil(writes * W / B)`` (every write carries a full data word; the link is
  modelled as a credit of ``B`` bits per cycle, buffered up to one word plus ``B``, that a
  write spends); with
  ``wide_port`` a write carries a row of every bank (``c_par * m_par`` entries, or
  ``d_par * m_par`` weights on the MAC engine);
* ``C_j = rows_j * ceil(C/c_par) * max(k/k_par, ceil(M/m_par)) + lambda_j``: the ideal initiation
  interval plus the latency from the first input beat (accepted on the encoder's last of
  ``k/k_par`` steps) to the last output beat: ``lambda_j = encode_stages + lookup_stages + 4 +
  min(ceil(M/m_par), k/k_par) - k/k_par`` (4: the hand-over through the two buffered FIFOs),
  the engine's ``row_latency``.  Writes are counted by the engine's address map (``write_count``).

Tables of layer ``j`` are written while layer ``j-1`` computes, into the other bank; the commit
waits until layer ``j-1``'s rows are all fed, and layer ``j`` starts when it is committed and
layer ``j-1``'s outputs are complete (its rows are built from them):

    load_start_j = commit_{j-1},  commit_j = max(load_start_j + L_j, fed_{j-1}),
    start_j = max(commit_j, end_{j-1}),  end_j = start_j + C_j,  fed_j = end_j - lambda

with ``commit_{-1} = 0``.  The stall of layer ``j`` is ``start_j - end_{j-1}`` (cycles the engine
waits for tables).  Host operations take no cycles here.
"""

__all__ = ["load_cycles", "word_bits", "network_cycles"]


def word_bits(engine):
    """Data width of the engine's table port (bits one write carries)."""
    return engine.address_map().data_bits


def load_cycles(writes, word, load_bits=None):
    """Cycles of ``writes`` table-port writes of ``word`` bits each over a link of ``load_bits``
    bits per cycle (None: one write per cycle)."""
    if load_bits is None or load_bits >= word:
        return writes
    return -(-writes * word // load_bits)


def network_cycles(qn, rows_per_layer, engine=None, load_bits=None):
    """Per engine layer ``{"layer", "rows", "writes", "load", "compute", "stall", "start", "end"}``
    and the total, for the row counts ``rows_per_layer`` (``{name: rows of the batch}``) on
    ``engine`` (default: the bundle's PQ engine; a :class:`pqaccel.mac.MacConfig` models the
    int8 MAC network on the MAC engine), with table loads over ``load_bits`` bits per cycle
    (None: one write per cycle)."""
    e = qn.engine if engine is None else engine
    word = word_bits(e)
    amap = e.address_map()
    out = []
    commit_prev = end_prev = fed_prev = 0
    for lq in qn.engine_layers():
        if lq.mode != e.kind:
            continue
        rows = rows_per_layer[lq.name]
        layer = lq.engine_shape()
        ideal = e.ideal_cycles_per_row(layer)
        lam = e.row_latency(layer)
        writes = amap.write_count(layer)
        load = load_cycles(writes, word, load_bits)
        compute = rows * ideal + lam
        load_start = commit_prev
        commit = max(load_start + load, fed_prev)
        start = max(commit, end_prev)
        end = start + compute
        out.append(
            {
                "layer": lq.name,
                "rows": rows,
                "writes": writes,
                "load": load,
                "compute": compute,
                "stall": start - end_prev,
                "start": start,
                "end": end,
            }
        )
        commit_prev, end_prev, fed_prev = commit, end, end - lam
    return {"layers": out, "total": end_prev, "word_bits": word, "load_bits": load_bits}
