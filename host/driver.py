"""The host driver of the EP core: an async `EPCoreInterface` on an abstract 32-bit register bus.

The same driver code runs on every backend; a backend only provides a `Bus`:

    class Bus(Protocol):             # 32-bit words at byte offsets of the core's AXI4-Lite window
        async def read(self, offset: int) -> int
        async def write(self, offset: int, value: int) -> None
        async def wait(self, cycles: int) -> None   # let time pass: clock cycles (sim), sleep (board), advance (model)

- `host.backends.model.CoreModel` (a register-level model of EPTop over the golden FixedEP: the driver's checks without RTL),
- the RTL in cocotb (host/backends/sim.py `AxiBus`: cocotbext-axi's AxiLiteMaster on EPTop's s_axil port),
- a board (host/backends/pynq.py `MMIOBus`: pynq MMIO on the core's base address).

Use (the order matters: LOAD computes the reciprocals with the configured BETA_G):

    core = EPCoreInterface(bus, cfg)      # cfg: the fixed-point config the core was generated from
    await core.identify()                 # ID, BUILD_ID, BATCH_SIZE and LR_SHIFTn against cfg
    await core.begin_epoch(0)             # configure(epoch) (settings, learning rates, seeds) + clear_state()
    await core.load_params(theta)         # PARAMS window, then LOAD
    hit = await core.train(image, label)  # pixels, LABEL, TRAIN; the free phase's hit
    pred = await core.infer(image)        # pixels, INFER; PREDICTION
    theta = await core.read_params(); s0 = await core.read_state(); await core.status()

Offsets, fields and codes come only from the register map (hdl.regmap.core.core_register_map). Every
command waits for STATUS.done at most `timeout_cycles` (CoreTimeout: the core is soft-reset and must
be configured again); ERRORS' start_busy and mem_busy end a command with a CoreError (recip_sat is
a result, counted in RECIP_SAT_COUNT like the golden model's recip_saturations). Every error is one
line. The interface remembers MEM_WDATA_HI and the pixel memory it wrote (a sample writes only the
pixels that differ from the last one), so it must be the core's only user between identify() calls.
`DriverExecutor` puts the interface behind golden/train.py's Executor protocol, so the training
loop (metrics.json, checkpoints, resume) drives any backend.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import numpy as np

from golden.config import INPUT_PIXELS, Config
from golden.fixed_formats import derive, lr_codes
from golden.network import Layout
from golden.prng import seed_lanes
from hdl.plan import CoreBuild, build_id
from hdl.regmap.core import core_register_map
from hdl.regmap.language import RegisterMap

MASK32 = 0xFFFF_FFFF
POLL_CYCLES = 200  # cycles between STATUS reads while a command runs
RESULT_FLAGS = ("recip_sat",)  # ERRORS fields that report a result, not a misuse of the core

T = TypeVar("T")


class Bus(Protocol):
    """32-bit word access at byte offsets of the core's AXI4-Lite window, and the passing of time."""

    async def read(self, offset: int) -> int: ...
    async def write(self, offset: int, value: int) -> None: ...
    async def wait(self, cycles: int) -> None: ...


class CoreError(RuntimeError):
    """The core refused or flagged something, or does not match the config (one-line message)."""


