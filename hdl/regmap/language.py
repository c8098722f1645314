"""The register description language: fields, registers and maps of 32-bit words, with their JSON form."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import Shape, ShapeLike, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

WORD_BYTES = 4
DATA_BITS = 32
ACCESS_KINDS = ("ro", "rw", "w1c", "wo")
ACCESS_DOC = {
    "ro": "read-only: reads the core's value (or a build constant); writes are ignored",
    "rw": "read-write: the bank stores the value and drives it to the core; pulse fields read as 0",
    "w1c": "write 1 to clear: sticky bits set by the core, a written 1 clears a bit (a set in the same cycle wins)",
    "wo": "write-only: the bank stores the value for the core; reads return 0",
}

UPPER_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")  # register and value names, C macro prefixes
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """A named bit range of a register: bits lsb .. lsb + width - 1."""

    name: str
    lsb: int
    width: int = 1
    doc: str = ""
    signed: bool = False
    pulse: bool = False  # rw/wo only: a written 1 reaches the core as a one-cycle pulse, stores 0, reads 0
    values: tuple[tuple[str, int], ...] = ()  # named codes of the field (enumerations)

    def __post_init__(self) -> None:
        if isinstance(self.values, Mapping):
            object.__setattr__(self, "values", tuple(self.values.items()))
        else:
            object.__setattr__(self, "values", tuple(tuple(v) for v in self.values))
        if not _FIELD_NAME.match(self.name):
            raise ValueError(f"field name {self.name!r} must be lower-case letters, digits and _")
        if self.lsb < 0 or self.width < 1:
            raise ValueError(f"field {self.name}: lsb must be >= 0 and width >= 1")
        if self.pulse and (self.signed or self.width != 1):
            raise ValueError(f"field {self.name}: a pulse field is one unsigned bit")
        names = [n for n, _ in self.values]
        if len(set(names)) != len(names):
            raise ValueError(f"field {self.name}: duplicate value names")
        for n, v in self.values:
            if not UPPER_NAME.match(n):
                raise ValueError(f"field {self.name}: value name {n!r} must be upper-case letters, digits and _")
            if not 0 <= v < 1 << self.width:
                raise ValueError(f"field {self.name}: value {n} = {v} does not fit {self.width} bits")

    @property
    def mask(self) -> int:
        """The field's bits in place."""
        return ((1 << self.width) - 1) << self.lsb

    @property
    def shape(self) -> Shape:
        """The field's Amaranth shape."""
        return signed(self.width) if self.signed else unsigned(self.width)

    def bits(self) -> str:
        """Bit range as written in datasheets: "7:4" or "3"."""
        return f"{self.lsb + self.width - 1}:{self.lsb}" if self.width > 1 else str(self.lsb)


