# amaranth: UnusedElaboratable=no
"""RegisterBank (hdl/regmap/bank.py) in simulation: resets, access kinds, strobes, unmapped words, and equality with RegisterModel."""

from __future__ import annotations

import random

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from golden.config import Config
from hdl.regmap.bank import RegisterBank
from hdl.regmap.core import core_register_map
from hdl.regmap.language import RegisterMap
from hdl.regmap.model import RegisterModel
from regmap_small import SMALL


class Bus:
    """Bus-initiator helpers for a RegisterBank testbench."""

    def __init__(self, ctx, dut: RegisterBank) -> None:
        self.ctx, self.bus = ctx, dut.bus

    async def write(self, addr: int, value: int) -> None:
        self.ctx.set(self.bus.addr, addr)
        self.ctx.set(self.bus.w_data, value)
        self.ctx.set(self.bus.w_en, 1)
        await self.ctx.tick()
        self.ctx.set(self.bus.w_en, 0)

    async def read(self, addr: int) -> int:
        self.ctx.set(self.bus.addr, addr)
        self.ctx.set(self.bus.r_en, 1)
        await self.ctx.tick()
        self.ctx.set(self.bus.r_en, 0)
        return self.ctx.get(self.bus.r_data)


def simulate(dut: RegisterBank, bench) -> None:
    """Run one async testbench `bench(ctx, bus)` against the bank."""
    async def wrapped(ctx) -> None:
        await bench(ctx, Bus(ctx, dut))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(wrapped)
    sim.run()


def raw(ctx, port) -> int:
    """A port's bits as an unsigned int (layout ports included)."""
    return ctx.get(port.as_value() if hasattr(port, "as_value") else port)


def setraw(ctx, port, value: int) -> None:
    ctx.set(port.as_value() if hasattr(port, "as_value") else port, value)


def test_bank_registers_start_at_their_reset_values() -> None:
    dut = RegisterBank(SMALL)

    async def bench(ctx, bus: Bus) -> None:
        assert raw(ctx, dut.regs.ctrl) == 0x20 and raw(ctx, dut.regs.limit) == 0x123
        assert raw(ctx, dut.regs.flags) == 0 and ctx.get(dut.regs.seed) == 0
        assert await bus.read(SMALL.offset("ID")) == 0xBEEF
        assert await bus.read(SMALL.offset("CTRL")) == 0x20
        assert await bus.read(SMALL.offset("LIMIT")) == 0x123

    simulate(dut, bench)


def test_bank_rw_reads_back_masked_to_width_and_pulse_fields_read_zero() -> None:
    dut = RegisterBank(SMALL)

    async def bench(ctx, bus: Bus) -> None:
        await bus.write(SMALL.offset("LIMIT"), 0xFFFF_FABC)
        assert raw(ctx, dut.regs.limit) == 0xABC
        assert await bus.read(SMALL.offset("LIMIT")) == 0xABC
        await bus.write(SMALL.offset("CTRL"), 0x53)  # go, kick, mode = 5
        assert ctx.get(dut.regs.ctrl.go) == 1 and ctx.get(dut.regs.ctrl.kick) == 1 and ctx.get(dut.regs.ctrl.mode) == 5
        await ctx.tick()
        assert ctx.get(dut.regs.ctrl.go) == 0 and ctx.get(dut.regs.ctrl.mode) == 5  # one-cycle pulse, mode stays
        assert await bus.read(SMALL.offset("CTRL")) == 0x50
        await bus.write(SMALL.offset("SHIFTS"), 0x80FE)
        assert ctx.get(dut.regs.shifts.w) == -2 and ctx.get(dut.regs.shifts.b) == -128  # typed, signed fields

    simulate(dut, bench)


def test_bank_write_strobe_pulses_once_with_the_new_value() -> None:
    dut = RegisterBank(SMALL)
    seen: list[tuple[int, int]] = []

    async def bench(ctx, bus: Bus) -> None:
        await bus.write(SMALL.offset("SEED"), 0xDEADBEEF)
        for _ in range(3):
            seen.append((ctx.get(dut.regs.seed_wstb), ctx.get(dut.regs.seed)))
            await ctx.tick()
        assert await bus.read(SMALL.offset("SEED")) == 0  # write-only
        assert ctx.get(dut.regs.seed) == 0xDEADBEEF and ctx.get(dut.regs.limit_wstb) == 0

    simulate(dut, bench)
    assert seen == [(1, 0xDEADBEEF), (0, 0xDEADBEEF), (0, 0xDEADBEEF)]


def test_bank_ro_reflects_core_inputs_and_ignores_writes() -> None:
    dut = RegisterBank(SMALL)

    async def bench(ctx, bus: Bus) -> None:
        setraw(ctx, dut.regs.status, 0x71)
        ctx.set(dut.regs.data, 0x12345678)
        assert await bus.read(SMALL.offset("STATUS")) == 0x71
        assert await bus.read(SMALL.offset("DATA")) == 0x12345678
        await bus.write(SMALL.offset("STATUS"), 0)
        await bus.write(SMALL.offset("ID"), 0)
        assert await bus.read(SMALL.offset("STATUS")) == 0x71
        assert await bus.read(SMALL.offset("ID")) == 0xBEEF
        setraw(ctx, dut.regs.status, 0x02)
        assert await bus.read(SMALL.offset("STATUS")) == 0x02

    simulate(dut, bench)


