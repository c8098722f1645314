"""The register bank gateware: a generic register bus and the RegisterBank a RegisterMap generates."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .language import DATA_BITS, RegisterMap


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
