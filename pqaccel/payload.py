"""Stream payload layouts as a manifest describes them, and the one pack/unpack helper.

Stream payloads are described field by field: ``{"name", "offset", "width", "signed", "dims"}``;
an array field holds ``prod(dims)`` elements of ``width`` bits, row-major, element ``n`` at bit
``offset + n*width``.  :func:`pack` and :func:`unpack` are the only code that turns values into
payload bits and back; tests and drivers use them instead of slicing bits by hand.
"""

import numpy as np

__all__ = ["describe_layout", "pack", "unpack"]


def describe_layout(layout):
    """Field list of an Amaranth ``StructLayout`` or ``ArrayLayout`` (one field named ``data``)."""
    from amaranth.hdl import Shape
    from amaranth.lib import data

    def leaf(shape, dims):
        while isinstance(shape, data.ArrayLayout):
            dims = dims + [shape.length]
            shape = shape.elem_shape
        s = Shape.cast(shape)
        return {"width": s.width, "signed": s.signed, "dims": dims}

    if isinstance(layout, data.StructLayout):
        out = []
        for name, fld in layout:
            out.append({"name": name, "offset": fld.offset, **leaf(fld.shape, [])})
        return {"width": layout.size, "fields": out}
    return {
        "width": Shape.cast(layout).width,
        "fields": [{"name": "data", "offset": 0, **leaf(layout, [])}],
    }


def pack(desc, values):
    """Pack ``{field: int or array}`` into one integer per ``desc``; missing fields are zero."""
    word = 0
    for f in desc["fields"]:
        if f["name"] not in values:
            continue
        mask = (1 << f["width"]) - 1
        v = values[f["name"]]
        if f["dims"]:
            flat = np.asarray(v, dtype=np.int64).reshape(-1)
            count = int(np.prod(f["dims"]))
            if flat.size != count:
                raise ValueError(f"field {f['name']!r} takes {count} elements, got {flat.size}")
            for n, e in enumerate(flat.tolist()):
                word |= (e & mask) << (f["offset"] + n * f["width"])
        else:
            word |= (int(v) & mask) << f["offset"]
    return word


def unpack(desc, word):
    """Inverse of :func:`pack`: ``{field: int or int64 array of shape dims}``."""
    word = int(word)
    out = {}
    for f in desc["fields"]:
        width, sign = f["width"], f["signed"]
        count = int(np.prod(f["dims"])) if f["dims"] else 1
        elems = []
        for n in range(count):
            e = (word >> (f["offset"] + n * width)) & ((1 << width) - 1)
            if sign and e >> (width - 1):
                e -= 1 << width
            elems.append(e)
        out[f["name"]] = (
            np.array(elems, dtype=np.int64).reshape(f["dims"]) if f["dims"] else elems[0]
        )
    return out
