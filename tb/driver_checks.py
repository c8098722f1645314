"""Behavioural checks of host.driver on any Bus: the same async functions run on the model, a fake PYNQ board
(tests/test_host_driver.py) and the RTL inside cocotb (tb/test_driver.py).

Each check takes a fresh-from-reset backend's `bus` and a `case` (golden_case: the config's overrides,
initial parameter codes, samples and what the golden FixedEP computes from them, JSON-serialisable)
and asserts. Wrappers around any bus make the abnormal cases: `StallBus` (random wait states before
accesses), `FrozenBus` (a core whose STATUS never reports done), `NoCoreBus` (nothing answers).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from golden import config
from golden.config import Config
from hdl.regmap.core import core_register_map
from hdl.regmap.language import RegisterMap
from host.driver import Bus, CoreError, CoreTimeout, EPCoreInterface

TRAIN, INFER = [0, 1], 3  # bundled mnist-subset training images
LANES = 2
OVERRIDES = {"precision": "fixed", "momentum": 0.0, "hidden": [2], "batch_size": 1, "sigma": 0.05, "samples": 2,
             "lr_weights": [0.05, 0.05], "lr_biases": [0.05, 0.05]}


def make_config(overrides: dict[str, Any]) -> Config:
    """The checks' fixed-point DRN-XS variant (a tiny core: hidden [2])."""
    return config.apply(config.preset("drn-xs"), overrides, "test").validate()


def golden_case(overrides: dict[str, Any] = OVERRIDES, lanes: int = LANES) -> dict[str, Any]:
    """Inputs and the golden model's results (and EPCore's cycle formulas) for the checks, as plain data."""
    from golden import datasets
    from golden.fixed_ep import FixedEP
    from hdl.plan import CoreBuild

    cfg = make_config(overrides)
    data = datasets.load("mnist-subset", progress=False)
    X, Y = data.train_x, data.train_y
    ep = FixedEP(cfg)
    core = CoreBuild(cfg, lanes)
    c = ep.consts
    case: dict[str, Any] = {"overrides": overrides, "theta": ep.theta.tolist(),
                            "images": [X[t].tolist() for t in TRAIN], "labels": [int(Y[t]) for t in TRAIN],
                            "infer_image": X[INFER].tolist(), "hits": [], "states": []}
    nonzero = int(np.count_nonzero(c.vin_table[X[TRAIN[0]]]))
    case["cycles"] = {"LOAD": core.load_cycles(),
                      "TRAIN": core.train_cycles(nonzero, cfg.sweeps, c.sn, cfg.samples, cfg.variant == "centered")}
    for t in TRAIN:
        case["hits"].append(int(ep.train(X, Y, np.array([t]))))
        case["states"].append(ep._S0[0].tolist())
    case["theta_after"] = ep.theta.tolist()
    case["recip_saturations"] = int(ep.flags[0])
    case["infer_pred"] = int(ep.predict(X[[INFER]])[0])
    return case


class StallBus:
    """A bus that waits 0..`most` random cycles before every access (a slow or busy interconnect)."""

    def __init__(self, bus: Bus, most: int = 20, seed: int = 3) -> None:
        self.bus, self.most, self.rng = bus, most, random.Random(seed)

    async def read(self, offset: int) -> int:
        await self.bus.wait(self.rng.randint(0, self.most))
        return await self.bus.read(offset)

    async def write(self, offset: int, value: int) -> None:
        await self.bus.wait(self.rng.randint(0, self.most))
        await self.bus.write(offset, value)

    async def wait(self, cycles: int) -> None:
        await self.bus.wait(cycles)


