# amaranth: UnusedElaboratable=no
"""hdl.axil in Amaranth's simulator: AXI4-Lite handshake rules, latencies, responses, and Verilog port names.

The fast companion of the cocotb testbench (tests/test_tb_axil.py, marked `sim`): directed cycle-exact
cases of the channel handshakes, and a short random run against hdl.regmap.model.RegisterModel.
"""

from __future__ import annotations

import random
import re

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hdl.axil import AXI4LiteSlave, RegisterFile, Resp
from hdl.regmap.language import Field, Register, RegisterMap
from hdl.regmap.model import RegisterModel

MAP = RegisterMap("axil_test", [
    Register("ID", "ro", "constant", width=16, reset=0xBEEF, const=True),
    Register("DATA", "rw", "plain value", reset=0x1234, write_strobe=True),
    Register("STATUS", "ro", "core value", width=8),
    Register("FLAGS", "w1c", "sticky flags", width=4),
    Register("CTRL", "rw", "a pulse and a mode", width=8, fields=(Field("go", 0, pulse=True), Field("mode", 4, 2))),
    Register("SEED", "wo", "write-only"),
    Register("COUNT", "ro", "read with a strobe", read_strobe=True),
])
ID, DATA, STATUS, FLAGS, CTRL, SEED, COUNT = (MAP.offset(r.name) for r in MAP)
ADDR_WIDTH = 6  # two bits more than the map needs: words 7..15 are unmapped
UNMAPPED = 4 * 12


class Master:
    """Cycle-level AXI4-Lite master helpers on a RegisterFile's s_axil_* ports; `cycle` counts clock edges."""

    def __init__(self, ctx, dut: RegisterFile) -> None:
        self.ctx, self.dut, self.cycle = ctx, dut, 0

    def port(self, name: str):
        return getattr(self.dut, f"s_axil_{name}")

    def get(self, name: str) -> int:
        return self.ctx.get(self.port(name))

    def set(self, **values: int) -> None:
        for name, value in values.items():
            self.ctx.set(self.port(name), value)

    async def tick(self, cycles: int = 1) -> None:
        for _ in range(cycles):
            await self.ctx.tick()
            self.cycle += 1

    async def send(self, channel: str, **values: int) -> int:
        """Raise `channel`valid with `values` until the slave is ready; returns the cycle of the handshake."""
        self.set(**values, **{f"{channel}valid": 1})
        while True:
            ready = self.get(f"{channel}ready")
            cycle = self.cycle
            await self.tick()
            if ready:
                self.set(**{f"{channel}valid": 0})
                return cycle

    async def wait_valid(self, channel: str) -> int:
        """Cycles until `channel`valid is high (without taking the response); returns that cycle."""
        while not self.get(f"{channel}valid"):
            await self.tick()
            assert self.cycle < 1000, f"no {channel}valid"
        return self.cycle

    async def take(self, channel: str) -> tuple[int, int]:
        """Wait for `channel`valid, take it with one cycle of `channel`ready; returns (cycle, resp)."""
        cycle = await self.wait_valid(channel)
        resp = self.get(f"{channel}resp")
        self.set(**{f"{channel}ready": 1})
        await self.tick()
        self.set(**{f"{channel}ready": 0})
        return cycle, resp

    async def write(self, addr: int, value: int, strb: int = 0xF) -> int:
        await self.send("aw", awaddr=addr)
        await self.send("w", wdata=value, wstrb=strb)
        return (await self.take("b"))[1]

    async def read(self, addr: int) -> tuple[int, int]:
        await self.send("ar", araddr=addr)
        await self.wait_valid("r")
        data = self.get("rdata")
        _, resp = await self.take("r")
        return data, resp


def simulate(bench, addr_width: int = ADDR_WIDTH) -> None:
    """Run `bench(master, dut)` on RegisterFile(MAP, addr_width) with a clock."""
    dut = RegisterFile(MAP, addr_width)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def wrapped(ctx) -> None:
        await bench(Master(ctx, dut), dut)

    sim.add_testbench(wrapped)
    sim.run()


