"""The PQ engine's table port: address map and data formats (pure Python, shared by RTL and
drivers).

An address is ``region`` (2 bits, at the top) over a body of bit fields, least significant
first.  Regions:

* ``codebook`` (0): fields ``cl, slot, step, g``; prototype ``k = step*k_par + slot`` of subspace
  ``c = g*c_par + cl``.  Data: ``v`` elements of ``proto_bits``, element ``i`` at bit
  ``i*proto_bits``.
* ``lut`` (1): fields ``ml, cl, k, t, g``; entry ``T[c, k, m]`` with ``c = g*c_par + cl`` and
  ``m = t*m_par + ml``.  Data: ``lut_bits`` two's complement.
* ``control`` (2): field ``reg``: ``0`` = subspaces ``C`` (1..c_max), ``1`` = outputs ``M``
  (1..m_max), ``2`` = commit (make the loaded bank active at the next row boundary), ``3`` =
  requantization of the layer (only with ``requant.runtime``): shift in bits
  ``[shift_bits-1:0]`` (0..requant.shift), ReLU in bit ``shift_bits``.

* ``lut_row`` (3, only with ``wide_port``): fields ``k, t, g``; one write fills every bank:
  entry ``T[g*c_par + cl, k, t*m_par + ml]`` at bits ``[(cl*m_par + ml)*lut_bits +: lut_bits]``
  (entries past ``C`` or ``M`` are ignored).

Every write goes to the shadow bank.  The port's ``ready`` is low while a commit is pending or
while rows that use the shadow bank are still in flight.
"""

from ...addrmap import AddressMap
from ...fixedpoint import field_bits

__all__ = ["PQAddressMap", "REGIONS", "CONTROL_REGS"]

REGIONS = {"codebook": 0, "lut": 1, "control": 2, "lut_row": 3}
CONTROL_REGS = {"c": 0, "m": 1, "commit": 2, "requant": 3}