class CoreTimeout(CoreError):
    """A command did not finish within the timeout."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a driver coroutine on a bus that never suspends (the model, a board) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("the bus suspended: run this coroutine in its event loop (e.g. inside the simulation)")


class EPCoreInterface:
    """Configure, load, train, infer and read back the EP core (EPTop) over a `Bus`."""

    def __init__(self, bus: Bus, cfg: Config, regmap: RegisterMap | None = None,
                 timeout_cycles: int | None = None, poll_cycles: int = POLL_CYCLES) -> None:
        if cfg.precision != "fixed":
            raise CoreError("the core runs the fixed-point model: use a config with precision = \"fixed\"")
        self.bus = bus
        self.cfg = cfg
        self.map = regmap if regmap is not None else core_register_map(cfg)
        self.consts = derive(cfg)
        self.layout = Layout.of(list(cfg.sizes))
        self.timeout_cycles = timeout_cycles  # None: the default, set at the first command
        self.poll_cycles = poll_cycles
        c, lay = self.consts, self.layout
        # Element widths through the window (sign-extended to 64 bits): MEM_RDATA_HI only when needed.
        self.param_bits = max(c.g_bits + 1, c.b_bits)
        self.state_bits = c.v_bits
        self._lo = np.zeros(lay.n_params, np.int64)  # the codes' ranges, conductances then biases per layer
        self._hi = np.zeros(lay.n_params, np.int64)
        for l in range(1, lay.top + 1):
            lay.weights(self._hi, l)[:] = (1 << c.g_bits) - 1
            lay.biases(self._lo, l)[:] = -(1 << (c.b_bits - 1))
            lay.biases(self._hi, l)[:] = (1 << (c.b_bits - 1)) - 1
        self._wdata_hi: int | None = None  # MEM_WDATA_HI as last written (None: unknown)
        self._pixels: np.ndarray | None = None  # the core's pixel memory as last written (None: unknown)
        self._epoch: int | None = None  # the epoch configure() set up (None: not configured)

    # ---- registers by name ----

    def code(self, reg: str, field: str, value: str) -> int:
        """The code of a named value of a field (e.g. CTRL.mode TRAIN)."""
        return dict(self.map[reg].field(field).values)[value]

    def field(self, reg: str, field: str, word: int) -> int:
        """Field `field` of register `reg` in a word read from it (sign-extended for signed fields)."""
        f = self.map[reg].field(field)
        v = (word & f.mask) >> f.lsb
        return v - (1 << f.width) if f.signed and v >> (f.width - 1) else v

    async def read(self, reg: str) -> int:
        """Read register `reg`."""
        return await self.bus.read(self.map.offset(reg))

    async def write(self, reg: str, value: int = 0, **fields: int) -> None:
        """Write register `reg`: `value` and/or fields by name; a value that does not fit is a CoreError."""
        r = self.map[reg]
        for name, v in fields.items():
            f = r.field(name)
            if not 0 <= v < 1 << f.width:
                raise CoreError(f"{reg}.{name} = {v} does not fit the core's {f.width} bits")
            value |= v << f.lsb
        if not 0 <= value <= r.mask:
            raise CoreError(f"{reg} = {value} does not fit the core's {r.width} bits")
        await self.bus.write(self.map.offset(reg), value)

    # ---- identification and configuration ----

    async def identify(self) -> None:
        """Check that the bus reaches an EP core built for this config; clear stale error flags."""
        ident = await self.read("ID")
        if ident != self.map["ID"].reset:
            raise CoreError(f"no EP core at this address: ID reads {ident:#010x}, expected "
                            f"{self.map['ID'].reset:#010x} ('EPF1')")
        want = build_id(self.cfg)
        got = await self.read("BUILD_ID")
        if got != want:
            raise CoreError(f"the core was built for other layer sizes or number formats (BUILD_ID {got:#010x}, "
                            f"this config {want:#010x}): use the config it was generated from, or generate it "
                            "from this one")
        batch = await self.read("BATCH_SIZE")
        if batch != self.cfg.batch_size:
            raise CoreError(f"the core updates after every {batch} sample(s), the config asks for batch_size = "
                            f"{self.cfg.batch_size}")
        _, s_w, _, s_b = lr_codes(self.cfg, self.consts, 0)
        for l in range(1, self.layout.top + 1):
            word = await self.read(f"LR_SHIFT{l}")
            got_shifts = (self.field(f"LR_SHIFT{l}", "w", word), self.field(f"LR_SHIFT{l}", "b", word))
            if got_shifts != (int(s_w[l]), int(s_b[l])):
                raise CoreError(f"the core's learning-rate shifts of layer {l} are {got_shifts}, the config's "
                                f"{(int(s_w[l]), int(s_b[l]))}: change lr_frac/learning rates or regenerate the core")
        if self.field("STATUS", "busy", await self.read("STATUS")):
            raise CoreError("the core is busy with a command it was given before: soft-reset it (reset())")
        await self.write("ERRORS", self.map["ERRORS"].mask)
        self._wdata_hi = await self.read("MEM_WDATA_HI")
        self._pixels = None

    async def configure(self, epoch: int) -> None:
        """Run settings, the epoch's learning-rate codes and noise seeds (what FixedEP.begin_epoch sets)."""
        await self._idle("configure")
        cfg, c = self.cfg, self.consts
        await self.write("SETTINGS", centered=int(cfg.variant == "centered"), warm_start=int(cfg.warm_start),
                         order=self.code("SETTINGS", "order", cfg.order.upper()))
        await self.write("SWEEPS", train=cfg.sweeps, eval=cfg.sweeps_eval)
        await self.write("BETA_G", c.beta_g)
        await self.write("NOISE_SN", c.sn)
        await self.write("NOISE_N", cfg.samples)
        k_w, s_w, k_b, s_b = lr_codes(cfg, c, epoch)
        _, s_w0, _, s_b0 = lr_codes(cfg, c, 0)
        if not (np.array_equal(s_w, s_w0) and np.array_equal(s_b, s_b0)):
            raise CoreError(f"epoch {epoch + 1}'s learning rates need other shifts than the core's (built for "
                            "epoch 1's): use lr_decay = 1 or a larger lr_frac")
        for l in range(1, self.layout.top + 1):
            await self.write(f"LR_K_W{l}", int(k_w[l]))
            await self.write(f"LR_K_B{l}", int(k_b[l]))
        for lane, seed in enumerate(seed_lanes(cfg.seed, epoch, c.lanes)):
            await self.write("SEED_LANE", lane)
            await self.write("SEED_DATA", int(seed))
        self._epoch = epoch

    async def begin_epoch(self, epoch: int) -> None:
        """configure(epoch) and clear the warm-start state, as FixedEP.begin_epoch does."""
        await self.configure(epoch)
        await self.clear_state()

    # ---- memories ----

    async def store(self, space: str, values: np.ndarray, at: int = 0) -> None:
        """Write `values` (int64 codes) through the MEM_* window from element `at` of MEM_SPACE `space`
        (MEM_WDATA_HI only when it changes)."""
        await self.write("MEM_SPACE", space=self.code("MEM_SPACE", "space", space))
        await self.write("MEM_ADDR", at)
        for v in np.asarray(values, np.int64).tolist():
            hi = (v >> 32) & MASK32
            if hi != self._wdata_hi:
                await self.write("MEM_WDATA_HI", hi)
                self._wdata_hi = hi
            await self.write("MEM_WDATA_LO", v & MASK32)
        await self._check_errors(f"writing {space}")

    async def load(self, space: str, count: int, bits: int, at: int = 0) -> np.ndarray:
        """Read `count` signed `bits`-bit codes from element `at` of MEM_SPACE `space` (int64)."""
        await self.write("MEM_SPACE", space=self.code("MEM_SPACE", "space", space))
        await self.write("MEM_ADDR", at)
        lo_off, hi_off = self.map.offset("MEM_RDATA_LO"), self.map.offset("MEM_RDATA_HI")
        out = np.zeros(count, np.int64)
        for i in range(count):
            lo = await self.bus.read(lo_off)
            word = (await self.bus.read(hi_off)) << 32 | lo if bits > 32 else lo
            width = 64 if bits > 32 else 32
            out[i] = word - (1 << width) if word >> (width - 1) else word
        await self._check_errors(f"reading {space}")
        return out

    async def load_params(self, codes: np.ndarray) -> None:
        """Write the parameter codes (golden's flat layout) and run LOAD (totals and reciprocals)."""
        codes = self._checked(codes, self.layout.n_params, "parameter")
        bad = np.flatnonzero((codes < self._lo) | (codes > self._hi))
        if bad.size:
            raise CoreError(f"{bad.size} parameter codes lie outside their formats (first: index {bad[0]} = "
                            f"{codes[bad[0]]}, range {self._lo[bad[0]]}..{self._hi[bad[0]]})")
        self._configured("load parameters")
        await self._idle("load parameters")
        await self.store("PARAMS", codes)
        await self._command("LOAD")

    async def read_params(self) -> np.ndarray:
        """The parameter codes (golden's flat layout, int64)."""
        await self._idle("read parameters")
        return await self.load("PARAMS", self.layout.n_params, self.param_bits)

    async def write_state(self, codes: np.ndarray) -> None:
        """Write the warm-start free state (a resumed run's), free node j at j."""
        codes = self._checked(codes, self.layout.n_free, "state")
        lim = 1 << (self.state_bits - 1)
        if codes.size and not (codes.min() >= -lim and codes.max() < lim):
            raise CoreError(f"state codes must fit {self.state_bits} signed bits")
        await self._idle("write the state")
        await self.store("STATE", codes)

    async def read_state(self) -> np.ndarray:
        """The warm-start free state: the last TRAIN sample's free phase (int64, golden's node order)."""
        await self._idle("read the state")
        return await self.load("STATE", self.layout.n_free, self.state_bits)

    async def clear_state(self) -> None:
        """Zero the warm-start state (CLEAR)."""
        await self._idle("clear the state")
        await self._command("CLEAR")

    # ---- samples ----

    async def train(self, image: np.ndarray, label: int) -> bool:
        """Train on one sample (online update); returns whether the free phase predicted `label`."""
        if not 0 <= label < self.cfg.sizes[-1]:
            raise CoreError(f"label {label} is not a class 0..{self.cfg.sizes[-1] - 1}")
        self._configured("train")
        await self._idle("train")
        await self._pixels_in(image)
        await self.write("LABEL", int(label))
        status = await self._command("TRAIN")
        return bool(self.field("STATUS", "hit", status))

    async def infer(self, image: np.ndarray) -> int:
        """The predicted class of one image (free phase from rest, SWEEPS.eval sweeps)."""
        self._configured("infer")
        await self._idle("infer")
        await self._pixels_in(image)
        await self._command("INFER")
        return await self.read("PREDICTION")

    # ---- status and control ----

    async def status(self) -> dict[str, int]:
        """STATUS fields, ERRORS, PREDICTION, the counters and the 64-bit busy-cycle counter (LO then HI)."""
        word = await self.read("STATUS")
        out = {f.name: self.field("STATUS", f.name, word) for f in self.map["STATUS"].fields}
        out["errors"] = await self.read("ERRORS")
        out["prediction"] = await self.read("PREDICTION")
        for name in ("SAMPLE_COUNT", "HIT_COUNT", "RECIP_SAT_COUNT"):
            out[name.lower()] = await self.read(name)
        lo = await self.read("CYCLE_COUNT_LO")  # latches HI
        out["cycles"] = (await self.read("CYCLE_COUNT_HI")) << 32 | lo
        return out

    async def clear_counters(self) -> None:
        """Zero SAMPLE_COUNT, HIT_COUNT, RECIP_SAT_COUNT and the cycle counter; clear ERRORS.recip_sat."""
        await self.write("CTRL", clear_counters=1)
        await self.write("ERRORS", self.map["ERRORS"].field("recip_sat").mask)

    async def reset(self) -> None:
        """Soft-reset the core: abort a command; memories are kept, the noise generators lose their
        seeds, so the core must be configured again."""
        await self.write("CTRL", soft_reset=1)
        await self.bus.wait(2)
        self._epoch = None

    # ---- internals ----

    def _checked(self, codes: np.ndarray, size: int, what: str) -> np.ndarray:
        arr = np.asarray(codes)
        if arr.shape != (size,) or arr.dtype.kind not in "iu":
            raise CoreError(f"{what} codes: expected {size} integers, got {arr.size} of {arr.dtype}")
        return arr.astype(np.int64)

    def _configured(self, what: str) -> None:
        if self._epoch is None:
            raise CoreError(f"configure the core (configure(epoch) or begin_epoch(epoch)) before you {what}")

    async def _idle(self, what: str) -> None:
        if self.field("STATUS", "busy", await self.read("STATUS")):
            raise CoreError(f"cannot {what}: the core is busy with another command (soft-reset it with reset())")

    async def _pixels_in(self, image: np.ndarray) -> None:
        """Write a sample's pixels, only those that differ from the pixel memory's (a jump costs one write)."""
        img = np.asarray(image)
        if img.size != INPUT_PIXELS or img.dtype.kind not in "iu" or img.min() < 0 or img.max() > 255:
            raise CoreError(f"an image is {INPUT_PIXELS} pixel values 0..255, got {img.size} of {img.dtype}")
        img = img.reshape(-1).astype(np.int64)
        changed = np.arange(INPUT_PIXELS) if self._pixels is None else np.flatnonzero(img != self._pixels)
        if changed.size:
            await self.write("MEM_SPACE", space=self.code("MEM_SPACE", "space", "PIXELS"))
            if self._wdata_hi != 0:  # the core stores the low 8 bits; keep HI's shadow exact anyway
                await self.write("MEM_WDATA_HI", 0)
                self._wdata_hi = 0
            addr_off, lo_off = self.map.offset("MEM_ADDR"), self.map.offset("MEM_WDATA_LO")
            ptr = -1
            for i in changed.tolist():
                if i != ptr:
                    await self.bus.write(addr_off, i)
                await self.bus.write(lo_off, int(img[i]))
                ptr = i + 1
            await self._check_errors("writing PIXELS")
        self._pixels = img

    async def _command(self, mode: str) -> int:
        """Start a command on the idle core, poll STATUS until done (at most timeout_cycles), check ERRORS;
        the last STATUS."""
        if self.timeout_cycles is None:  # the slowest core of cfg (one lane); identify() has checked cfg against it
            self.timeout_cycles = CoreBuild(self.cfg, 1).timeout_cycles()
        await self.write("CTRL", start=1, mode=self.code("CTRL", "mode", mode))
        waited = 0
        while True:
            await self.bus.wait(self.poll_cycles)
            waited += self.poll_cycles
            status = await self.read("STATUS")
            if self.field("STATUS", "done", status) and not self.field("STATUS", "busy", status):
                break
            if waited >= self.timeout_cycles:
                await self.reset()
                raise CoreTimeout(f"{mode} did not finish within {self.timeout_cycles} cycles (STATUS "
                                  f"{status:#x}); the core was soft-reset: configure it again")
        await self._check_errors(mode)
        return status

    async def _check_errors(self, what: str) -> None:
        """A CoreError naming ERRORS' misuse flags (cleared), if any is set."""
        errors = await self.read("ERRORS")
        bad = [f for f in self.map["ERRORS"].fields if errors & f.mask and f.name not in RESULT_FLAGS]
        if bad:
            await self.write("ERRORS", sum(f.mask for f in bad))
            self._pixels = None  # an ignored window write leaves the pixel memory unknown
            names = "; ".join(f"{f.name} ({f.doc.rstrip('.')})" for f in bad)
            raise CoreError(f"{what}: the core flagged {names}: is another program using the core?")


