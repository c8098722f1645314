"""cocotb benchmark of hdl.core.EPCore: load parameters, then TRAIN on real samples, the core running free; timed.

Parameters (sim.build.tb_params): theta (codes in golden's flat layout), seeds (noise lanes), beta_g, sn, samples,
k_w, k_b (per weight layer), nsweeps, order, centered, warm_start, images (K x 784 pixels), labels,
modes ({"TRAIN": .., "LOAD": ..}), results (the JSON file this bench writes), period_ns (of the clock),
hdl_clock (the build drives `clk` itself, sim.build `clock_wrapper`: start no clock here).

Python drives the host work cycle by cycle: one parameter word per cycle, then per sample the 784
pixel handshakes (the projection holds `pix_ready` low while it works on a non-zero pixel). From the
last pixel to `done` the core runs free: one wait on `done`, no Python per clock. The results give
per command the core's `cycles`, the free-running cycles, their wall time and the simulator's CPU time
(the machine may be shared: wall time then includes other processes' turns).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from sim.build import tb_params


def _code(value: int, handle: object) -> int:
    """A signed code as the unsigned bit pattern of `handle`'s width."""
    return value & ((1 << len(handle)) - 1)


def _packed(values: list[int], bits: int) -> int:
    """Per-layer values of an Amaranth ArrayLayout port, element 0 in the low bits."""
    return sum(v << (bits * i) for i, v in enumerate(values))


class CoreBench:
    """Clock (unless the Verilog has its own), reset and the host side of an EPCore: parameter writes,
    commands and the pixel stream."""

    def __init__(self, dut: object, period_ns: int, hdl_clock: bool) -> None:
        self.dut = dut
        self.period_ns = period_ns
        if not hdl_clock:
            Clock(dut.clk, period_ns, unit="ns", impl="gpi").start(start_high=False)

    async def reset(self) -> None:
        dut = self.dut
        dut.rst.value = 1
        for port in ("start", "pix_valid", "param_we", "seed_load", "state_we"):  # every write strobe low
            getattr(dut, port).value = 0
        await ClockCycles(dut.clk, 2, rising=False)
        dut.rst.value = 0

    async def write(self, we: str, addr: str, data: str, words: list[int]) -> None:
        """One word per cycle through a write port (`we`, `addr`, `data`), from address 0."""
        dut = self.dut
        handle = getattr(dut, data)
        getattr(dut, we).value = 1
        for a, v in enumerate(words):
            getattr(dut, addr).value = a
            handle.value = _code(v, handle)
            await FallingEdge(dut.clk)
        getattr(dut, we).value = 0

    async def command(self, mode: int, image: list[int] | None = None, label: int = 0) -> dict:
        """Start a command, stream `image` if given, then wait for `done` without Python per clock."""
        dut = self.dut
        dut.mode.value = mode
        dut.label.value = label
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        stream_start = time.perf_counter()
        if image is not None:
            dut.pix_valid.value = 1
            k = 0
            while k < len(image):
                dut.pix_data.value = image[k]
                if dut.pix_ready.value:  # taken at the coming rising edge
                    k += 1
                await FallingEdge(dut.clk)
            dut.pix_valid.value = 0
        free_start, cpu_start, sim_start = time.perf_counter(), time.process_time(), get_sim_time("ns")
        await RisingEdge(dut.done)
        free_end, cpu_end, sim_end = time.perf_counter(), time.process_time(), get_sim_time("ns")
        await FallingEdge(dut.clk)  # the DONE state
        await FallingEdge(dut.clk)  # back in IDLE: `cycles` is final
        assert not dut.busy.value
        return {"cycles": dut.cycles.value.to_unsigned(), "free_cycles": round((sim_end - sim_start) / self.period_ns),
                "free_seconds": free_end - free_start, "free_cpu_seconds": cpu_end - cpu_start,
                "stream_seconds": free_start - stream_start,
                "pred": dut.pred.value.to_unsigned(), "hit": int(dut.hit.value)}


@cocotb.test()
async def train_samples(dut: object) -> None:
    """Parameters and seeds in, LOAD, then TRAIN on every image; the measurements go to `results`."""
    p = tb_params()
    tb = CoreBench(dut, p["period_ns"], p["hdl_clock"])
    await tb.reset()
    load_start = time.perf_counter()
    await tb.write("param_we", "param_addr", "param_wdata", p["theta"])
    await tb.write("seed_load", "seed_lane", "seed_data", p["seeds"])
    params_seconds = time.perf_counter() - load_start
    bits = len(dut.k_w) // len(p["k_w"])
    dut.k_w.value = _packed(p["k_w"], bits)
    dut.k_b.value = _packed(p["k_b"], bits)
    for port in ("beta_g", "sn", "samples", "nsweeps", "order", "centered", "warm_start"):
        getattr(dut, port).value = p[port]
    load = await tb.command(p["modes"]["LOAD"])
    train = [await tb.command(p["modes"]["TRAIN"], image, label) for image, label in zip(p["images"], p["labels"])]
    Path(p["results"]).write_text(json.dumps({"params_seconds": params_seconds, "load": load, "train": train}))
