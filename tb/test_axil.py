"""cocotb testbench of hdl.axil.RegisterFile: a register map over AXI4-Lite against hdl.regmap.model.RegisterModel.

The master is cocotbext-axi's AxiLiteMaster; the testbench plays the core: it drives the bank's ro
inputs and w1c set bits. Every test runs four times (cocotb.parametrize): plain, with random idle
cycles on the master's AW, W and AR channels, with random back-pressure on B and R (BREADY, RREADY
low), and with both. A per-cycle monitor checks the slave's side of the AXI rules (BVALID/BRESP and
RVALID/RDATA/RRESP held until taken, no B before its AW and W, no R before its AR) and counts the
bank's strobes and pulse fields: they must equal what the accesses imply, so every access executes
exactly once.

Parameters (sim.build.tb_params): regmap (RegisterMap.to_json of the map built), addr_width (as
built), ops (random operations in random_traffic), rng_seed.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter
from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, with_timeout
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp

from hdl.regmap.language import WORD_BYTES, Register, RegisterMap
from hdl.regmap.model import RegisterModel
from host.backends.sim import pauses
from sim.build import tb_params

# cocotbext-axi 0.1.28 still calls cocotb 1.x APIs that cocotb 2.1 deprecates but runs (task.kill,
# Edge, setimmediatevalue): keep its warnings out of the log.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.axi")

MASK32 = 0xFFFF_FFFF
TIMEOUT_MS = 2  # simulated time per test (10 ns clock): ten times what the longest needs
ACCESS_TIMEOUT_US = 10  # per access: 1000 cycles, where back-pressure and idle cycles need tens


@dataclass(frozen=True)
class Op:
    """One bus access: a full-word write, a read of `length` bytes at `addr`, or a partial write (SLVERR)."""

    kind: str  # "write", "read" or "partial"
    addr: int
    value: int = 0
    length: int = WORD_BYTES

    @property
    def word(self) -> int:
        return self.addr & ~(WORD_BYTES - 1)


class AxilTB:
    """Clock, reset, the AXI4-Lite master, the core side of the bank, the register model and the monitor."""

    def __init__(self, dut: object, idle: bool, backpressure: bool) -> None:
        params = tb_params()
        self.dut = dut
        self.regmap = RegisterMap.from_json(params["regmap"])
        self.addr_width = int(params["addr_width"])
        assert len(dut.s_axil_awaddr) == self.addr_width, \
            f"the design has {len(dut.s_axil_awaddr)} address bits, the run says {self.addr_width}"
        self.ops = int(params.get("ops", 300))
        self.rng = random.Random(f"{params.get('rng_seed', 1)}-{idle}-{backpressure}")
        self.model = RegisterModel(self.regmap)
        self.words = 2**self.addr_width // WORD_BYTES
        self.unmapped = self.words > len(self.regmap)
        self.core_inputs = [r for r in self.regmap if r.access == "ro" and not r.const]
        self.w1c = [r for r in self.regmap if r.access == "w1c"]
        self.expected: Counter[str] = Counter()  # strobes and pulses the accesses so far imply
        self.seen: Counter[str] = Counter()      # those the monitor counted
        self.handshakes: Counter[str] = Counter()  # per channel
        self.coverage: Counter[str] = Counter()    # cycles of each ordering and stall the monitor saw
        self.monitoring = False
        self.monitored = self._monitored_outputs()
        Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        if idle:
            for channel in (self.axil.write_if.aw_channel, self.axil.write_if.w_channel,
                            self.axil.read_if.ar_channel):
                channel.set_pause_generator(pauses(random.Random(self.rng.random()), 0.4))
        if backpressure:
            for channel in (self.axil.write_if.b_channel, self.axil.read_if.r_channel):
                channel.set_pause_generator(pauses(random.Random(self.rng.random()), 0.4))

    def _monitored_outputs(self) -> dict[str, tuple[object, int]]:
        """Bank outputs to count, by name: each write/read strobe, and each pulse field (signal, bit)."""
        out = {}
        for reg in self.regmap:
            if reg.write_strobe:
                out[f"{reg.port}_wstb"] = (getattr(self.dut, f"regs__{reg.port}_wstb"), 0)
            if reg.read_strobe:
                out[f"{reg.port}_rstb"] = (getattr(self.dut, f"regs__{reg.port}_rstb"), 0)
            for f in reg.fields:
                if f.pulse:
                    out[f"{reg.port}.{f.name}"] = (getattr(self.dut, f"regs__{reg.port}"), f.lsb)
        return out

    async def reset(self) -> None:
        """Two cycles of synchronous reset with the core inputs at 0; the monitor starts after the first."""
        dut = self.dut
        dut.rst.value = 1
        for reg in self.core_inputs:
            getattr(dut, f"regs__{reg.port}").value = 0
        for reg in self.w1c:
            getattr(dut, f"regs__{reg.port}_set").value = 0
        await ClockCycles(dut.clk, 2, rising=False)
        dut.rst.value = 0
        if not self.monitoring:
            self.monitoring = True
            cocotb.start_soon(self._monitor())

    def _get(self, name: str) -> int:
        return int(getattr(self.dut, f"s_axil_{name}").value)  # a Logic (1 bit) or a LogicArray

    async def _monitor(self) -> None:
        """Every cycle (sampled mid-cycle): the response-holding rules, responses only to requests taken in
        earlier cycles, coverage of the channel orderings and stalls, and the strobe and pulse counts."""
        held = {"b": ("bresp",), "r": ("rdata", "rresp")}
        last: dict[str, tuple[int, ...] | None] = {"b": None, "r": None}
        count, cover = self.handshakes, self.coverage
        while True:
            await FallingEdge(self.dut.clk)
            valid = {ch: self._get(f"{ch}valid") for ch in ("aw", "w", "b", "ar", "r")}
            ready = {ch: self._get(f"{ch}ready") for ch in ("aw", "w", "b", "ar", "r")}
            for channel, names in held.items():
                values = tuple(self._get(n) for n in names)
                if last[channel] is not None:
                    assert valid[channel] and values == last[channel], \
                        f"{channel.upper()} changed before it was taken: {names} {values} after {last[channel]}"
                last[channel] = values if valid[channel] and not ready[channel] else None
            assert not valid["b"] or min(count["aw"], count["w"]) > count["b"], "BVALID without a pending AW and W"
            assert not valid["r"] or count["ar"] > count["r"], "RVALID without a pending AR"
            taken = {ch: valid[ch] and ready[ch] for ch in valid}
            if taken["aw"] and taken["w"]:
                cover["aw_w_same_cycle"] += 1
            elif taken["aw"] and count["aw"] >= count["w"]:
                cover["aw_before_w"] += 1
            elif taken["w"] and count["w"] >= count["aw"]:
                cover["w_before_aw"] += 1
            if taken["aw"] and count["aw"] > count["b"]:
                cover["aw_while_a_write_waits"] += 1
            if taken["ar"] and count["ar"] > count["r"]:
                cover["ar_while_a_read_waits"] += 1
            if max(count["aw"], count["w"]) > count["b"] and count["ar"] > count["r"]:
                cover["reads_and_writes_in_flight"] += 1
            for channel in ("b", "r"):
                if valid[channel] and not ready[channel]:
                    cover[f"{channel}_stalled"] += 1
            for channel, hit in taken.items():
                count[channel] += hit
            for name, (signal, bit) in self.monitored.items():
                if int(signal.value) >> bit & 1:
                    self.seen[name] += 1

    # ---- the core side ----

    async def drive_core(self, reg: Register, value: int) -> None:
        """The core's value of a ro register (from the next cycle on)."""
        await FallingEdge(self.dut.clk)
        getattr(self.dut, f"regs__{reg.port}").value = value & reg.mask
        self.model.inputs[reg.name] = value & reg.mask

    async def set_w1c(self, reg: Register, bits: int) -> None:
        """The core sets bits of a w1c register for one cycle (while the bus is idle)."""
        await FallingEdge(self.dut.clk)
        port = getattr(self.dut, f"regs__{reg.port}_set")
        port.value = bits & reg.mask
        await FallingEdge(self.dut.clk)
        port.value = 0
        self.model.set_bits(reg.name, bits)

    async def check_core_outputs(self) -> None:
        """With the bus idle: what the bank drives to the core equals the model (pulses over), and the
        strobes and pulses counted equal those the accesses imply."""
        await ClockCycles(self.dut.clk, 3, rising=False)
        for reg in self.regmap:
            if reg.access in ("rw", "wo", "w1c"):
                got = getattr(self.dut, f"regs__{reg.port}").value.to_unsigned()
                want = self.model.core_value(reg.name)
                assert got == want, f"{reg.name} drives {got:#x} to the core, the model {want:#x}"
        assert self.seen == self.expected, f"strobes and pulses {dict(self.seen)}, expected {dict(self.expected)}"

    # ---- bus accesses ----

    def random_value(self) -> int:
        roll = self.rng.random()
        if roll < 0.1:
            return MASK32
        if roll < 0.2:
            return 0
        if roll < 0.4:
            return 1 << self.rng.randrange(32)
        return self.rng.getrandbits(32)

    def random_word(self) -> int:
        """A word address: mostly a mapped register, sometimes an unmapped word (when the address reaches one)."""
        if self.unmapped and self.rng.random() < 0.15:
            return self.rng.randrange(len(self.regmap), self.words) * WORD_BYTES
        return self.rng.randrange(len(self.regmap)) * WORD_BYTES

    def random_op(self, word: int) -> Op:
        roll = self.rng.random()
        if roll < 0.45:
            return Op("write", word, self.random_value())
        if roll < 0.9:
            return Op("read", word)
        if roll < 0.95:  # one to three bytes, within the word
            offset = self.rng.randrange(WORD_BYTES)
            return Op("read", word + offset, length=self.rng.randint(1, WORD_BYTES - offset))
        offset = self.rng.randrange(WORD_BYTES)
        length = self.rng.randint(1, WORD_BYTES - offset) if offset else self.rng.randint(1, WORD_BYTES - 1)
        return Op("partial", word + offset, self.rng.getrandbits(8 * length), length)

    def expect(self, op: Op) -> int | None:
        """The data a read returns, from the model before the access (None for a write)."""
        if op.kind != "read":
            return None
        offset = op.addr - op.word
        return self.model.read(op.word) >> (8 * offset) & ((1 << (8 * op.length)) - 1)

    def commit(self, op: Op) -> None:
        """Apply an executed access to the model and to the expected strobe and pulse counts."""
        reg = self.regmap.at(op.word)
        if reg is None or op.kind == "partial":
            return
        if op.kind == "read":
            if reg.read_strobe:
                self.expected[f"{reg.port}_rstb"] += 1
            return
        self.model.write(op.word, op.value)
        if reg.access in ("rw", "wo"):
            if reg.write_strobe:
                self.expected[f"{reg.port}_wstb"] += 1
            for f in reg.fields:
                if f.pulse and op.value >> f.lsb & 1:
                    self.expected[f"{reg.port}.{f.name}"] += 1

    async def access(self, op: Op, delay: int = 0) -> int | None:
        """Run `op` on the bus after `delay` cycles; check its response; return the read data."""
        if delay:
            await ClockCycles(self.dut.clk, delay)
        if op.kind == "read":
            resp = await with_timeout(self.axil.read(op.addr, op.length), ACCESS_TIMEOUT_US, "us")
            assert resp.resp == AxiResp.OKAY, f"read {op.addr:#x}: {resp.resp!r}"
            return int.from_bytes(resp.data, "little")
        data = (op.value & MASK32).to_bytes(WORD_BYTES, "little")[:op.length]
        resp = await with_timeout(self.axil.write(op.addr, data), ACCESS_TIMEOUT_US, "us")
        want = AxiResp.OKAY if op.kind == "write" else AxiResp.SLVERR
        assert resp.resp == want, f"{op.kind} {op.addr:#x} ({op.length} bytes): {resp.resp!r}, expected {want!r}"
        return None

    async def run(self, op: Op) -> None:
        """One access on its own, checked against the model."""
        want = self.expect(op)
        got = await self.access(op)
        assert got == want, f"read {op.addr:#x} ({op.length} bytes): {got:#x}, model {want:#x}"
        self.commit(op)

    async def run_together(self, ops: list[Op]) -> None:
        """Accesses in flight together, each starting after 0-3 cycles. AXI orders neither reads against
        writes nor (through this master's queues) the starts, so the batch touches each register at most
        once by a write and never reads a register it writes: every result is then known beforehand."""
        wants = [self.expect(op) for op in ops]
        tasks = [cocotb.start_soon(self.access(op, self.rng.randint(0, 3))) for op in ops]
        for op, want, task in zip(ops, wants, tasks):
            got = await task
            assert got == want, f"read {op.addr:#x} ({op.length} bytes) in a batch: {got:#x}, model {want:#x}"
        for op in ops:
            self.commit(op)

    def random_batch(self, size: int) -> list[Op]:
        ops: list[Op] = []
        written: set[int] = set()
        read: set[int] = set()
        for _ in range(size):
            word = self.random_word()
            op = self.random_op(word)
            if op.kind == "write" and (word in written or word in read) or op.kind != "write" and word in written:
                continue
            (written if op.kind == "write" else read).add(word)
            ops.append(op)
        return ops

    async def read_all(self) -> None:
        """Read every register, in map order, against the model."""
        for reg in self.regmap:
            await self.run(Op("read", self.regmap.offset(reg.name)))