class DriverExecutor:
    """golden/train.py's Executor on an EPCoreInterface: `run` turns a driver coroutine into its result
    (run_sync for the model and boards; the simulation's own scheduler for cocotb)."""

    def __init__(self, core: EPCoreInterface, run: Callable[[Coroutine[Any, Any, Any]], Any],
                 theta: np.ndarray | None = None) -> None:
        from golden.fixed_ep import FixedEP

        self.core, self.run = core, run
        if theta is None:
            theta = FixedEP(core.cfg).theta  # the golden model's initial codes (seeded by cfg.seed)
        run(self._setup(theta))

    async def _setup(self, theta: np.ndarray) -> None:
        await self.core.identify()
        await self.core.begin_epoch(0)
        await self.core.clear_counters()
        await self.core.load_params(theta)

    def begin_epoch(self, epoch: int) -> None:
        """The epoch's learning rates and seeds; warm-start state cleared."""
        self.run(self.core.begin_epoch(epoch))

    def status(self) -> dict[str, int]:
        """Saturated reciprocals since the start (the golden model's recip_saturations)."""
        return {"recip_saturations": self.run(self.core.read("RECIP_SAT_COUNT"))}

    def train(self, X: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> int:
        """Train on samples X[idx] one at a time; the free-phase hits."""
        return self.run(self._train(X, labels, idx))

    async def _train(self, X: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> int:
        hits = 0
        for t in np.asarray(idx).tolist():
            hits += await self.core.train(X[t], int(labels[t]))
        return hits

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted class of every image of X."""
        return self.run(self._predict(X))

    async def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.array([await self.core.infer(x) for x in X], np.int64)

    def state(self) -> dict[str, np.ndarray]:
        """The parameter codes (what a checkpoint holds)."""
        return {"theta": self.run(self.core.read_params())}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Load a checkpoint's parameter codes into the core."""
        self.run(self.core.load_params(np.asarray(state["theta"])))
