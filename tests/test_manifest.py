import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from pqaccel.payload import describe_layout, pack, unpack


def test_describe_struct():
    layout = data.StructLayout({"data": data.ArrayLayout(signed(5), 3), "last": 1})
    d = describe_layout(layout)
    assert d == {
        "width": 16,
        "fields": [
            {"name": "data", "offset": 0, "width": 5, "signed": True, "dims": [3]},
            {"name": "last", "offset": 15, "width": 1, "signed": False, "dims": []},
        ],
    }


def test_roundtrip_matches_amaranth_layout():
    layout = data.ArrayLayout(data.ArrayLayout(signed(7), 3), 2)
    d = describe_layout(layout)
    values = np.array([[-64, 63, -1], [0, 5, -7]])
    word = pack(d, {"data": values})
    # the same value as Amaranth's own constant for the layout
    assert word == layout.const(values.tolist()).as_value().value
    assert (unpack(d, word)["data"] == values).all()


def test_pack_checks_element_count():
    d = describe_layout(data.ArrayLayout(signed(4), 3))
    with pytest.raises(ValueError, match=r"^field 'data' takes 3 elements, got 2$"):
        pack(d, {"data": [1, 2]})