def test_bank_read_strobe_pulses_in_the_cycle_the_data_is_presented() -> None:
    dut = RegisterBank(SMALL)

    async def bench(ctx, bus: Bus) -> None:
        ctx.set(dut.regs.data, 7)
        assert ctx.get(dut.regs.data_rstb) == 0
        assert await bus.read(SMALL.offset("DATA")) == 7
        assert ctx.get(dut.regs.data_rstb) == 1
        ctx.set(dut.regs.data, 8)  # the core advances; r_data keeps the value read
        await ctx.tick()
        assert ctx.get(dut.regs.data_rstb) == 0 and ctx.get(dut.bus.r_data) == 7
        await bus.read(SMALL.offset("STATUS"))
        assert ctx.get(dut.regs.data_rstb) == 0

    simulate(dut, bench)


def test_bank_w1c_bits_stick_until_a_written_one_clears_them_and_a_set_wins() -> None:
    dut = RegisterBank(SMALL)
    off = SMALL.offset("FLAGS")

    async def bench(ctx, bus: Bus) -> None:
        setraw(ctx, dut.regs.flags_set, 0b1011)
        await ctx.tick()
        setraw(ctx, dut.regs.flags_set, 0)
        await ctx.tick().repeat(3)
        assert await bus.read(off) == 0b1011 and raw(ctx, dut.regs.flags) == 0b1011
        await bus.write(off, 0b0001)  # clears a only
        assert await bus.read(off) == 0b1010
        await bus.write(off, 0)       # zeros clear nothing
        assert await bus.read(off) == 0b1010
        setraw(ctx, dut.regs.flags_set, 0b0010)  # set and clear of b in the same cycle: set wins
        await bus.write(off, 0b1010)
        setraw(ctx, dut.regs.flags_set, 0)
        assert await bus.read(off) == 0b0010
        assert ctx.get(dut.regs.flags.b) == 1 and ctx.get(dut.regs.flags.c) == 0

    simulate(dut, bench)


def test_bank_unmapped_addresses_read_zero_and_writes_there_change_nothing() -> None:
    dut = RegisterBank(SMALL, addr_width=10)
    model = RegisterModel(SMALL)

    async def bench(ctx, bus: Bus) -> None:
        setraw(ctx, dut.regs.status, 0xFF)
        ctx.set(dut.regs.data, 0xFFFFFFFF)
        for addr in (SMALL.size, SMALL.size + 4, 0x3FC, 0x200 + SMALL.offset("LIMIT")):
            await bus.write(addr, 0xFFFFFFFF)
            assert await bus.read(addr) == 0, hex(addr)
        for reg in SMALL:  # nothing aliased onto a mapped register
            if reg.access != "ro":
                assert await bus.read(SMALL.offset(reg.name)) == model.read(SMALL.offset(reg.name)), reg.name
        assert await bus.read(SMALL.offset("LIMIT") + 3) == 0x123  # bits 1:0 of the address are ignored

    simulate(dut, bench)


def test_bank_matches_the_python_model_under_random_traffic() -> None:
    rm = core_register_map(Config())
    dut = RegisterBank(rm)
    model = RegisterModel(rm)
    rng = random.Random(1)
    live = [r for r in rm if r.access == "ro" and not r.const]
    sticky = [r for r in rm if r.access == "w1c"]
    driven = [r for r in rm if r.access in ("rw", "wo", "w1c")]

    async def bench(ctx, bus: Bus) -> None:
        for step in range(600):
            op = rng.random()
            addr = rng.randrange(0, 1 << rm.addr_width)
            if op < 0.4:
                value = rng.getrandbits(32)
                await bus.write(addr, value)
                model.write(addr, value)
            elif op < 0.8:
                assert await bus.read(addr) == model.read(addr), f"step {step}: read {addr:#x}"
            elif op < 0.9:
                reg = rng.choice(live)
                value = rng.getrandbits(reg.width)
                setraw(ctx, getattr(dut.regs, reg.port), value)
                model.inputs[reg.name] = value
            else:
                reg = rng.choice(sticky)
                bits = rng.getrandbits(reg.width)
                setraw(ctx, getattr(dut.regs, reg.port + "_set"), bits)
                await ctx.tick()
                setraw(ctx, getattr(dut.regs, reg.port + "_set"), 0)
                model.set_bits(reg.name, bits)
            for reg in driven:
                assert raw(ctx, getattr(dut.regs, reg.port)) & ~reg.pulse_mask == model.core_value(reg.name), \
                    f"step {step}: {reg.name}"

    simulate(dut, bench)


def test_bank_rejects_an_address_bus_too_narrow_for_the_map() -> None:
    with pytest.raises(ValueError):
        RegisterBank(SMALL, addr_width=SMALL.addr_width - 1)


@pytest.mark.parametrize("regmap", [SMALL, core_register_map(Config())], ids=["small", "core"])
def test_bank_converts_to_verilog(regmap: RegisterMap) -> None:
    text = verilog.convert(RegisterBank(regmap), name="regbank", emit_src=False)
    assert "module regbank" in text
    for port in ("bus__addr", "bus__r_data", "bus__w_en", "regs__" + regmap.registers[2].port):
        assert port in text, port