@dataclass(frozen=True)
class Register:
    """One 32-bit bus word (`width` bits of it used) and how the bus and the core see it."""

    name: str
    access: str
    doc: str = ""
    width: int = DATA_BITS
    reset: int = 0
    fields: tuple[Field, ...] = ()
    write_strobe: bool = False  # rw/wo: a one-cycle `<name>_wstb` to the core after each write
    read_strobe: bool = False   # ro: a one-cycle `<name>_rstb` to the core after each read
    const: bool = False         # ro: the value is `reset`, fixed at build time; no core port

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if not UPPER_NAME.match(self.name):
            raise ValueError(f"register name {self.name!r} must be upper-case letters, digits and _")
        if self.access not in ACCESS_KINDS:
            raise ValueError(f"{self.name}: access must be one of {', '.join(ACCESS_KINDS)}, got {self.access!r}")
        if not 1 <= self.width <= DATA_BITS:
            raise ValueError(f"{self.name}: width must be 1..{DATA_BITS}, got {self.width}")
        if not 0 <= self.reset < 1 << self.width:
            raise ValueError(f"{self.name}: reset {self.reset:#x} does not fit {self.width} unsigned bits")
        if self.write_strobe and self.access not in ("rw", "wo"):
            raise ValueError(f"{self.name}: write_strobe needs access rw or wo")
        if (self.read_strobe or self.const) and self.access != "ro":
            raise ValueError(f"{self.name}: read_strobe and const need access ro")
        if self.read_strobe and self.const:
            raise ValueError(f"{self.name}: a constant register has no core port for a read strobe")
        used = 0
        names = set()
        for f in self.fields:
            if f.name in names:
                raise ValueError(f"{self.name}: duplicate field {f.name}")
            names.add(f.name)
            if f.lsb + f.width > self.width:
                raise ValueError(f"{self.name}.{f.name}: bits {f.bits()} exceed the register width {self.width}")
            if used & f.mask:
                raise ValueError(f"{self.name}.{f.name}: overlaps another field")
            used |= f.mask
            if f.pulse and self.access not in ("rw", "wo"):
                raise ValueError(f"{self.name}.{f.name}: pulse fields need access rw or wo")
        if self.reset & self.pulse_mask:
            raise ValueError(f"{self.name}: pulse fields reset to 0")

    @property
    def pulse_mask(self) -> int:
        """Bits of the pulse fields."""
        return sum(f.mask for f in self.fields if f.pulse)

    @property
    def mask(self) -> int:
        """The register's implemented bits."""
        return (1 << self.width) - 1

    def field(self, name: str) -> Field:
        """The field called `name`."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def shape(self) -> ShapeLike:
        """Shape of the core-side port: unsigned(width), or a layout with the fields by name."""
        if not self.fields:
            return unsigned(self.width)
        return data.FlexibleLayout(self.width, {f.name: data.Field(f.shape, f.lsb) for f in self.fields})

    @property
    def port(self) -> str:
        """Name of the core-side port (and prefix of its strobes)."""
        return self.name.lower()

    def core_members(self) -> dict[str, wiring.Member]:
        """Core-side ports, directions as seen from the register bank."""
        p, shape = self.port, self.shape()
        if self.access in ("rw", "wo"):
            members = {p: Out(shape)}
            if self.write_strobe:
                members[p + "_wstb"] = Out(1)
        elif self.access == "w1c":
            members = {p: Out(shape), p + "_set": In(shape)}
        elif self.const:
            members = {}
        else:
            members = {p: In(shape)}
            if self.read_strobe:
                members[p + "_rstb"] = Out(1)
        return members

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description (for JSON)."""
        d = dataclasses.asdict(self)
        d["fields"] = [{**dataclasses.asdict(f), "values": dict(f.values)} for f in self.fields]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Register":
        """Inverse of to_dict (extra keys such as the offset are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["fields"] = tuple(Field(**f) for f in d.get("fields", ()))
        return cls(**kw)


class RegisterMap:
    """Registers in bus order, each at the next 32-bit word: byte offsets 0, 4, 8, ..."""

    def __init__(self, name: str, registers: Iterable[Register], doc: str = "") -> None:
        self.name = name
        self.doc = doc
        self.registers: tuple[Register, ...] = tuple(registers)
        self._index: dict[str, int] = {}
        ports: set[str] = set()
        for i, reg in enumerate(self.registers):
            if reg.name in self._index:
                raise ValueError(f"register map {name}: duplicate register {reg.name}")
            self._index[reg.name] = i
            for port in reg.core_members():
                if port in ports:
                    raise ValueError(f"register map {name}: core port {port} of {reg.name} is defined twice")
                ports.add(port)
        if not self.registers:
            raise ValueError(f"register map {name} has no registers")

    def __iter__(self) -> Iterator[Register]:
        return iter(self.registers)

    def __len__(self) -> int:
        return len(self.registers)

    def __getitem__(self, name: str) -> Register:
        return self.registers[self._index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RegisterMap) and (self.name, self.doc, self.registers)
                == (other.name, other.doc, other.registers))

    def offset(self, name: str) -> int:
        """Byte offset of register `name`."""
        if name not in self._index:
            raise KeyError(f"register map {self.name} has no register {name!r}")
        return self._index[name] * WORD_BYTES

    def at(self, offset: int) -> Register | None:
        """The register at a byte offset (bits 1:0 ignored), or None if the word is unmapped."""
        word = offset // WORD_BYTES
        return self.registers[word] if 0 <= word < len(self.registers) else None

    @property
    def size(self) -> int:
        """Bytes spanned by the map."""
        return len(self.registers) * WORD_BYTES

    @property
    def addr_width(self) -> int:
        """Byte-address bits that reach every register."""
        return max((self.size - 1).bit_length(), 3)

    def core_signature(self) -> wiring.Signature:
        """Every register's core-side ports, directions as seen from the register bank."""
        members: dict[str, wiring.Member] = {}
        for reg in self.registers:
            members.update(reg.core_members())
        return wiring.Signature(members)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description with byte offsets."""
        return {
            "name": self.name,
            "doc": self.doc,
            "word_bytes": WORD_BYTES,
            "size": self.size,
            "registers": [{"offset": self.offset(r.name), **r.to_dict()} for r in self.registers],
        }

    def to_json(self) -> str:
        """The map as JSON (offsets, access, widths, resets, fields with masks' positions and named values)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "RegisterMap":
        """Rebuild a map from to_json's output; the stored offsets must be the ones the order gives."""
        d = json.loads(text)
        regmap = cls(d["name"], (Register.from_dict(r) for r in d["registers"]), d.get("doc", ""))
        for r in d["registers"]:
            if r["offset"] != regmap.offset(r["name"]):
                raise ValueError(f"{r['name']}: offset {r['offset']:#x} is not its place in the map")
        return regmap
