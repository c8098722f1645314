"""SMALL: a register map with every kind of register, shared by the tests of hdl/regmap/."""

from hdl.regmap.language import Field, Register, RegisterMap

SMALL = RegisterMap("small", [
    Register("ID", "ro", "constant", width=16, reset=0xBEEF, const=True),
    Register("CTRL", "rw", "pulses and a mode", width=8, reset=0x20, fields=(
        Field("go", 0, pulse=True), Field("kick", 1, pulse=True), Field("mode", 4, 3, values={"A": 0, "B": 1}))),
    Register("LIMIT", "rw", "plain 12-bit value", width=12, reset=0x123, write_strobe=True),
    Register("STATUS", "ro", "core state with fields", width=8, fields=(Field("busy", 0), Field("count", 4, 4))),
    Register("FLAGS", "w1c", "sticky flags", width=4, fields=(Field("a", 0), Field("b", 1), Field("c", 3))),
    Register("DATA", "ro", "read with a strobe", read_strobe=True),
    Register("SEED", "wo", "write-only with a strobe", write_strobe=True),
    Register("SHIFTS", "rw", "signed fields", width=16, fields=(
        Field("w", 0, 8, signed=True), Field("b", 8, 8, signed=True))),
], doc="A map with every kind of register.")
