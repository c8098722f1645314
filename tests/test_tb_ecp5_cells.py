"""The ECP5 cell models of sim/models/ecp5_cells.v (tb/test_ecp5_cells.py, Verilator): the synth_ecp5 netlist of a
small design of block RAM and multipliers answers every cycle as a model of the design does, and the same netlist
with one bit of a block RAM's INITVAL flipped answers wrong exactly where that word is read."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sim.build import BUILD_ROOT, SimBuild, run_folder

pytestmark = pytest.mark.sim

CYCLES = 600
NETLIST = ("cell_check", "ecp5")
ROM = [(k * 6425 + 7) % 2**28 for k in range(256)]
RAM = [(k * 977 + 3) % 2**22 for k in range(2048)]


class CellCheck(wiring.Component):
    """A 256 x 28 ROM (the 36-bit block RAM mode), a 2048 x 22 RAM written and read in the same cycles (9-bit
    ports), and a signed and an unsigned 18 x 18 product, each read through a register."""

    def __init__(self) -> None:
        super().__init__({"addr": In(8), "we": In(1), "waddr": In(11), "wdata": In(22), "raddr": In(11),
                          "a": In(18), "b": In(18), "rom": Out(28), "ram": Out(22), "sprod": Out(36), "uprod": Out(36)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.rom = rom = Memory(shape=28, depth=len(ROM), init=ROM)
        m.submodules.ram = ram = Memory(shape=22, depth=len(RAM), init=RAM)
        read_rom, write, read = rom.read_port(), ram.write_port(), ram.read_port()
        m.d.comb += [read_rom.addr.eq(self.addr), self.rom.eq(read_rom.data),
                     write.addr.eq(self.waddr), write.data.eq(self.wdata), write.en.eq(self.we),
                     read.addr.eq(self.raddr), self.ram.eq(read.data)]
        m.d.sync += [self.sprod.eq(self.a.as_signed() * self.b.as_signed()), self.uprod.eq(self.a * self.b)]
        return m


def expected(rows: np.ndarray) -> np.ndarray:
    """The outputs the design gives for the recorded inputs: the RAM's read returns the word before the same
    cycle's write, the signed product is its 36-bit two's complement."""
    ram, out = list(RAM), []
    for addr, we, waddr, wdata, raddr, a, b in rows[:, :7].tolist():
        signed = (a - (a >> 17 << 18)) * (b - (b >> 17 << 18))
        out.append([ROM[addr], ram[raddr], signed % 2**36, a * b])
        if we:
            ram[waddr] = wdata
    return np.array(out, np.int64)


def record(build: SimBuild) -> np.ndarray:
    with run_folder("cells") as folder:
        build.run("tb.test_ecp5_cells", {"seed": 7, "cycles": CYCLES, "results": str(folder / "out.npy")},
                  folder=folder)
        return np.load(folder / "out.npy")


def flip_rom_bit(netlist: str) -> str:
    """The netlist with bit 0 of the ROM's word 0 inverted (row 0, bit 0 of its block RAM's INITVAL_00)."""
    rom = re.search(r"DP16KD #\((?:(?!\);).)*?\.INITVAL_00\(320'h([0-9a-f]+)\)(?:(?!\);).)*?\) \\rom[$.]", netlist,
                    re.S)
    assert rom is not None, "the ROM is not a DP16KD"
    old = rom.group(1)
    return netlist[:rom.start(1)] + f"{int(old, 16) ^ 1:0{len(old)}x}" + netlist[rom.end(1):]


def test_the_cell_models_match_the_design_and_see_a_flipped_init_bit() -> None:
    built = SimBuild.create(CellCheck(), toplevel="cell_check", case="cell_check-ecp5", simulator="verilator",
                            netlist=NETLIST)
    cells = built.netlist.cells
    assert cells.get("DP16KD", 0) >= 2 and cells.get("MULT18X18D", 0) >= 2, cells
    rows = record(built)
    np.testing.assert_array_equal(rows[:, 7:], expected(rows))
    # The same design in another folder, its netlist (kept with the hash of its Verilog) altered by one bit.
    altered = BUILD_ROOT / "verilator" / "cell_check-ecp5-altered"
    altered.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built.folder / "ecp5_netlist.json", altered / "ecp5_netlist.json")
    (altered / "ecp5_netlist.v").write_text(flip_rom_bit((built.folder / "ecp5_netlist.v").read_text()))
    wrong = record(SimBuild.create(CellCheck(), toplevel="cell_check", case=altered.name, simulator="verilator",
                                   netlist=NETLIST))
    assert np.array_equal(wrong[:, :7], rows[:, :7])  # the same stimulus
    differ = np.flatnonzero((wrong != rows).any(axis=1))
    assert differ.tolist() == [t for t in range(CYCLES) if t % 256 == 0]  # where word 0 of the ROM is read
    assert np.all(wrong[differ, 7] ^ rows[differ, 7] == 1) and np.array_equal(wrong[differ, 8:], rows[differ, 8:])
