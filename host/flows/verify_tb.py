"""cocotb bench of hdl.verify_core.VerifyCore for `host verify`: runs the cases of a case file and dumps what the core did.

Parameters (sim.build.tb_params): cases (an .npz written by host.flows.verify.write_cases), results (the
.npz to write), fields (VerifyCore.entry_fields()), lanes, v_bits, n_params, timeout_cycles.
Per case: the parameter codes into the harness's `params` memory and from there into the core,
the noise seeds, the run settings, LOAD, CLEAR (golden begin_epoch empties the warm-start state),
then per sample the 784 pixels into the `pixels` memory, TRAIN, and once `done` is seen: pred,
hit, cycles, recip_saturations (also after LOAD), the trace entries, and every parameter code
(copied by the harness into `params`). The memories are read and written directly (no clock per
word); the core and the harness's transfers run free between host events; Python acts on falling
edges only (inputs for the next rising edge, outputs of the last one).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout

from hdl.core import CoreMode
from sim.build import tb_params

CLOCK_NS = 10


def _field(word: int, offset: int, width: int, signed: bool = False) -> int:
    value = (word >> offset) & ((1 << width) - 1)
    return value - (1 << width) if signed and value >> (width - 1) else value


class VerifyTB:
    """Clock, reset and the host's commands on a VerifyCore."""

    def __init__(self, dut: object, params: dict) -> None:
        self.dut = dut
        self.params = params
        self.fields = {name: tuple(v) for name, v in params["fields"].items()}
        self.lanes = int(params["lanes"])
        self.v_bits = int(params["v_bits"])
        Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start(start_high=False)

    async def reset(self) -> None:
        dut = self.dut
        for port in (dut.start, dut.param_we, dut.seed_load, dut.state_we, dut.pix_we, dut.xfer_start):
            port.value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, 2, rising=False)
        dut.rst.value = 0

    async def command(self, mode: str) -> None:
        """Start a command and let the core run free until `done`; returns on the first idle falling edge."""
        dut = self.dut
        dut.mode.value = CoreMode[mode].value
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        await with_timeout(RisingEdge(dut.done), int(self.params["timeout_cycles"]) * CLOCK_NS, "ns")
        await FallingEdge(dut.clk)  # the DONE state
        await FallingEdge(dut.clk)  # idle again
        assert not dut.busy.value, f"{mode}: busy after done"

    async def write(self, we: object, addr: object, wdata: object, values: np.ndarray) -> None:
        """Write values[a] at address a, one per cycle."""
        we.value = 1
        for a, v in enumerate(values):
            addr.value = a
            wdata.value = int(v)
            await FallingEdge(self.dut.clk)
        we.value = 0

    async def transfer(self, out: bool) -> None:
        """Copy every parameter code between the harness's `params` memory and the core (out: to `params`)."""
        dut = self.dut
        dut.xfer_out.value = int(out)
        dut.xfer_start.value = 1
        await FallingEdge(dut.clk)
        dut.xfer_start.value = 0
        await with_timeout(RisingEdge(dut.xfer_done), 2 * len(dut.params) * CLOCK_NS + 100, "ns")
        await FallingEdge(dut.clk)

    async def read(self, raddr: object, rdata: object, count: int) -> list[int]:
        """Read `count` words of a port answering one cycle after its address."""
        out = []
        for a in range(count + 1):
            if a:  # the word of address a - 1, read at the last rising edge
                out.append(int(rdata.value))
            if a < count:
                raddr.value = a
                await FallingEdge(self.dut.clk)
        return out

    def settings(self, cases: dict, c: int) -> None:
        dut = self.dut
        for name in ("beta_g", "sn", "samples", "nsweeps", "order", "centered", "warm_start"):
            getattr(dut, name).value = int(cases[name][c])
        # k_w / k_b are ArrayLayouts of 31-bit codes, layer 1 in the lowest bits
        for name in ("k_w", "k_b"):
            getattr(dut, name).value = sum(int(k) << (31 * l) for l, k in enumerate(cases[name][c]))

    def entry(self, word: int) -> list[int]:
        """A trace word as [kind, phase, sweep, layer, index, mask, data_0 .. data_{P-1}]."""
        f = self.fields
        row = [_field(word, *f[name]) for name in ("kind", "phase", "sweep", "layer", "index", "mask")]
        base = f["data"][0]
        return row + [_field(word, base + p * self.v_bits, self.v_bits, True) for p in range(self.lanes)]


@cocotb.test()
async def run_cases(dut: object) -> None:
    """Every case of the case file, every sample: the core's trace, outputs and parameters into the results file."""
    params = tb_params()
    tb = VerifyTB(dut, params)
    cases = dict(np.load(params["cases"]))
    n_cases, n_samples = cases["labels"].shape
    n_params = int(params["n_params"])
    theta = np.zeros((n_cases, n_samples, n_params), np.int64)
    scalars = {name: np.zeros((n_cases, n_samples), np.int64)
               for name in ("pred", "hit", "cycles", "recip_saturations", "trace_count", "trace_overflow")}
    load_saturations = np.zeros(n_cases, np.int64)
    entries: list[list[int]] = []
    await tb.reset()
    await FallingEdge(dut.clk)
    for c in range(n_cases):
        mask = (1 << len(dut.param_wdata)) - 1
        for a, v in enumerate(cases["theta"][c]):
            dut.params[a].value = int(v) & mask
        await tb.transfer(out=False)
        await tb.write(dut.seed_load, dut.seed_lane, dut.seed_data, cases["seeds"][c])
        tb.settings(cases, c)
        await tb.command("LOAD")
        load_saturations[c] = int(dut.recip_saturations.value)
        await tb.command("CLEAR")
        for t in range(n_samples):
            for a, v in enumerate(cases["pixels"][c, t]):
                dut.pixels[a].value = int(v)
            dut.label.value = int(cases["labels"][c, t])
            await tb.command("TRAIN")
            for name in scalars:
                scalars[name][c, t] = int(getattr(dut, name).value)
            words = await tb.read(dut.trace_raddr, dut.trace_rdata, int(scalars["trace_count"][c, t]))
            entries += [tb.entry(w) for w in words]
            await tb.transfer(out=True)
            theta[c, t] = [dut.params[a].value.to_signed() for a in range(n_params)]
        dut._log.info("case %d: %d samples", c, n_samples)
    np.savez(params["results"], theta=theta, load_saturations=load_saturations,
             entries=np.array(entries, np.int64).reshape(-1, 6 + tb.lanes), **scalars)
