"""Register description language (hdl/regmap/language.py): offsets, rejected declarations and the JSON round trip."""

from __future__ import annotations

import json

import pytest

from golden.config import Config
from hdl.regmap.core import core_register_map
from hdl.regmap.language import Field, Register, RegisterMap
from regmap_small import SMALL


def test_regmap_offsets_step_by_four_from_zero_in_declaration_order() -> None:
    assert [SMALL.offset(r.name) for r in SMALL] == [4 * i for i in range(len(SMALL))]
    assert SMALL["LIMIT"].reset == 0x123 and "LIMIT" in SMALL and "NOPE" not in SMALL
    assert SMALL.at(9) is SMALL["LIMIT"] and SMALL.at(SMALL.size) is None
    with pytest.raises(KeyError):
        SMALL.offset("NOPE")


@pytest.mark.parametrize("make", [
    lambda: Register("ctrl", "rw"),                                       # lower-case register name
    lambda: Register("X", "rx"),                                          # unknown access
    lambda: Register("X", "rw", width=33),                                # wider than the bus
    lambda: Register("X", "rw", width=4, reset=16),                       # reset does not fit
    lambda: Register("X", "rw", width=8, fields=(Field("a", 0, 4), Field("b", 3, 2))),  # overlap
    lambda: Register("X", "rw", width=8, fields=(Field("a", 6, 3),)),     # beyond the width
    lambda: Register("X", "ro", fields=(Field("a", 0, pulse=True),)),     # pulse on ro
    lambda: Register("X", "rw", fields=(Field("a", 0, pulse=True),), reset=1),  # pulse resets to 1
    lambda: Register("X", "ro", write_strobe=True),
    lambda: Register("X", "rw", read_strobe=True),
    lambda: Register("X", "rw", const=True),
    lambda: Field("A", 0),                                                # upper-case field name
    lambda: Field("a", 0, 2, values={"BIG": 4}),                          # value does not fit
    lambda: RegisterMap("m", [Register("X", "rw"), Register("X", "ro")]),  # duplicate register
    lambda: RegisterMap("m", [Register("X", "rw", write_strobe=True), Register("X_WSTB", "rw")]),  # port clash
    lambda: RegisterMap("m", []),
])
def test_regmap_rejects_inconsistent_declarations(make) -> None:
    with pytest.raises(ValueError):
        make()


def test_json_round_trip_rebuilds_the_same_map_with_its_offsets() -> None:
    rm = core_register_map(Config())
    text = rm.to_json()
    assert RegisterMap.from_json(text) == rm
    doc = json.loads(text)
    assert doc["size"] == rm.size == 4 * len(rm)
    for entry in doc["registers"]:
        reg = rm[entry["name"]]
        assert entry["offset"] == rm.offset(reg.name)
        assert (entry["access"], entry["width"], entry["reset"]) == (reg.access, reg.width, reg.reset)
        assert [(f["name"], f["lsb"], f["width"], f["values"]) for f in entry["fields"]] == \
               [(f.name, f.lsb, f.width, dict(f.values)) for f in reg.fields]
    doc["registers"][3]["offset"] += 4
    with pytest.raises(ValueError):
        RegisterMap.from_json(json.dumps(doc))
