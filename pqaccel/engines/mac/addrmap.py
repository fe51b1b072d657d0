"""The MAC engine's table port: weights (one per write, or a row of every bank with
``wide_port``), the layer shape, the run-time requantization and the commit."""

from ...addrmap import AddressMap
from ...fixedpoint import field_bits
from .config import MacConfig

__all__ = ["MacAddressMap", "MAC_REGIONS", "MAC_CONTROL_REGS"]

MAC_REGIONS = {"weights": 0, "weight_row": 1, "control": 2}
MAC_CONTROL_REGS = {"d": 0, "m": 1, "commit": 2, "requant": 3}


class MacAddressMap(AddressMap):
    """``weights`` (0): fields ``dl, ml, t, g``: weight ``W[g*d_par + dl, t*m_par + ml]``,
    ``w_bits`` two's complement.  ``control`` (2): ``reg`` 0 = ``d``, 1 = ``m``, 2 = commit."""

    regions = MAC_REGIONS
    control_regs = MAC_CONTROL_REGS

    def __init__(self, cfg: MacConfig):
        self.cfg = cfg
        layout = {
            "weights": [
                ("dl", field_bits(cfg.d_par)),
                ("ml", field_bits(cfg.m_par)),
                ("t", field_bits(cfg.mt_max)),
                ("g", field_bits(cfg.g_max)),
            ],
            "control": [("reg", 2)],
        }
        data_bits = max(
            cfg.w_bits,
            cfg.d_max.bit_length(),
            cfg.m_max.bit_length(),
            self.requant_data_bits(cfg.requant),
        )
        self.regions = {r: c for r, c in MAC_REGIONS.items() if r != "weight_row" or cfg.wide_port}
        if cfg.wide_port:
            layout["weight_row"] = [("t", field_bits(cfg.mt_max)), ("g", field_bits(cfg.g_max))]
            data_bits = max(data_bits, cfg.d_par * cfg.m_par * cfg.w_bits)
        super().__init__(layout, data_bits)

    def data_formats(self):
        b = self.cfg.w_bits
        return {
            "weights": {
                "elements": 1,
                "element_bits": b,
                "signed": True,
                "packing": f"the weight at bits [{b - 1}:0], two's complement",
            },
            **(
                {
                    "weight_row": {
                        "elements": self.cfg.d_par * self.cfg.m_par,
                        "element_bits": b,
                        "signed": True,
                        "packing": f"weight (dl, ml) at bits [(ml*{self.cfg.d_par} + dl)*{b} +: "
                        f"{b}]",
                    }
                }
                if self.cfg.wide_port
                else {}
            ),
            "control": {
                "packing": "d: inputs (1..d_max); m: outputs (1..m_max); commit: any value; "
                + self.requant_format(self.cfg.requant)
            },
        }

    def write_count(self, layer):
        """Writes :meth:`weight_writes` makes for a layer of shape ``layer``, counted without
        making them: shape (2), the requantization (``requant.runtime``), the weights (one per
        write, or a row of every bank with ``wide_port``) and the commit."""
        cfg = self.cfg
        weights = cfg.groups(layer) * cfg.m_steps(layer) if cfg.wide_port else layer.d * layer.m
        return 2 + int(cfg.requant.runtime) + weights + 1

    def layer_writes(self, lq):
        """The writes of a converted network layer kept conventional (its weights with the bias
        rows)."""
        return self.weight_writes(lq.w, shift=lq.shift, relu=lq.relu)

    def weight_writes(self, w, commit=True, shift=None, relu=False):
        cfg = self.cfg
        d, m = w.shape
        wb = (1 << cfg.w_bits) - 1
        writes = [
            (self.address("control", reg=MAC_CONTROL_REGS["d"]), d),
            (self.address("control", reg=MAC_CONTROL_REGS["m"]), m),
        ]
        word = self.requant_word(cfg.requant, shift, relu)
        if cfg.requant.runtime:
            writes.append((self.address("control", reg=MAC_CONTROL_REGS["requant"]), word))
        if cfg.wide_port:
            for g in range(-(-d // cfg.d_par)):
                for t in range(-(-m // cfg.m_par)):
                    word = 0
                    for ml in range(cfg.m_par):
                        for dl in range(cfg.d_par):
                            di, mi = g * cfg.d_par + dl, t * cfg.m_par + ml
                            if di < d and mi < m:
                                word |= (int(w[di, mi]) & wb) << (
                                    (ml * cfg.d_par + dl) * cfg.w_bits
                                )
                    writes.append((self.address("weight_row", t=t, g=g), word))
        else:
            for di in range(d):
                g, dl = divmod(di, cfg.d_par)
                for mi in range(m):
                    t, ml = divmod(mi, cfg.m_par)
                    writes.append(
                        (self.address("weights", dl=dl, ml=ml, t=t, g=g), int(w[di, mi]) & wb)
                    )
        if commit:
            writes.append((self.address("control", reg=MAC_CONTROL_REGS["commit"]), 1))
        return writes
