"""cocotb testbench of hdl.top.EPTop: the whole core trained over AXI4-Lite, against the golden model's results.

The master is cocotbext-axi's AxiLiteMaster (random idle cycles on its channels and back-pressure on
B and R when the run asks for them); every offset comes from the register map the run passes. The
core runs on its own between accesses: the testbench polls STATUS, it does no work per clock.

Parameters (sim.build.tb_params): regmap (RegisterMap.to_json), case (a JSON file written by
tests/test_tb_top.py: theta, seeds, settings, the samples and the golden model's results), idle.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from hdl.regmap.language import RegisterMap
from sim.build import tb_params
from host.backends.sim import pauses

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.axi")

MASK32 = 0xFFFF_FFFF
POLL_CYCLES = 200


class Core:
    """Register access to EPTop by name (offsets, fields and codes from the register map)."""

    def __init__(self, dut: object, regmap: RegisterMap, idle: bool) -> None:
        self.dut, self.map = dut, regmap
        self.axi = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        if idle:  # random idle cycles on AW, W and AR, back-pressure on B and R
            rng = random.Random(7)
            for channel in (self.axi.write_if.aw_channel, self.axi.write_if.w_channel, self.axi.read_if.ar_channel,
                            self.axi.write_if.b_channel, self.axi.read_if.r_channel):
                channel.set_pause_generator(pauses(random.Random(rng.random()), 0.3))
        self.wdata_hi: int | None = None

    async def write(self, name: str, value: int = 0, **fields: int) -> None:
        reg = self.map[name]
        for field, v in fields.items():
            f = reg.field(field)
            value |= (v << f.lsb) & f.mask
        await self.axi.write_dword(self.map.offset(name), value & MASK32)

    async def read(self, name: str) -> int:
        return await self.axi.read_dword(self.map.offset(name))

    async def field(self, name: str, field: str) -> int:
        f = self.map[name].field(field)
        return (await self.read(name) & f.mask) >> f.lsb

    def code(self, name: str, field: str, value: str) -> int:
        return dict(self.map[name].field(field).values)[value]

    async def store(self, space: str, values: list[int], at: int = 0) -> None:
        """Write `values` through the MEM_* window from element `at` (MEM_WDATA_HI only when it changes)."""
        await self.write("MEM_SPACE", space=self.code("MEM_SPACE", "space", space))
        await self.write("MEM_ADDR", at)
        for v in values:
            hi = (v >> 32) & MASK32
            if hi != self.wdata_hi:
                await self.write("MEM_WDATA_HI", hi)
                self.wdata_hi = hi
            await self.write("MEM_WDATA_LO", v & MASK32)

    async def load(self, space: str, count: int, bits: int) -> list[int]:
        """Read `count` elements of `bits`-bit signed codes through the window."""
        await self.write("MEM_SPACE", space=self.code("MEM_SPACE", "space", space))
        await self.write("MEM_ADDR", 0)
        out = []
        for _ in range(count):
            lo = await self.read("MEM_RDATA_LO")
            hi = await self.read("MEM_RDATA_HI") if bits > 32 else (MASK32 if lo >> 31 else 0)
            v = (hi << 32 | lo) & ((1 << bits) - 1)
            out.append(v - (1 << bits) if v >> (bits - 1) else v)
        return out

    async def run(self, mode: str, timeout_cycles: int) -> None:
        """Start a command and poll STATUS until done."""
        await self.write("CTRL", start=1, mode=self.code("CTRL", "mode", mode))
        for _ in range(timeout_cycles // POLL_CYCLES + 1):
            await ClockCycles(self.dut.clk, POLL_CYCLES)
            if await self.field("STATUS", "done"):
                return
        raise AssertionError(f"{mode} did not finish within {timeout_cycles} cycles")


@cocotb.test()
async def core_trains_over_axi_lite_like_the_golden_model(dut) -> None:
    """Parameters, seeds and settings in; TRAIN, INFER, CLEAR; predictions, state, counters and parameters out."""
    params = tb_params()
    case = json.loads(Path(params["case"]).read_text())
    Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    core = Core(dut, RegisterMap.from_json(params["regmap"]), bool(params.get("idle")))

    assert await core.read("ID") == core.map["ID"].reset
    assert await core.read("BUILD_ID") == core.map["BUILD_ID"].reset
    s = case["settings"]
    await core.store("PARAMS", case["theta"])
    for lane, seed in enumerate(case["seeds"]):
        await core.write("SEED_LANE", lane)
        await core.write("SEED_DATA", seed)
    await core.write("SETTINGS", centered=s["centered"], warm_start=s["warm_start"],
                     order=core.code("SETTINGS", "order", s["order"]))
    await core.write("SWEEPS", train=s["sweeps"], eval=s["sweeps_eval"])
    await core.write("BETA_G", s["beta_g"])
    await core.write("NOISE_SN", s["sn"])
    await core.write("NOISE_N", s["samples"])
    for l, (k_w, k_b) in enumerate(zip(s["k_w"], s["k_b"]), start=1):
        await core.write(f"LR_K_W{l}", k_w)
        await core.write(f"LR_K_B{l}", k_b)
    await core.write("CTRL", clear_counters=1)
    await core.run("LOAD", case["timeout"])

    # A start while busy is ignored and flagged; so is a window access.
    for i, (image, label, want) in enumerate(zip(case["train_x"], case["train_y"], case["train"])):
        await core.store("PIXELS", image)
        await core.write("LABEL", label)
        await core.run("TRAIN", case["timeout"])
        assert await core.read("PREDICTION") == want["pred"], f"sample {i}: prediction"
        assert await core.field("STATUS", "hit") == want["hit"], f"sample {i}: hit"
        assert await core.read("CYCLE_COUNT_LO") >= 0
        assert await core.load("STATE", len(want["state"]), 64) == want["state"], f"sample {i}: warm-start state"
    n_params = len(case["theta"])
    assert await core.load("PARAMS", n_params, case["param_bits"]) == case["theta_after"], "parameters"
    assert await core.read("SAMPLE_COUNT") == len(case["train"])
    assert await core.read("HIT_COUNT") == sum(t["hit"] for t in case["train"])
    assert await core.read("RECIP_SAT_COUNT") == case["recip_saturations"]

    await core.store("PIXELS", case["infer_x"])
    await core.write("CTRL", start=1, mode=core.code("CTRL", "mode", "INFER"))
    await core.write("CTRL", start=1, mode=core.code("CTRL", "mode", "TRAIN"))  # while busy: ignored
    await core.write("MEM_ADDR", 0)
    await core.read("MEM_RDATA_LO")  # while busy: ignored
    errors = await core.read("ERRORS")
    assert errors & core.map["ERRORS"].field("start_busy").mask, "start while busy not flagged"
    assert errors & core.map["ERRORS"].field("mem_busy").mask, "window access while busy not flagged"
    await core.write("ERRORS", MASK32)
    for _ in range(case["timeout"] // POLL_CYCLES + 1):
        await ClockCycles(dut.clk, POLL_CYCLES)
        if await core.field("STATUS", "done"):
            break
    assert await core.read("PREDICTION") == case["infer_pred"], "inference"
    assert await core.read("SAMPLE_COUNT") == len(case["train"]) + 1, "the ignored TRAIN ran"
    assert await core.read("CYCLE_COUNT_LO") > 0 and await core.read("CYCLE_COUNT_HI") == 0

    n_free = len(case["train"][0]["state"])
    state = [(-1) ** j * (j + 1) for j in range(n_free)]  # a resumed run's warm-start state
    await core.store("STATE", state + [5])  # one element past the end: ignored
    assert await core.load("STATE", n_free, 64) == state
    await core.run("CLEAR", case["timeout"])
    assert await core.load("STATE", n_free, 64) == [0] * n_free
    await core.write("CTRL", clear_counters=1)
    assert [await core.read(n) for n in ("SAMPLE_COUNT", "HIT_COUNT", "CYCLE_COUNT_LO")] == [0, 0, 0]
