"""The table write port's address maps, shared by RTL and drivers (pure Python): an address is
``region`` (:data:`REGION_BITS` bits, at the top) over a body of bit fields, least significant
first.  Each engine's map (its regions, fields and data formats) is in its package:
:mod:`pqaccel.engines.pq.addrmap`, :mod:`pqaccel.engines.mac.addrmap`.
"""

__all__ = ["AddressMap", "REGION_BITS"]

REGION_BITS = 2


class AddressMap:
    """An address space of regions, each a set of bit fields (least significant first), with the
    region code in the top :data:`REGION_BITS` bits."""

    regions = {}

    def __init__(self, fields, data_bits):
        self.fields = fields
        self.body_bits = max(sum(w for _, w in f) for f in self.fields.values())
        self.addr_bits = self.body_bits + REGION_BITS
        self.data_bits = data_bits

    def slices(self, region):
        """``{field: (offset, width)}`` within the address body."""
        out, off = {}, 0
        for name, width in self.fields[region]:
            out[name] = (off, width)
            off += width
        return out

    def address(self, region, **values):
        addr = self.regions[region] << self.body_bits
        for name, (off, width) in self.slices(region).items():
            v = values.get(name, 0)
            if not 0 <= v < (1 << width) and not (width == 0 and v == 0):
                raise ValueError(f"{region} field {name} must fit in {width} bits, got {v!r}")
            addr |= v << off
        return addr

    def to_dict(self):
        return {
            "addr_bits": self.addr_bits,
            "data_bits": self.data_bits,
            "region_offset": self.body_bits,
            "region_bits": REGION_BITS,
            "regions": self.regions,
            "fields": {
                r: [{"name": n, "offset": o, "width": w} for n, (o, w) in self.slices(r).items()]
                for r in self.fields
            },
            "control_regs": self.control_regs,
            "data_formats": self.data_formats(),
        }

    def data_formats(self):
        """``{region: how a data word is packed}``, for drivers that write the port themselves."""
        return {}

    @staticmethod
    def requant_word(requant, shift=None, relu=False):
        """Data of the ``requant`` control register for one layer."""
        shift, relu = requant.check_layer_settings(shift, relu)
        return shift | (int(relu) << requant.shift_bits)

    @staticmethod
    def requant_data_bits(requant):
        return requant.shift_bits + 1 if requant.runtime else 1

    @staticmethod
    def requant_format(requant):
        if not requant.runtime:
            return "requant: not present (requant.runtime is false)"
        b = requant.shift_bits
        return f"requant: shift (0..{requant.shift}) in bits [{b - 1}:0], relu in bit {b}"
