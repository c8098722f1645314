"""The one register map: declarative registers, the EP core's map, its register bank (Amaranth) and JSON / C / Markdown emitters."""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from amaranth.hdl import Const, Module, Mux, Shape, ShapeLike, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.config import Config
from golden.fixed_formats import derive, lr_codes

WORD_BYTES = 4
DATA_BITS = 32
ACCESS_KINDS = ("ro", "rw", "w1c", "wo")
ACCESS_DOC = {
    "ro": "read-only: reads the core's value (or a build constant); writes are ignored",
    "rw": "read-write: the bank stores the value and drives it to the core; pulse fields read as 0",
    "w1c": "write 1 to clear: sticky bits set by the core, a written 1 clears a bit (a set in the same cycle wins)",
    "wo": "write-only: the bank stores the value for the core; reads return 0",
}

_REG_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
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
            if not _REG_NAME.match(n):
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
        if not _REG_NAME.match(self.name):
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

    # ---- emitters ----

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

    def to_c_header(self, prefix: str) -> str:
        """A C header: PREFIX_NAME_OFFSET, _RESET; per field _SHIFT, _WIDTH, _MASK (in place) and named values."""
        if not _REG_NAME.match(prefix):
            raise ValueError(f"C prefix {prefix!r} must be upper-case letters, digits and _")
        guard = f"{prefix}_REGS_H"
        lines = [
            f"/* {self.name} register map: {_c_comment(self.doc)} */",
            "/* Generated by hdl/regmap.py (RegisterMap.to_c_header): do not edit. */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            f"#define {prefix}_REGMAP_SIZE {self.size:#x}u",
            f"#define {prefix}_REGMAP_COUNT {len(self)}u",
        ]
        for reg in self.registers:
            base = f"{prefix}_{reg.name}"
            lines += ["", f"/* {reg.name} ({reg.access}, {reg.width} bits): {_c_comment(reg.doc)} */",
                      f"#define {base}_OFFSET {self.offset(reg.name):#04x}u",
                      f"#define {base}_RESET {reg.reset:#x}u"]
            for f in reg.fields:
                fb = f"{base}_{f.name.upper()}"
                lines += [f"#define {fb}_SHIFT {f.lsb}u",
                          f"#define {fb}_WIDTH {f.width}u",
                          f"#define {fb}_MASK {f.mask:#x}u"]
                lines += [f"#define {fb}_{vname} {v}u" for vname, v in f.values]
        lines += ["", f"#endif /* {guard} */", ""]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The map as Markdown: a table of registers (one row each), then a table of their fields."""
        out = [f"# {self.name} register map", "", _md(self.doc), "",
               f"{DATA_BITS}-bit registers at byte offsets (bits 1:0 of the address are ignored); "
               "unmapped words read 0 and ignore writes.", "",
               "| Access | Meaning |", "|---|---|"]
        out += [f"| {a} | {ACCESS_DOC[a]} |" for a in ACCESS_KINDS]
        out += ["", "## Registers", "", "| Offset | Name | Access | Width | Reset | Description |",
                "|---|---|---|---|---|---|"]
        for reg in self.registers:
            extra = []
            if reg.const:
                extra.append("build constant")
            if reg.write_strobe:
                extra.append("each write strobes the core")
            if reg.read_strobe:
                extra.append("each read strobes the core")
            note = f" ({'; '.join(extra)})" if extra else ""
            out.append(f"| {self.offset(reg.name):#04x} | {reg.name} | {reg.access} | {reg.width} | "
                       f"{reg.reset:#x} | {_md(reg.doc)}{note} |")
        out += ["", "## Fields", "", "| Register | Field | Bits | Description |", "|---|---|---|---|"]
        for reg in self.registers:
            for f in reg.fields:
                desc = _md(f.doc)
                if f.signed:
                    desc += " (signed)"
                if f.pulse:
                    desc += " (pulse: write 1, reads 0)"
                if f.values:
                    desc += " Values: " + ", ".join(f"{n} = {v}" for n, v in f.values) + "."
                out.append(f"| {reg.name} | {f.name} | {f.bits()} | {desc} |")
        return "\n".join(out) + "\n"


def _c_comment(text: str) -> str:
    return " ".join(text.replace("*/", "* /").split())


def _md(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


# ---- the bank: gateware and its Python model ----

def bus_signature(addr_width: int) -> wiring.Signature:
    """The generic register bus, seen from the initiator (the AXI4-Lite slave in front of the bank).

    A write: `w_en` high for one cycle with `addr` and `w_data`; the register changes at that
    clock edge. A read: `r_en` high for one cycle with `addr`; `r_data` holds the value from the next
    cycle until the next read. A read and a write in the same cycle read the old value.
    `addr` is a byte address; bits 1:0 are ignored (whole 32-bit words only).
    """
    return wiring.Signature({
        "addr": Out(addr_width),
        "r_en": Out(1),
        "r_data": In(DATA_BITS),
        "w_en": Out(1),
        "w_data": Out(DATA_BITS),
    })


class RegisterBank(wiring.Component):
    """A register file generated from a RegisterMap: the bus on one side, typed per-register ports to the core.

    Ports: `bus` (bus_signature, the bank is the target) and `regs` (map.core_signature()): for each
    register NAME, port `name` with the register's shape (a layout with its fields, if any):
    rw/wo: Out, the stored value (pulse fields high for the one cycle after a write of 1), and
    `name_wstb` (Out, one cycle after each write) if write_strobe; ro: In, the core's value, and
    `name_rstb` (Out, in the cycle r_data presents the value) if read_strobe; const ro: no port;
    w1c: Out, the sticky bits, and `name_set` (In): a 1 sets the bit at the next edge (wins over a
    clear in the same cycle). Every strobe and pulse is registered.
    """

    def __init__(self, regmap: RegisterMap, addr_width: int | None = None) -> None:
        self.regmap = regmap
        self.addr_width = regmap.addr_width if addr_width is None else addr_width
        if self.addr_width < regmap.addr_width:
            raise ValueError(f"addr_width {self.addr_width} cannot reach every register "
                             f"(needs {regmap.addr_width})")
        super().__init__({"bus": In(bus_signature(self.addr_width)), "regs": Out(regmap.core_signature())})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus, regs = self.bus, self.regs
        word = bus.addr[2:]
        readable: dict[int, Any] = {}
        for index, reg in enumerate(self.regmap):
            port = getattr(regs, reg.port, None)
            if reg.access in ("rw", "wo"):
                store = Signal(reg.width, name=f"{reg.port}_q", init=reg.reset)
                pulses = Signal(reg.width, name=f"{reg.port}_pulse")
                keep = reg.mask & ~reg.pulse_mask
                written = bus.w_en & (word == index)
                m.d.sync += pulses.eq(Mux(written, bus.w_data & reg.pulse_mask, 0))
                with m.If(written):
                    m.d.sync += store.eq(bus.w_data & keep)
                if reg.write_strobe:
                    m.d.sync += getattr(regs, reg.port + "_wstb").eq(written)
                m.d.comb += port.as_value().eq(store | pulses) if reg.fields else port.eq(store | pulses)
                if reg.access == "rw":
                    readable[index] = store
            elif reg.access == "w1c":
                store = Signal(reg.width, name=f"{reg.port}_q", init=reg.reset)
                sets = getattr(regs, reg.port + "_set")
                sets = sets.as_value() if reg.fields else sets
                clears = Mux(bus.w_en & (word == index), bus.w_data[:reg.width], 0)
                m.d.sync += store.eq(store & ~clears | sets)
                m.d.comb += port.as_value().eq(store) if reg.fields else port.eq(store)
                readable[index] = store
            elif reg.const:
                readable[index] = Const(reg.reset, reg.width)
            else:
                readable[index] = port.as_value() if reg.fields else port
                if reg.read_strobe:
                    m.d.sync += getattr(regs, reg.port + "_rstb").eq(bus.r_en & (word == index))
        with m.If(bus.r_en):
            with m.Switch(word):
                for index, value in readable.items():
                    with m.Case(index):
                        m.d.sync += bus.r_data.eq(value)
                with m.Default():
                    m.d.sync += bus.r_data.eq(0)
        return m


@dataclass
class RegisterModel:
    """Bus-level behaviour of a RegisterBank in Python (reference for the gateware and for driver tests).

    `inputs` holds the core's values of the non-constant ro registers; `set_bits` is the core setting
    w1c bits. `core_value(name)` is what the bank drives to the core (pulses excluded).
    """

    regmap: RegisterMap
    inputs: dict[str, int] = field(default_factory=dict)
    _store: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._store = {r.name: r.reset for r in self.regmap if r.access != "ro"}

    def write(self, offset: int, value: int) -> None:
        """A bus write of a 32-bit word."""
        reg = self.regmap.at(offset)
        if reg is None or reg.access == "ro":
            return
        value &= reg.mask
        if reg.access == "w1c":
            self._store[reg.name] &= ~value
        else:
            self._store[reg.name] = value & ~reg.pulse_mask

    def read(self, offset: int) -> int:
        """A bus read of a 32-bit word."""
        reg = self.regmap.at(offset)
        if reg is None or reg.access == "wo":
            return 0
        if reg.access == "ro":
            return reg.reset if reg.const else self.inputs.get(reg.name, 0) & reg.mask
        return self._store[reg.name]

    def set_bits(self, name: str, bits: int) -> None:
        """The core sets bits of a w1c register."""
        if self.regmap[name].access != "w1c":
            raise ValueError(f"{name} is not a w1c register")
        self._store[name] |= bits & self.regmap[name].mask

    def core_value(self, name: str) -> int:
        """Value the bank drives to the core for an rw, wo or w1c register."""
        return self._store[name]


# ---- the EP core's map ----

CORE_ID = 0x45504631  # ASCII "EPF1"
from .plan import MAX_SAMPLES  # noqa: E402 - the build plan holds a build's default largest run-time N


def build_id(cfg: Config) -> int:
    """CRC-32 of what a bitstream fixes from the config (layer sizes and number formats)."""
    key = json.dumps({"sizes": cfg.sizes, "fixed": dataclasses.asdict(cfg.fixed)}, sort_keys=True)
    return zlib.crc32(key.encode())


def core_register_map(cfg: Config, max_samples: int = MAX_SAMPLES) -> RegisterMap:
    """The EP core's register map for the network and formats of `cfg` (a fixed-point config: the
    learning-rate shifts are build constants) and the largest run-time N, `max_samples`."""
    consts = derive(cfg)
    _, s_w, _, s_b = lr_codes(cfg, consts, 0)
    n_weight_layers = len(cfg.sizes) - 1
    classes = cfg.sizes[-1]
    class_bits = max((classes - 1).bit_length(), 1)
    lanes = cfg.fixed.noise_lanes
    lane_bits = max(lanes.bit_length(), 1)  # lane indices 0..L (L is the rounding generator)
    regs = [
        Register("ID", "ro", "Core identifier, ASCII 'EPF1': the driver checks it first.",
                 reset=CORE_ID, const=True),
        Register("BUILD_ID", "ro", "CRC-32 of the layer sizes and number formats the core was generated for "
                 "(hdl.regmap.build_id): the driver refuses a config that does not match.",
                 reset=build_id(cfg), const=True),
        Register("CTRL", "rw", "Commands: set mode and write start = 1 in the same write.", width=8, fields=(
            Field("start", 0, doc="Run the command in `mode` (ignored while STATUS.busy; sets ERRORS.start_busy).",
                  pulse=True),
            Field("soft_reset", 1, doc="Abort the command and return to idle; memories and registers are kept, "
                  "the noise generators return to their reset states (seed them again).", pulse=True),
            Field("clear_counters", 2, doc="Zero SAMPLE_COUNT, HIT_COUNT, RECIP_SAT_COUNT and the cycle counter.",
                  pulse=True),
            Field("mode", 4, 2, doc="Command run by start.", values={
                "TRAIN": 0,   # one sample online: free, (-beta,) +beta phases, measurements, update, refresh
                "INFER": 1,   # free phase from rest with SWEEPS.eval sweeps; PREDICTION
                "LOAD": 2,    # after parameter writes: totals and reciprocals (docs/fixed-point.md section 3)
                "CLEAR": 3,   # warm-start state to 0 (the start of an epoch)
            }),
        )),
        Register("STATUS", "ro", "Core state.", width=8, fields=(
            Field("busy", 0, doc="A command is running."),
            Field("done", 1, doc="The last command finished (cleared by the next start)."),
            Field("hit", 2, doc="The last sample's free-phase prediction equals LABEL (TRAIN)."),
        )),
        Register("ERRORS", "w1c", "Sticky error flags; write 1 to clear.", width=8, fields=(
            Field("recip_sat", 0, doc="A denominator of a phase in use was <= 0: its reciprocal saturated to all "
                  "ones (docs/fixed-point.md section 3; RECIP_SAT_COUNT counts them)."),
            Field("start_busy", 1, doc="start was written while busy and was ignored."),
            Field("mem_busy", 2, doc="A memory-window access while busy was ignored."),
        )),
        Register("PREDICTION", "ro", "Argmax of the last free phase's output codes (lowest index on ties).",
                 width=class_bits),
        Register("LABEL", "rw", f"Class (0..{classes - 1}) of the sample of the next TRAIN command.",
                 width=class_bits),
        Register("SETTINGS", "rw", "Run settings of the EP algorithm.", width=8, fields=(
            Field("centered", 0, doc="1: centered variant (-beta and +beta phases); 0: positive (+beta only)."),
            Field("warm_start", 1, doc="1: a training sample's free phase starts from the previous training "
                  "sample's free state (STATE); 0: from zero."),
            Field("order", 2, 2, doc="Sweep order of the layer updates.",
                  values={"ALTERNATING": 0, "FORWARD": 1, "BACKWARD": 2}),
        )),
        Register("SWEEPS", "rw", "Sweeps per phase.", width=16, fields=(
            Field("train", 0, 8, doc="Sweeps per phase of TRAIN (config sweeps)."),
            Field("eval", 8, 8, doc="Sweeps of INFER's free phase (config sweeps_eval)."),
        )),
        Register("BATCH_SIZE", "ro", "Training samples per update: this core updates after every TRAIN sample "
                 "(online learning); the driver refuses a config with a larger batch size.", reset=1, const=True),
        Register("BETA_G", "rw", "beta as a conductance code, beta * 2^F_g; the core derives beta_c = "
                 "BETA_G << F_v (docs/fixed-point.md section 1).", width=consts.g_bits),
        Register("NOISE_SN", "rw", "Noise coefficient sn (F_v + F_s fraction bits); 0 disables noise (no draws).",
                 width=31),
        Register("NOISE_N", "rw", f"Readings N averaged per measurement, 1..{max_samples} (the build's maximum).",
                 width=max(max_samples.bit_length(), 1), reset=1),
        Register("SEED_LANE", "rw", f"Generator index for SEED_DATA: 0..{lanes - 1} noise lanes, {lanes} the "
                 "rounding generator.", width=lane_bits),
        Register("SEED_DATA", "wo", "Writing a state seeds generator SEED_LANE (non-zero; the host computes "
                 "lane_seed per epoch, docs/fixed-point.md section 5).", write_strobe=True),
    ]
    for l in range(1, n_weight_layers + 1):
        shifts = (int(s_w[l]) & 0xFF) | (int(s_b[l]) & 0xFF) << 8
        regs += [
            Register(f"LR_K_W{l}", "rw", f"Learning-rate factor code k_w of weight layer {l} (0 freezes it).",
                     width=31),
            Register(f"LR_K_B{l}", "rw", f"Learning-rate factor code k_b of the biases of layer {l}.", width=31),
            Register(f"LR_SHIFT{l}", "ro", f"Right shifts of layer {l}'s updates, fixed at build time (negative: "
                     "exact left shift); the driver refuses a config whose shifts differ.",
                     width=16, reset=shifts, const=True, fields=(
                         Field("w", 0, 8, doc="s_w: shift of A * k_w.", signed=True),
                         Field("b", 8, 8, doc="s_b: shift of Q * k_b.", signed=True),
                     )),
        ]
    regs += [
        Register("SAMPLE_COUNT", "ro", "TRAIN and INFER samples since the last clear_counters."),
        Register("HIT_COUNT", "ro", "Free-phase hits (prediction == LABEL) since the last clear_counters."),
        Register("RECIP_SAT_COUNT", "ro", "Saturated reciprocals of denominators <= 0 in use since the last "
                 "clear_counters (the golden model's recip_saturations)."),
        Register("CYCLE_COUNT_LO", "ro", "Low word of the 64-bit busy-cycle counter; reading it latches the high "
                 "word into CYCLE_COUNT_HI.", read_strobe=True),
        Register("CYCLE_COUNT_HI", "ro", "High word of the cycle counter, latched by the last CYCLE_COUNT_LO read."),
        Register("MEM_SPACE", "rw", "Memory reached through the MEM_* window.", width=4, fields=(
            Field("space", 0, 4, doc="PARAMS: parameter codes in the golden flat layout (per layer: "
                  "conductances row-major, then biases; run LOAD after writing them); STATE: the warm-start "
                  "free state, free node j at j (written when a run resumes); PIXELS: the next sample's 784 pixel values 0..255.",
                  values={"PARAMS": 0, "STATE": 1, "PIXELS": 2}),
        )),
        Register("MEM_ADDR", "rw", "Element index in MEM_SPACE; writing it loads the core's access pointer, "
                 "which advances by one after every MEM_WDATA_LO write and MEM_RDATA_LO read.", write_strobe=True),
        Register("MEM_WDATA_HI", "rw", "Bits 63:32 of the next element written (codes sign-extended to 64 bits); "
                 "write it before MEM_WDATA_LO when the element is wider than 32 bits."),
        Register("MEM_WDATA_LO", "wo", "Bits 31:0 of an element: writing it stores {MEM_WDATA_HI, MEM_WDATA_LO} "
                 "at the pointer and advances the pointer.", write_strobe=True),
        Register("MEM_RDATA_LO", "ro", "Bits 31:0 of the element at the pointer; reading it latches bits 63:32 "
                 "into MEM_RDATA_HI and advances the pointer.", read_strobe=True),
        Register("MEM_RDATA_HI", "ro", "Bits 63:32 (sign-extended) of the element read by the last MEM_RDATA_LO read."),
    ]
    return RegisterMap("ep_core", regs, doc="Control, status, run settings, seeds, counters and memory windows "
                       "of the Equilibrium Propagation core (docs/fixed-point.md).")