class PQAddressMap(AddressMap):
    """The PQ engine's table port (see the module docstring)."""

    regions = REGIONS
    control_regs = CONTROL_REGS

    def __init__(self, cfg):
        self.cfg = cfg
        p, w = cfg.par, cfg.widths
        fields = {
            "codebook": [
                ("cl", field_bits(p.c_par)),
                ("slot", field_bits(p.k_par)),
                ("step", field_bits(cfg.k_steps)),
                ("g", field_bits(cfg.g_max)),
            ],
            "lut": [
                ("ml", field_bits(p.m_par)),
                ("cl", field_bits(p.c_par)),
                ("k", field_bits(cfg.k)),
                ("t", field_bits(cfg.mt_max)),
                ("g", field_bits(cfg.g_max)),
            ],
            "control": [("reg", 2)],
        }
        data_bits = max(
            cfg.v * w.proto_bits,
            w.lut_bits,
            cfg.c_max.bit_length(),
            cfg.m_max.bit_length(),
            self.requant_data_bits(cfg.requant),
        )
        self.regions = {r: c for r, c in REGIONS.items() if r != "lut_row" or cfg.wide_port}
        if cfg.wide_port:
            fields["lut_row"] = [
                ("k", field_bits(cfg.k)),
                ("t", field_bits(cfg.mt_max)),
                ("g", field_bits(cfg.g_max)),
            ]
            data_bits = max(data_bits, p.c_par * p.m_par * w.lut_bits)
        super().__init__(fields, data_bits)

    def data_formats(self):
        w = self.cfg.widths
        return {
            "codebook": {
                "elements": self.cfg.v,
                "element_bits": w.proto_bits,
                "signed": True,
                "packing": f"element i (0..{self.cfg.v - 1}) of the prototype at bits "
                f"[i*{w.proto_bits} + {w.proto_bits - 1} : i*{w.proto_bits}], "
                f"two's complement",
            },
            "lut": {
                "elements": 1,
                "element_bits": w.lut_bits,
                "signed": True,
                "packing": f"the entry at bits [{w.lut_bits - 1}:0], two's complement",
            },
            **(
                {
                    "lut_row": {
                        "elements": self.cfg.par.c_par * self.cfg.par.m_par,
                        "element_bits": w.lut_bits,
                        "signed": True,
                        "packing": f"entry of bank (cl, ml) at bits [(cl*{self.cfg.par.m_par} + "
                        f"ml)*{w.lut_bits} "
                        f"+: {w.lut_bits}], two's complement",
                    }
                }
                if self.cfg.wide_port
                else {}
            ),
            "control": {
                "packing": "c: subspaces C (1..c_max); m: outputs M (1..m_max); "
                "commit: any value; " + self.requant_format(self.cfg.requant)
            },
        }

    def write_count(self, layer):
        """Writes :meth:`table_writes` makes for a layer of shape ``layer`` (a
        :class:`~pqaccel.config.LayerConfig`), counted without making them: shape (2), the
        requantization (with ``requant.runtime``), ``C*k`` prototypes, the table entries (one
        per write, or a row of every bank with ``wide_port``) and the commit."""
        cfg, p = self.cfg, self.cfg.par
        c = cfg.subspaces(layer)
        entries = (
            (-(-c // p.c_par) * cfg.m_steps(layer) * cfg.k)
            if cfg.wide_port
            else c * cfg.k * layer.m
        )
        return 2 + int(cfg.requant.runtime) + c * cfg.k + entries + 1

    def layer_writes(self, lq):
        """The writes of a converted network layer (:class:`pqaccel.engines.pq.layer.PQLayer`)."""
        return self.table_writes(lq.protos, lq.lut, shift=lq.shift, relu=lq.relu)

    def table_writes(self, protos, lut, c=None, m=None, commit=True, shift=None, relu=False):
        """``[(addr, data)]`` that load ``protos`` (``C x k x v``) and ``lut`` (``C x k x M``), the
        layer shape and (with ``requant.runtime``) the layer's ``shift`` and ``relu`` into the
        shadow bank, then (if ``commit``) make it active."""
        cfg, p = self.cfg, self.cfg.par
        c = len(protos) if c is None else c
        m = len(lut[0][0]) if m is None else m
        pb, lb = cfg.widths.proto_bits, cfg.widths.lut_bits
        writes = [
            (self.address("control", reg=CONTROL_REGS["c"]), c),
            (self.address("control", reg=CONTROL_REGS["m"]), m),
        ]
        word = self.requant_word(cfg.requant, shift, relu)
        if cfg.requant.runtime:
            writes.append((self.address("control", reg=CONTROL_REGS["requant"]), word))
        for ci in range(c):
            g, cl = divmod(ci, p.c_par)
            for k in range(cfg.k):
                step, slot = divmod(k, p.k_par)
                word = 0
                for i in range(cfg.v):
                    word |= (int(protos[ci][k][i]) & ((1 << pb) - 1)) << (i * pb)
                writes.append((self.address("codebook", cl=cl, slot=slot, step=step, g=g), word))
        if cfg.wide_port:
            for g in range(-(-c // p.c_par)):
                for t in range(-(-m // p.m_par)):
                    for k in range(cfg.k):
                        word = 0
                        for cl in range(p.c_par):
                            for ml in range(p.m_par):
                                ci, mi = g * p.c_par + cl, t * p.m_par + ml
                                if ci < c and mi < m:
                                    word |= (int(lut[ci][k][mi]) & ((1 << lb) - 1)) << (
                                        (cl * p.m_par + ml) * lb
                                    )
                        writes.append((self.address("lut_row", k=k, t=t, g=g), word))
        else:
            for ci in range(c):
                g, cl = divmod(ci, p.c_par)
                for k in range(cfg.k):
                    for mi in range(m):
                        t, ml = divmod(mi, p.m_par)
                        writes.append(
                            (
                                self.address("lut", ml=ml, cl=cl, k=k, t=t, g=g),
                                int(lut[ci][k][mi]) & ((1 << lb) - 1),
                            )
                        )
        if commit:
            writes.append((self.address("control", reg=CONTROL_REGS["commit"]), 1))
        return writes