@pytest.mark.parametrize("aw_at, w_at", [(0, 0), (0, 1), (0, 4), (1, 0), (4, 0), (3, 3)])
def test_write_waits_for_aw_and_w_and_answers_two_cycles_after_the_later(aw_at: int, w_at: int) -> None:
    """AW before W, W before AW, or both in one cycle: each is taken in the cycle it is offered and held
    (not taken twice); the bank writes in the next cycle, BVALID is high the cycle after, held until BREADY."""
    async def bench(master: Master, dut: RegisterFile) -> None:
        ctx = master.ctx
        taken: dict[str, int] = {}
        while len(taken) < 2:
            for channel, at, values, later in (("aw", aw_at, {"awaddr": DATA}, {"awaddr": SEED}),
                                               ("w", w_at, {"wdata": 0xCAFE0001, "wstrb": 0xF}, {"wdata": 5})):
                offer = at <= master.cycle
                master.set(**(later if channel in taken else values))  # a next request waits behind the held one
                master.set(**{f"{channel}valid": int(offer)})
                if channel in taken:
                    assert not master.get(f"{channel}ready")  # held until the write executes
                elif offer:
                    assert master.get(f"{channel}ready")
                    taken[channel] = master.cycle
            assert not master.get("bvalid") and ctx.get(dut.regs.data) == 0x1234
            await master.tick()
        master.set(awvalid=0, wvalid=0)
        assert taken == {"aw": aw_at, "w": w_at}
        t = max(aw_at, w_at)
        # cycle t + 1: the bank writes at its end
        assert master.cycle == t + 1 and not master.get("bvalid") and ctx.get(dut.regs.data) == 0x1234
        await master.tick()
        # cycle t + 2: the register holds the value, its write strobe is high, BVALID with OKAY
        assert ctx.get(dut.regs.data) == 0xCAFE0001 and ctx.get(dut.regs.data_wstb) == 1
        assert master.get("awready") and master.get("wready")
        for _ in range(3):  # held under back-pressure
            assert master.get("bvalid") and master.get("bresp") == Resp.OKAY
            await master.tick()
            assert ctx.get(dut.regs.data_wstb) == 0
        assert await master.take("b") == (t + 5, Resp.OKAY)
        assert not master.get("bvalid")

    simulate(bench)


def test_same_cycle_write_latency() -> None:
    """AW and W in one cycle t: BVALID high in cycle t+2."""
    async def bench(master: Master, dut: RegisterFile) -> None:
        master.set(awaddr=DATA, awvalid=1, wdata=7, wstrb=0xF, wvalid=1)
        assert master.get("awready") and master.get("wready")
        await master.tick()
        master.set(awvalid=0, wvalid=0)
        assert await master.wait_valid("b") == 2

    simulate(bench)


def test_read_data_held_under_back_pressure() -> None:
    """AR in cycle t: RVALID and RDATA from cycle t+2, held (even when the core value changes) until RREADY."""
    async def bench(master: Master, dut: RegisterFile) -> None:
        ctx = master.ctx
        ctx.set(dut.regs.status, 0x5A)
        handshake = await master.send("ar", araddr=STATUS)
        assert not master.get("rvalid")
        await master.tick()
        assert master.cycle == handshake + 2 and master.get("rvalid")
        ctx.set(dut.regs.status, 0xA5)
        assert await master.send("ar", araddr=DATA) == handshake + 2  # taken, but waits for the R channel
        for _ in range(5):
            assert master.get("rvalid") == 1 and master.get("rdata") == 0x5A and master.get("rresp") == Resp.OKAY
            await master.tick()
        master.set(rready=1)
        assert master.get("rvalid") == 1  # RREADY does not reach RVALID in the same cycle
        await master.tick()
        master.set(rready=0)
        assert not master.get("rvalid")
        await master.tick()
        assert master.get("rvalid") and master.get("rdata") == 0x1234  # the second read, executed after the first R
        await master.take("r")
        assert await master.read(STATUS) == (0xA5, Resp.OKAY)

    simulate(bench)


def test_ready_and_valid_outputs_do_not_follow_inputs_in_the_same_cycle() -> None:
    """Every output is a register: raising or dropping a VALID or READY input changes no output before the edge."""
    async def bench(master: Master, dut: RegisterFile) -> None:
        outputs = ("awready", "wready", "bvalid", "bresp", "arready", "rvalid", "rresp", "rdata")
        await master.send("aw", awaddr=DATA)
        await master.send("w", wdata=3, wstrb=0xF)
        await master.send("ar", araddr=ID)
        await master.tick(3)
        assert master.get("bvalid") and master.get("rvalid")
        before = {name: master.get(name) for name in outputs}
        for inputs in ({"bready": 1, "rready": 1}, {"awvalid": 1, "wvalid": 1, "arvalid": 1},
                       {"bready": 0, "rready": 0, "awvalid": 0, "wvalid": 0, "arvalid": 0}):
            master.set(**inputs)
            assert {name: master.get(name) for name in outputs} == before

    simulate(bench)


def test_second_write_is_taken_while_the_first_response_waits() -> None:
    """One transaction in flight per channel: a second AW and W are held while B waits, executed after BREADY."""
    async def bench(master: Master, dut: RegisterFile) -> None:
        ctx = master.ctx
        await master.send("aw", awaddr=DATA)
        await master.send("w", wdata=1, wstrb=0xF)
        await master.wait_valid("b")
        await master.send("aw", awaddr=DATA)
        await master.send("w", wdata=2, wstrb=0xF)
        assert not master.get("awready") and not master.get("wready")
        await master.tick(4)
        assert ctx.get(dut.regs.data) == 1 and master.get("bvalid")
        cycle = master.cycle
        assert await master.take("b") == (cycle, Resp.OKAY)
        await master.tick()
        assert ctx.get(dut.regs.data) == 2
        assert (await master.take("b"))[1] == Resp.OKAY

    simulate(bench)