def parametrize_bus(test):
    """Run a bus test plain, with idle cycles, with back-pressure, and with both."""
    return cocotb.parametrize(idle=[False, True], backpressure=[False, True])(test)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
@parametrize_bus
async def reset_values(dut: object, idle: bool, backpressure: bool) -> None:
    """After reset every register reads its reset value (ro: the core's 0 or the build constant), the
    core sees the reset values; a second reset mid-traffic restores them."""
    tb = AxilTB(dut, idle, backpressure)
    await tb.reset()
    await tb.read_all()
    await tb.check_core_outputs()
    for reg in tb.regmap:
        if reg.access in ("rw", "wo"):
            await tb.run(Op("write", tb.regmap.offset(reg.name), tb.random_value()))
    await tb.check_core_outputs()
    tb.model = RegisterModel(tb.regmap)
    await tb.reset()
    await tb.read_all()
    await tb.check_core_outputs()


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
@parametrize_bus
async def register_access(dut: object, idle: bool, backpressure: bool) -> None:
    """Each register by its access kind: rw/wo written with edge and random values and read back (wo
    reads 0, pulse fields read 0 and pulse once), ro driven from the core and written in vain, w1c set
    by the core and cleared by written ones; every byte of every register read on its own."""
    tb = AxilTB(dut, idle, backpressure)
    await tb.reset()
    for reg in tb.regmap:
        addr = tb.regmap.offset(reg.name)
        if reg.access in ("rw", "wo"):
            for value in (MASK32, 0, tb.random_value(), tb.rng.getrandbits(32)):
                await tb.run(Op("write", addr, value))
                await tb.run(Op("read", addr))
        elif reg.access == "w1c":
            for _ in range(3):
                await tb.set_w1c(reg, tb.rng.getrandbits(reg.width))
                await tb.run(Op("read", addr))
                await tb.run(Op("write", addr, 0))
                await tb.run(Op("read", addr))
                await tb.run(Op("write", addr, tb.rng.getrandbits(32)))
                await tb.run(Op("read", addr))
            await tb.set_w1c(reg, reg.mask)
            await tb.run(Op("write", addr, MASK32))
            await tb.run(Op("read", addr))
        else:
            for value in (MASK32, tb.rng.getrandbits(32)):
                if not reg.const:
                    await tb.drive_core(reg, value)
                await tb.run(Op("read", addr))
                await tb.run(Op("write", addr, ~value & MASK32))
                await tb.run(Op("read", addr))
        for offset in range(WORD_BYTES):
            await tb.run(Op("read", addr + offset, length=1))
        await tb.check_core_outputs()
    await tb.read_all()


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
@parametrize_bus
async def errors_and_unmapped(dut: object, idle: bool, backpressure: bool) -> None:
    """Partial-strobe writes answer SLVERR and change nothing (no strobe, no pulse); unmapped words
    read 0 and ignore writes with OKAY; afterwards every register still equals the model."""
    tb = AxilTB(dut, idle, backpressure)
    await tb.reset()
    for reg in tb.regmap:
        if reg.access in ("rw", "wo"):
            await tb.run(Op("write", tb.regmap.offset(reg.name), tb.random_value()))
    for reg in tb.regmap:
        addr = tb.regmap.offset(reg.name)
        for offset, length in ((0, 1), (0, 2), (0, 3), (1, 3), (2, 2), (3, 1)):
            await tb.run(Op("partial", addr + offset, MASK32, length))
        await tb.run(Op("read", addr))
    if tb.unmapped:
        words = sorted({len(tb.regmap), tb.words - 1} | {tb.rng.randrange(len(tb.regmap), tb.words) for _ in range(20)})
        for word in words:
            await tb.run(Op("write", word * WORD_BYTES, MASK32))
            await tb.run(Op("read", word * WORD_BYTES))
            await tb.run(Op("read", word * WORD_BYTES + 2, length=2))
    await tb.read_all()
    await tb.check_core_outputs()


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
@parametrize_bus
async def random_traffic(dut: object, idle: bool, backpressure: bool) -> None:
    """`ops` random accesses to random words (mapped and unmapped): single accesses (read-after-write of
    one register included), batches of up to 8 in flight together (back-to-back and interleaved reads
    and writes), core-side changes of ro and w1c registers between them, and idle stretches."""
    tb = AxilTB(dut, idle, backpressure)
    await tb.reset()
    done = 0
    while done < tb.ops:
        roll = tb.rng.random()
        if roll < 0.1 and tb.core_inputs:
            reg = tb.rng.choice(tb.core_inputs)
            await tb.drive_core(reg, tb.rng.getrandbits(32))
        elif roll < 0.15 and tb.w1c:
            await tb.set_w1c(tb.rng.choice(tb.w1c), tb.rng.getrandbits(32))
        elif roll < 0.2:
            await ClockCycles(dut.clk, tb.rng.randint(1, 20))
        elif roll < 0.55:
            word = tb.random_word()
            first = tb.random_op(word)
            await tb.run(first)
            await tb.run(tb.random_op(word))  # a second access of the same word right after
            done += 2
        else:
            batch = tb.random_batch(tb.rng.randint(2, 8))
            await tb.run_together(batch)
            done += len(batch)
        if tb.rng.random() < 0.05:
            await tb.check_core_outputs()
    await tb.read_all()
    await tb.check_core_outputs()
    dut._log.info("random_traffic: %d accesses, handshakes %s, coverage %s", done, dict(tb.handshakes),
                  dict(tb.coverage))
    want = ["aw_w_same_cycle", "aw_while_a_write_waits", "ar_while_a_read_waits", "reads_and_writes_in_flight"]
    want += ["aw_before_w", "w_before_aw"] if idle else []
    want += ["b_stalled", "r_stalled"] if backpressure else []
    assert all(tb.coverage[point] for point in want), f"not covered: {[p for p in want if not tb.coverage[p]]}"
