"""A register-level model of EPTop backed by the golden FixedEP: host.driver's Bus for the driver's checks without a simulator.

`CoreModel(cfg)` answers reads and writes at the offsets of core_register_map(cfg) as EPTop does
(hdl/top.py): the register bank is hdl.regmap.model.RegisterModel; STATUS, the counters, the 64-bit cycle
counter (LO latches HI), the MEM_* window (a pointer loaded by MEM_ADDR and advanced by every
MEM_WDATA_LO write and MEM_RDATA_LO read, over PARAMS, STATE and PIXELS; writes past the end of a
space ignored), the commands (TRAIN, INFER, LOAD, CLEAR) run by the golden model's kernels with the
run-time registers (settings, sweeps, BETA_G, noise, learning-rate codes, the seeded generators),
sticky done, the error flags (start while busy, window access while busy, a new saturated
reciprocal) and soft_reset.

Time is counted in clock cycles: every bus access takes `access_cycles`, `wait(n)` n more, and a
command stays busy for its cycles: the build's formulas (hdl.plan.CoreBuild) when `lanes` is given (the cycle counter
then reads what the RTL's does), else `busy_cycles`. `stuck = True` makes commands never finish.
Where the model cannot know what the RTL does it says so: a command's memory effects happen at its
start (the window is closed while busy, so only a soft_reset mid-command could tell); reads past
the end of a space return 0; a parameter code is stored as written (the driver checks the formats).
"""

from __future__ import annotations

import math

import numpy as np

from golden.config import INPUT_PIXELS, Config
from golden.fixed_ep import FixedEP, predict, refresh, train_samples
from golden.fixed_formats import lr_codes
from golden.network import sweep_order
from golden.prng import seed_lanes
from hdl.plan import MAX_SAMPLES, CoreBuild
from hdl.regmap.core import core_register_map
from hdl.regmap.model import RegisterModel

MASK32 = 0xFFFF_FFFF
ACCESS_CYCLES = 4  # an AXI4-Lite access to the register file, about
BUSY_CYCLES = 1000  # a command's busy time when no lane count is given