class FrozenBus:
    """A bus on which, once armed, the next command never finishes (STATUS reads busy, not done) until a
    soft reset: a hung core."""

    def __init__(self, bus: Bus, regmap: RegisterMap) -> None:
        self.bus = bus
        self.ctrl, self.status = regmap.offset("CTRL"), regmap.offset("STATUS")
        ctrl, status = regmap["CTRL"], regmap["STATUS"]
        self.start, self.soft_reset = ctrl.field("start").mask, ctrl.field("soft_reset").mask
        self.busy, self.done = status.field("busy").mask, status.field("done").mask
        self.armed = self.frozen = False

    async def read(self, offset: int) -> int:
        value = await self.bus.read(offset)
        if self.frozen and offset == self.status:
            value = (value | self.busy) & ~self.done
        return value

    async def write(self, offset: int, value: int) -> None:
        if offset == self.ctrl and value & self.soft_reset:
            self.frozen = False
        elif offset == self.ctrl and value & self.start and self.armed:
            self.armed, self.frozen = False, True
        await self.bus.write(offset, value)

    async def wait(self, cycles: int) -> None:
        await self.bus.wait(cycles)


class NoCoreBus:
    """A bus where nothing answers: reads return 0 (an empty address range, a wrong base address)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def read(self, offset: int) -> int:
        await self.bus.wait(1)
        return 0

    async def write(self, offset: int, value: int) -> None:
        await self.bus.wait(1)

    async def wait(self, cycles: int) -> None:
        await self.bus.wait(cycles)


def one_line(error: Exception) -> str:
    """An error's message, asserted to be a single line."""
    text = str(error)
    assert text and "\n" not in text, f"not one line: {text!r}"
    return text


async def ready(bus: Bus, case: dict[str, Any], **kwargs: Any) -> EPCoreInterface:
    """An identified, configured core with the case's initial parameters loaded."""
    core = EPCoreInterface(bus, make_config(case["overrides"]), **kwargs)
    await core.identify()
    await core.begin_epoch(0)
    await core.clear_counters()
    await core.load_params(np.array(case["theta"]))
    return core


async def check_identify(bus: Bus, case: dict[str, Any]) -> None:
    """identify() accepts the core's own config and refuses another build's or batch size in one line."""
    core = EPCoreInterface(bus, make_config(case["overrides"]))
    await core.identify()
    other = EPCoreInterface(bus, make_config({**case["overrides"], "hidden": [4]}))
    try:
        await other.identify()
    except CoreError as error:
        assert "BUILD_ID" in one_line(error)
    else:
        raise AssertionError("a core built for hidden [2] accepted a config with hidden [4]")
    batch = EPCoreInterface(bus, make_config({**case["overrides"], "batch_size": 2}))
    try:
        await batch.identify()
    except CoreError as error:
        assert "batch_size = 2" in one_line(error)
    else:
        raise AssertionError("an online core accepted batch_size = 2")
    try:
        await EPCoreInterface(NoCoreBus(bus), core.cfg).identify()
    except CoreError as error:
        assert "no EP core" in one_line(error)
    else:
        raise AssertionError("identify() passed where nothing answers")


async def check_train(bus: Bus, case: dict[str, Any]) -> None:
    """Two TRAIN samples and an INFER through the driver, bit-exact with golden FixedEP; counters; cycles."""
    core = await ready(bus, case)
    load_cycles = (await core.status())["cycles"]
    assert load_cycles == case["cycles"]["LOAD"], f"LOAD took {load_cycles} cycles, EPCore.load_cycles says " \
        f"{case['cycles']['LOAD']}"
    for i, (image, label) in enumerate(zip(case["images"], case["labels"])):
        before = (await core.status())["cycles"]
        hit = await core.train(np.array(image, np.uint8), label)
        assert hit == bool(case["hits"][i]), f"sample {i}: hit"
        assert (await core.read_state()).tolist() == case["states"][i], f"sample {i}: warm-start state"
        if i == 0:
            took = (await core.status())["cycles"] - before
            assert took == case["cycles"]["TRAIN"], f"TRAIN took {took} cycles, CoreBuild.train_cycles says " \
                f"{case['cycles']['TRAIN']}"
    assert (await core.read_params()).tolist() == case["theta_after"], "parameters after training"
    assert await core.infer(np.array(case["infer_image"], np.uint8)) == case["infer_pred"], "inference"
    status = await core.status()
    assert status["busy"] == 0 and status["done"] == 1
    assert status["sample_count"] == len(case["labels"]) + 1
    assert status["hit_count"] == sum(case["hits"])
    assert status["recip_sat_count"] == case["recip_saturations"], "saturated reciprocals"
    await core.clear_counters()
    status = await core.status()
    assert (status["sample_count"], status["hit_count"], status["recip_sat_count"], status["cycles"]) == (0, 0, 0, 0)


