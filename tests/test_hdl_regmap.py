# amaranth: UnusedElaboratable=no
"""Register map (hdl/regmap.py): declarations, JSON / C header / Markdown emitters, and the RegisterBank in simulation."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from golden.config import Config
from golden.fixed_formats import derive, lr_codes
from hdl.core import CoreMode
from hdl.regmap import (CORE_ID, Field, Register, RegisterBank, RegisterMap, RegisterModel, build_id,
                        core_register_map)

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


# ---- declarations ----

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


def test_core_map_holds_the_contract_registers_for_the_config() -> None:
    cfg = Config(hidden=[100, 50], lr_weights=[0.05] * 3, lr_biases=[0.05] * 3)
    rm = core_register_map(cfg)
    for name in ("ID", "BUILD_ID", "CTRL", "STATUS", "ERRORS", "PREDICTION", "LABEL", "SETTINGS", "SWEEPS",
                 "BATCH_SIZE", "BETA_G", "NOISE_SN", "NOISE_N", "SEED_LANE", "SEED_DATA", "SAMPLE_COUNT",
                 "HIT_COUNT", "RECIP_SAT_COUNT", "CYCLE_COUNT_LO", "CYCLE_COUNT_HI", "MEM_SPACE", "MEM_ADDR",
                 "MEM_WDATA_HI", "MEM_WDATA_LO", "MEM_RDATA_LO", "MEM_RDATA_HI"):
        assert name in rm, name
    layers = [r.name for r in rm if r.name.startswith("LR_K_W")]
    assert layers == ["LR_K_W1", "LR_K_W2", "LR_K_W3"]  # one per weight layer of 1568-100-50-10
    assert rm["ID"].reset == CORE_ID and rm["ID"].const
    assert rm["BUILD_ID"].reset == build_id(cfg)
    assert rm["SEED_LANE"].width == (cfg.fixed.noise_lanes).bit_length()  # reaches the rounding generator L
    assert rm["LABEL"].width == 4 and rm["ERRORS"].access == "w1c"
    assert dict(rm["CTRL"].field("mode").values) == {m.name: m.value for m in CoreMode}  # the core's codes
    assert rm["BATCH_SIZE"].const and rm["BATCH_SIZE"].reset == 1  # online learning only
    assert rm["BETA_G"].width == cfg.fixed.g_bits
    _, s_w, _, s_b = lr_codes(cfg, derive(cfg), 0)
    for l in (1, 2, 3):  # the build's shifts, as signed bytes
        shifts = rm[f"LR_SHIFT{l}"]
        assert shifts.const and shifts.reset == (int(s_w[l]) & 0xFF) | (int(s_b[l]) & 0xFF) << 8
    assert rm["CTRL"].field("start").pulse and rm["ERRORS"].field("recip_sat").mask == 1


def test_build_id_changes_with_formats_and_sizes_only() -> None:
    base = Config()
    assert build_id(base) == build_id(Config(beta=0.5, sigma=0.1, seed=3))  # run settings are registers
    assert build_id(base) != build_id(Config(hidden=[200]))
    assert build_id(base) != build_id(Config(fixed=dataclasses.replace(base.fixed, recip_bits=27)))


# ---- emitters ----

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


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("regmap", [SMALL, core_register_map(Config(hidden=[100, 50], lr_weights=[0.05] * 3, lr_biases=[0.05] * 3))], ids=["small", "core"])
def test_c_header_compiles_and_its_offsets_equal_the_map(regmap: RegisterMap, tmp_path: Path) -> None:
    (tmp_path / "regs.h").write_text(regmap.to_c_header("EP"))
    checks = ['#include "regs.h"', '#include "regs.h"  /* include guard */',
              f"_Static_assert(EP_REGMAP_SIZE == {regmap.size}u, \"size\");"]
    for reg in regmap:
        checks.append(f"_Static_assert(EP_{reg.name}_OFFSET == {regmap.offset(reg.name)}u, \"{reg.name}\");")
        checks.append(f"_Static_assert(EP_{reg.name}_RESET == {reg.reset}u, \"{reg.name}\");")
        for f in reg.fields:
            fb = f"EP_{reg.name}_{f.name.upper()}"
            checks.append(f"_Static_assert({fb}_MASK == {f.mask}u && {fb}_SHIFT == {f.lsb}u && "
                          f"{fb}_WIDTH == {f.width}u, \"{fb}\");")
            checks += [f"_Static_assert({fb}_{n} == {v}u, \"{fb}_{n}\");" for n, v in f.values]
    (tmp_path / "check.c").write_text("\n".join(checks) + "\n")
    result = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only",
                             "check.c"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_c_header_rejects_a_prefix_that_is_no_macro_name() -> None:
    with pytest.raises(ValueError):
        SMALL.to_c_header("ep-core")


def test_markdown_has_one_table_row_per_register_and_per_field() -> None:
    rm = core_register_map(Config())
    text = rm.to_markdown()
    regs_table = text.split("## Registers")[1].split("## Fields")[0]
    rows = [line for line in regs_table.splitlines() if line.startswith("| 0x")]
    assert [row.split(" | ")[1] for row in rows] == [r.name for r in rm]
    assert [row.split(" | ")[0] for row in rows] == [f"| {rm.offset(r.name):#04x}" for r in rm]
    fields_table = text.split("## Fields")[1]
    assert sum(line.startswith("| ") and " | " in line for line in fields_table.splitlines()) - 1 == \
        sum(len(r.fields) for r in rm)  # minus the header row
    assert "TRAIN = 0, INFER = 1, LOAD = 2, CLEAR = 3" in text


# ---- the bank in simulation ----

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