class CoreModel:
    """EPTop's registers, window and commands in Python; implements host.driver's Bus."""

    def __init__(self, cfg: Config, lanes: int | None = None, max_samples: int = MAX_SAMPLES,
                 busy_cycles: int = BUSY_CYCLES, access_cycles: int = ACCESS_CYCLES) -> None:
        self.cfg = cfg
        self.regmap = core_register_map(cfg, max_samples)
        self.regs = RegisterModel(self.regmap)
        self.ep = ep = FixedEP(cfg)
        self.consts = ep.consts
        self.layout = ep.layout
        self.busy_cycles, self.access_cycles = busy_cycles, access_cycles
        self.build = CoreBuild(cfg, lanes, max_samples=max_samples) if lanes is not None else None
        _, self._s_w, _, self._s_b = lr_codes(cfg, self.consts, 0)  # build constants
        # The core's memories and registers after a power-on reset: zeros, generators at their reset seeds.
        for buf in (ep.theta, ep._WT, ep._D, ep._den, ep._recip, ep._recip_out, ep._S0, ep.flags):
            buf[...] = 0
        ep._state = seed_lanes(0, 0, self.consts.lanes)
        self.pixels = np.zeros(INPUT_PIXELS, np.uint8)
        self.stuck = False
        self.now = 0
        self.cycles = 0          # the busy-cycle counter
        self._cycles_hi = 0      # CYCLE_COUNT_HI as latched
        self._rdata_hi = 0       # MEM_RDATA_HI as latched
        self._ptr = 0
        self._running: str | None = None
        self._end = 0.0
        self._pending: dict[str, int] = {}
        self._done = self._hit = self._pred = 0
        self._sat = 0            # the core's saturated reciprocals since reset
        self._samples = self._hits = self._sat_base = 0
        self._space_codes = dict(self.regmap["MEM_SPACE"].field("space").values)
        self._modes = {v: k for k, v in self.regmap["CTRL"].field("mode").values}
        self._orders = {v: k for k, v in self.regmap["SETTINGS"].field("order").values}

    # ---- Bus ----

    async def read(self, offset: int) -> int:
        """A 32-bit bus read."""
        self.tick(self.access_cycles)
        return self.read_now(offset)

    async def write(self, offset: int, value: int) -> None:
        """A 32-bit bus write."""
        self.tick(self.access_cycles)
        self.write_now(offset, value)

    async def wait(self, cycles: int) -> None:
        """Let `cycles` clock cycles pass."""
        self.tick(cycles)

    # ---- time ----

    @property
    def busy(self) -> bool:
        """A command is running."""
        return self._running is not None

    def tick(self, cycles: int) -> None:
        """Advance the clock; a running command that reaches its end finishes."""
        if self._running is not None:
            self.cycles += int(min(cycles, self._end - self.now))
        self.now += cycles
        if self._running is not None and self.now >= self._end:
            self._finish()

    # ---- register accesses ----

    def _f(self, reg: str, field: str) -> int:
        f = self.regmap[reg].field(field)
        return (self.regs.core_value(reg) & f.mask) >> f.lsb

    def read_now(self, offset: int) -> int:
        """What the register file answers to a read at `offset` now (with its side effects)."""
        reg = self.regmap.at(offset)
        name = reg.name if reg is not None else ""
        inputs = self.regs.inputs
        if name == "STATUS":
            st = self.regmap["STATUS"]
            inputs[name] = (int(self.busy) << st.field("busy").lsb | self._done << st.field("done").lsb
                            | self._hit << st.field("hit").lsb)
        elif name == "PREDICTION":
            inputs[name] = self._pred
        elif name == "SAMPLE_COUNT":
            inputs[name] = self._samples & MASK32
        elif name == "HIT_COUNT":
            inputs[name] = self._hits & MASK32
        elif name == "RECIP_SAT_COUNT":
            inputs[name] = (self._sat - self._sat_base) & MASK32
        elif name == "CYCLE_COUNT_LO":
            inputs[name] = self.cycles & MASK32
            self._cycles_hi = (self.cycles >> 32) & MASK32
        elif name == "CYCLE_COUNT_HI":
            inputs[name] = self._cycles_hi
        elif name == "MEM_RDATA_LO":
            if self.busy:
                self._error("mem_busy")
                element = 0
            else:
                element = self._element()
                self._ptr += 1
            inputs[name] = element & MASK32
            self._rdata_hi = (element >> 32) & MASK32
        elif name == "MEM_RDATA_HI":
            inputs[name] = self._rdata_hi
        return self.regs.read(offset)

    def write_now(self, offset: int, value: int) -> None:
        """A write at `offset` now, with its effects on the core."""
        reg = self.regmap.at(offset)
        self.regs.write(offset, value)
        if reg is None:
            return
        value &= reg.mask
        name = reg.name
        if name == "CTRL":
            ctrl = self.regmap["CTRL"]
            if value & ctrl.field("clear_counters").mask:
                self._samples = self._hits = self.cycles = 0
                self._sat_base = self._sat
            if value & ctrl.field("soft_reset").mask:
                self._soft_reset()
            elif value & ctrl.field("start").mask:
                if self.busy:
                    self._error("start_busy")
                else:
                    f = ctrl.field("mode")
                    self._start(self._modes[(value & f.mask) >> f.lsb])
        elif name == "SEED_DATA":
            lane = self.regs.core_value("SEED_LANE")
            if lane <= self.consts.lanes:
                self.ep._state[lane] = value
        elif name == "MEM_ADDR":
            self._ptr = value
        elif name == "MEM_WDATA_LO":
            if self.busy:
                self._error("mem_busy")
            else:
                self._store(self.regs.core_value("MEM_WDATA_HI") << 32 | value)
                self._ptr += 1

    def _error(self, flag: str) -> None:
        self.regs.set_bits("ERRORS", self.regmap["ERRORS"].field(flag).mask)

    # ---- the MEM_* window ----

    def _space(self) -> str:
        code = self._f("MEM_SPACE", "space")
        return next((name for name, v in self._space_codes.items() if v == code), "")

    def _element(self) -> int:
        """The element at the pointer (0 past the end or in an unmapped space)."""
        space, i = self._space(), self._ptr
        if space == "PARAMS" and i < self.layout.n_params:
            return int(self.ep.theta[i])
        if space == "STATE" and i < self.layout.n_free:
            return int(self.ep._S0[0, i])
        if space == "PIXELS" and i < INPUT_PIXELS:
            return int(self.pixels[i])
        return 0

    def _store(self, word: int) -> None:
        space, i = self._space(), self._ptr
        value = word - (1 << 64) if word >> 63 else word
        if space == "PARAMS" and i < self.layout.n_params:
            self.ep.theta[i] = value
        elif space == "STATE" and i < self.layout.n_free:
            bits = self.consts.v_bits  # the core's state port is v_bits wide
            v = value & ((1 << bits) - 1)
            self.ep._S0[0, i] = v - (1 << bits) if v >> (bits - 1) else v
        elif space == "PIXELS" and i < INPUT_PIXELS:
            self.pixels[i] = word & 0xFF

    # ---- commands ----

    def _command_cycles(self, mode: str) -> float:
        if self.stuck:
            return math.inf
        core = self.build
        if core is None:
            return self.busy_cycles
        nonzero = int(np.count_nonzero(self.consts.vin_table[self.pixels]))
        if mode == "TRAIN":
            return core.train_cycles(nonzero, self._f("SWEEPS", "train"), self.regs.core_value("NOISE_SN"),
                                     self.regs.core_value("NOISE_N"), bool(self._f("SETTINGS", "centered")))
        if mode == "INFER":
            return core.infer_cycles(nonzero, self._f("SWEEPS", "eval"))
        if mode == "LOAD":
            return core.load_cycles()
        return core.clear_cycles()

    def _start(self, mode: str) -> None:
        """Run a command in the golden model; its results show when it finishes."""
        ep, c, v = self.ep, self.consts, self.regs.core_value
        self._end = self.now + self._command_cycles(mode)
        self._running, self._done = mode, 0
        ep.flags[0] = 0
        order = sweep_order(self._orders.get(self._f("SETTINGS", "order"), "ALTERNATING").lower(), self.layout)
        X = self.pixels[None, :]
        if mode == "TRAIN":
            top = self.layout.top
            k_w = np.array([0] + [v(f"LR_K_W{l}") for l in range(1, top + 1)], np.int64)
            k_b = np.array([0] + [v(f"LR_K_B{l}") for l in range(1, top + 1)], np.int64)
            label = v("LABEL")
            beta_g = v("BETA_G")
            hit = train_samples(
                ep.theta, ep._lay, ep._WT, ep._D, ep._den, ep._recip, ep._recip_out, X, np.array([label]),
                np.zeros(1, np.int64), 1, c.vin_table, order, self._f("SWEEPS", "train"),
                bool(self._f("SETTINGS", "centered")), bool(self._f("SETTINGS", "warm_start")), beta_g,
                beta_g << c.Fv, v("NOISE_SN"), v("NOISE_N"), c.lanes, ep._state, k_w, self._s_w, k_b, self._s_b,
                ep.fmt, ep.flags, ep._S0, ep._S1, ep._S2, ep._M1, ep._M2, ep._P, ep._acc, ep._vin, ep._y,
                ep._GX, ep._colA, ep._A, ep._Q,
                (ep._no_trace.iterates, ep._no_trace.measured, ep._no_trace.theta))
            o, n_out = int(self.layout.n_off[top]), int(self.layout.sizes[top])
            self._pending = {"pred": int(np.argmax(ep._S0[0, o:o + n_out])), "hit": int(hit), "sample": 1}
        elif mode == "INFER":
            out = np.zeros(1, np.int64)
            S = np.zeros(self.layout.n_free, np.int64)
            predict(ep.theta, ep._lay, ep._WT, ep._D, ep._recip, ep._recip_out, X, np.zeros(1, np.int64),
                    c.vin_table, order, self._f("SWEEPS", "eval"), ep.fmt, S, ep._P, ep._acc, ep._vin, ep._y, out)
            self._pending = {"pred": int(out[0]), "sample": 1}
        elif mode == "LOAD":
            # the RefreshEngine counts flags for the build's variant; beta is the run-time BETA_G
            ep.flags[0] += refresh(ep.theta, ep._lay, ep._WT, ep._D, ep._den, ep._recip, ep._recip_out,
                                   v("BETA_G"), c.shift_v, c.recip_bits, self.cfg.variant == "centered")
            self._pending = {}
        else:  # CLEAR
            ep._S0[:] = 0
            self._pending = {}
        self._pending["sat"] = int(ep.flags[0])

    def _finish(self) -> None:
        p, self._running = self._pending, None
        self._done = 1
        if "pred" in p:
            self._pred = p["pred"]
        if "hit" in p:
            self._hit = p["hit"]
        self._samples += p.get("sample", 0)
        self._hits += p.get("hit", 0)
        if p["sat"]:
            self._sat += p["sat"]
            self._error("recip_sat")

    def _soft_reset(self) -> None:
        """The core's registers to reset (memories kept); the top's done and counters are not reset."""
        self._running = None
        self._pred = self._hit = 0
        if self._sat:
            self._error("recip_sat")  # the count changed (to 0)
        self._sat = 0
        self.ep._state = seed_lanes(0, 0, self.consts.lanes)