async def check_stalls(bus: Bus, case: dict[str, Any]) -> None:
    """check_train with random wait states before every access."""
    await check_train(StallBus(bus), case)


async def check_window(bus: Bus, case: dict[str, Any]) -> None:
    """The MEM_* window: STATE written and read back, writes past the end ignored, pixels read back, CLEAR."""
    core = await ready(bus, case)
    n = core.layout.n_free
    state = np.array([(-1) ** j * (j + 1) * 1000 for j in range(n)], np.int64)
    await core.write_state(state)
    await core.store("STATE", np.array([5]), at=n)  # one past the end: ignored
    assert (await core.read_state()).tolist() == state.tolist()
    image = np.array(case["images"][0], np.uint8)
    await core.infer(image)
    assert (await core.load("PIXELS", image.size, 32)).tolist() == image.tolist()
    await core.infer(np.array(case["infer_image"], np.uint8))  # only the changed pixels are written
    assert (await core.load("PIXELS", image.size, 32)).tolist() == case["infer_image"]
    await core.clear_state()
    assert (await core.read_state()).tolist() == [0] * n


async def check_timeout(bus: Bus, case: dict[str, Any]) -> None:
    """A core that never finishes: CoreTimeout in one line; the driver soft-resets it and it works again."""
    frozen = FrozenBus(bus, core_register_map(make_config(case["overrides"])))
    core = await ready(frozen, case, timeout_cycles=2000)
    frozen.armed = True
    try:
        await core.train(np.array(case["images"][0], np.uint8), case["labels"][0])
    except CoreTimeout as error:
        assert "TRAIN did not finish within 2000 cycles" in one_line(error)
    else:
        raise AssertionError("no timeout from a core that never finishes")
    try:
        await core.infer(np.array(case["infer_image"], np.uint8))
    except CoreError as error:
        assert "configure" in one_line(error)
    else:
        raise AssertionError("a soft-reset core ran without being configured again")
    # A timeout shorter than the command: the real core is still running when the driver gives up.
    short = await ready(bus, case)
    short.timeout_cycles = case["cycles"]["TRAIN"] // 4
    try:
        await short.train(np.array(case["images"][0], np.uint8), case["labels"][0])
    except CoreTimeout as error:
        one_line(error)
    else:
        raise AssertionError("TRAIN finished within a quarter of its cycles")
    assert (await short.status())["busy"] == 0, "the core is still busy after the soft reset"
    await short.configure(0)
    assert 0 <= await short.infer(np.array(case["infer_image"], np.uint8)) < 10


async def check_errors(bus: Bus, case: dict[str, Any]) -> None:
    """Misuse by someone else (a start or a window access while busy) ends the next command in a CoreError."""
    core = await ready(bus, case)
    image = np.array(case["infer_image"], np.uint8)
    pred = await core.infer(image)
    await core.write("CTRL", start=1, mode=core.code("CTRL", "mode", "INFER"))  # behind the driver's back
    try:
        await core.infer(image)
    except CoreError as error:
        assert "busy" in one_line(error)
    else:
        raise AssertionError("the driver started a command while the core was busy")
    await core.write("CTRL", start=1, mode=core.code("CTRL", "mode", "TRAIN"))  # ignored: start_busy
    await core.read("MEM_RDATA_LO")  # ignored: mem_busy
    while core.field("STATUS", "busy", await core.read("STATUS")):
        await bus.wait(100)
    try:
        await core.infer(image)
    except CoreError as error:
        assert "start_busy" in one_line(error) and "mem_busy" in one_line(error)
    else:
        raise AssertionError("ERRORS.start_busy and mem_busy were not reported")
    assert await core.infer(image) == pred, "the flags were not cleared"


CHECKS = {f.__name__.removeprefix("check_"): f for f in
          (check_identify, check_train, check_stalls, check_window, check_timeout, check_errors)}