def test_write_wins_a_tie_with_a_read() -> None:
    """A read and a write ready in the same cycle: the write goes first, the read sees its value."""
    async def bench(master: Master, dut: RegisterFile) -> None:
        master.set(awaddr=DATA, awvalid=1, wdata=0x77, wstrb=0xF, wvalid=1, araddr=DATA, arvalid=1)
        await master.tick()
        master.set(awvalid=0, wvalid=0, arvalid=0)
        assert await master.wait_valid("b") == 2
        assert await master.wait_valid("r") == 3
        assert master.get("rdata") == 0x77

    simulate(bench)


def test_back_to_back_traffic_rate() -> None:
    """With BREADY and RREADY high: one write every 2 cycles, and reads in the cycles between."""
    async def bench(master: Master, dut: RegisterFile) -> None:
        ctx = master.ctx
        master.set(bready=1, rready=1, awvalid=1, wvalid=1, arvalid=1, awaddr=DATA, araddr=ID, wstrb=0xF)
        writes = reads = 0
        for n in range(40):
            master.set(wdata=n)
            writes += master.get("bvalid")
            reads += master.get("rvalid")
            await master.tick()
        assert writes == reads == 19  # B and R in cycles 2, 4, ..., 38 and 3, 5, ..., 39
        assert ctx.get(dut.regs.data) == 38  # W taken in cycles 0, 2, ..., 38 carries the cycle number

    simulate(bench)


def test_partial_strobes_change_nothing_and_answer_slverr() -> None:
    async def bench(master: Master, dut: RegisterFile) -> None:
        ctx = master.ctx
        for strb in (0x0, 0x1, 0x3, 0xE, 0x7):
            assert await master.write(DATA, 0xFFFF_FFFF, strb) == Resp.SLVERR
            assert ctx.get(dut.regs.data) == 0x1234 and ctx.get(dut.regs.data_wstb) == 0
        assert await master.write(CTRL, 0x21, 0x1) == Resp.SLVERR  # no pulse either
        assert ctx.get(dut.regs.ctrl.go) == 0
        assert await master.write(DATA, 0xFFFF_FFFF) == Resp.OKAY
        assert ctx.get(dut.regs.data) == 0xFFFF_FFFF

    simulate(bench)


def test_unmapped_words_read_zero_ignore_writes_and_answer_okay() -> None:
    async def bench(master: Master, dut: RegisterFile) -> None:
        assert await master.write(UNMAPPED, 0x1111) == Resp.OKAY
        assert await master.read(UNMAPPED) == (0, Resp.OKAY)
        assert await master.read(DATA) == (0x1234, Resp.OKAY)
        assert await master.read(DATA | 3) == (0x1234, Resp.OKAY)  # bits 1:0 ignored
        assert await master.read(2**ADDR_WIDTH - 4) == (0, Resp.OKAY)

    simulate(bench)


def test_random_traffic_matches_the_register_model() -> None:
    """Sequential random reads and writes of every word (mapped or not), with core-side changes, against RegisterModel."""
    rng = random.Random(7)
    model = RegisterModel(MAP)

    async def bench(master: Master, dut: RegisterFile) -> None:
        ctx = master.ctx
        for _ in range(300):
            addr = rng.randrange(2**ADDR_WIDTH // 4) * 4
            roll = rng.random()
            if roll < 0.1:
                value = rng.getrandbits(8)
                ctx.set(dut.regs.status, value)
                model.inputs["STATUS"] = value
            elif roll < 0.2:
                bits = rng.getrandbits(4)
                ctx.set(dut.regs.flags_set, bits)
                await master.tick()
                ctx.set(dut.regs.flags_set, 0)
                model.set_bits("FLAGS", bits)
            elif roll < 0.6:
                value = rng.getrandbits(32)
                assert await master.write(addr, value) == Resp.OKAY
                model.write(addr, value)
            else:
                assert await master.read(addr) == (model.read(addr), Resp.OKAY), f"read {addr:#x}"
            if rng.random() < 0.2:
                await master.tick(rng.randint(1, 3))

    simulate(bench)


def test_register_file_verilog_has_flat_s_axil_ports() -> None:
    text = verilog.convert(RegisterFile(MAP, 12), name="regfile", emit_src=False)
    ports = dict((name, width) for kind, width, name in
                 re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", text, re.M))
    want = {"awaddr": "11", "awprot": "2", "awvalid": "", "awready": "", "wdata": "31", "wstrb": "3", "wvalid": "",
            "wready": "", "bresp": "1", "bvalid": "", "bready": "", "araddr": "11", "arprot": "2", "arvalid": "",
            "arready": "", "rdata": "31", "rresp": "1", "rvalid": "", "rready": ""}
    assert {name[len("s_axil_"):]: width for name, width in ports.items() if name.startswith("s_axil_")} == want
    assert {"clk", "rst", "regs__data", "regs__data_wstb", "regs__flags_set", "regs__count_rstb"} <= set(ports)


def test_slave_alone_names_its_nested_interface_with_double_underscores() -> None:
    text = verilog.convert(AXI4LiteSlave(8), name="axil", emit_src=False)
    assert re.search(r"input \[7:0\] axi__awaddr;", text) and re.search(r"output \[7:0\] bus__addr;", text)


def test_register_file_rejects_an_address_too_narrow_for_the_map() -> None:
    with pytest.raises(ValueError, match="cannot reach every register"):
        RegisterFile(MAP, 4)
