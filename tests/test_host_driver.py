"""host.driver on every backend: the shared behavioural checks of tb/driver_checks.py on the register-level model
(host.backends.model), a fake PYNQ board (tests/fake_pynq.py through host.backends.pynq) and, marked sim, the RTL (tb/test_driver.py);
golden/train.py's loop through DriverExecutor against the golden model."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from fake_pynq import FakePynq
from golden import datasets
from golden import train as golden_train
from golden.fixed_ep import FixedEP
from host.backends import pynq
from host.backends.model import CoreModel
from host.driver import CoreError, CoreTimeout, DriverExecutor, EPCoreInterface, run_sync
from tb.driver_checks import CHECKS, LANES, golden_case, make_config, one_line, ready

BASE = 0x4000_0000


@pytest.fixture(scope="module")
def case() -> dict:
    return golden_case()


@pytest.fixture(scope="module")
def cfg(case: dict):
    return make_config(case["overrides"])


def fake_board(monkeypatch: pytest.MonkeyPatch, cores: dict, tmp_path: Path, **kwargs) -> tuple[FakePynq, Path]:
    """A fake pynq in sys.modules whose clock runs when host.backends.pynq sleeps, and an overlay file pair."""
    fake = FakePynq(cores, **kwargs)
    monkeypatch.setitem(sys.modules, "pynq", fake.module)
    monkeypatch.setattr(pynq, "sleep", fake.sleep)
    bit = tmp_path / "ep_core.bit"
    bit.write_bytes(b"\0")
    bit.with_suffix(".hwh").write_text("<hwh/>")
    return fake, bit


@pytest.mark.parametrize("check", CHECKS)
def test_driver_on_model(check: str, case: dict, cfg) -> None:
    run_sync(CHECKS[check](CoreModel(cfg, lanes=LANES), case))


@pytest.mark.parametrize("check", CHECKS)
def test_driver_on_fake_pynq(check: str, case: dict, cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, bit = fake_board(monkeypatch, {BASE: CoreModel(cfg, lanes=LANES)}, tmp_path, stall=8)
    bus = pynq.open_board(bitfile=bit)
    assert fake.loaded == [str(bit)]
    run_sync(CHECKS[check](bus, case))


def test_model_that_never_finishes(case: dict, cfg) -> None:
    model = CoreModel(cfg)
    core = run_sync(ready(model, case, timeout_cycles=5000))
    model.stuck = True
    with pytest.raises(CoreTimeout, match=r"^LOAD did not finish within 5000 cycles .*configure it again$"):
        run_sync(core.load_params(np.array(case["theta"])))
    assert not model.busy, "the driver did not soft-reset the stuck core"


def test_model_flags_a_new_saturated_reciprocal(case: dict, cfg) -> None:
    """ERRORS.recip_sat is a result, not an error: counted, reported in status(), cleared with the counters."""
    core = run_sync(ready(CoreModel(cfg), case))
    status = run_sync(core.status())
    assert status["recip_sat_count"] > 0 and status["errors"] == core.map["ERRORS"].field("recip_sat").mask
    run_sync(core.clear_counters())
    assert run_sync(core.status())["errors"] == 0


def test_driver_refuses_bad_input(case: dict, cfg) -> None:
    core = run_sync(ready(CoreModel(cfg), case))
    theta = np.array(case["theta"])
    theta[0] = -1
    for call, match in ((core.load_params(theta), "outside their formats"),
                        (core.load_params(theta[:5]), "expected 3168 integers"),
                        (core.train(np.zeros(784, np.uint8), 10), "label 10"),
                        (core.infer(np.zeros(10, np.uint8)), "784 pixel values"),
                        (core.write_state(np.full(core.layout.n_free, 1 << 40)), "signed bits")):
        with pytest.raises(CoreError, match=match) as error:
            run_sync(call)
        one_line(error.value)
    unconfigured = EPCoreInterface(CoreModel(cfg), cfg)
    with pytest.raises(CoreError, match="configure the core"):
        run_sync(unconfigured.infer(np.zeros(784, np.uint8)))
    with pytest.raises(CoreError, match="fixed-point"):
        EPCoreInterface(CoreModel(cfg), dataclasses.replace(cfg, precision="float"))


def test_training_loop_through_the_driver_matches_the_golden_model(cfg, tmp_path: Path) -> None:
    """golden/train.py's loop with DriverExecutor on the model: the golden FixedEP's metrics and checkpoint."""
    full = datasets.load("mnist-subset", progress=False)
    data = dataclasses.replace(full, train_x=full.train_x[:40], train_y=full.train_y[:40],
                               test_x=full.test_x[:20], test_y=full.test_y[:20])
    run = dataclasses.replace(cfg, epochs=2)
    for name in ("driver", "golden"):
        golden_train.prepare_out(tmp_path / name)
    driven = golden_train.train(run, data, DriverExecutor(EPCoreInterface(CoreModel(run), run), run_sync),
                                tmp_path / "driver", "golden", progress=False, log=lambda line: None)
    golden = golden_train.train(run, data, FixedEP(run), tmp_path / "golden", "golden", progress=False,
                                log=lambda line: None)
    keys = ("train_accuracy", "test_accuracy", "recip_saturations")
    assert [[e[k] for k in keys] for e in driven["epochs"]] == [[e[k] for k in keys] for e in golden["epochs"]]
    ck = [np.load(tmp_path / name / golden_train.CHECKPOINT)["theta"] for name in ("driver", "golden")]
    assert np.array_equal(*ck)


def test_open_board_without_pynq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq raises ImportError
    with pytest.raises(CoreError) as error:
        pynq.open_board(board="pynq-z2")
    assert one_line(error.value) == ("no PYNQ board found (pynq is not installed): point --overlay at a .bit with "
                                     "its .hwh, or use --target sim")


def test_open_board_errors(cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, bit = fake_board(monkeypatch, {}, tmp_path, devices=0)
    with pytest.raises(CoreError, match=r"^no PYNQ board found \(pynq finds no device\)"):
        pynq.open_board(bitfile=bit)
    fake, bit = fake_board(monkeypatch, {}, tmp_path)
    with pytest.raises(CoreError, match="holds no EP core"):
        pynq.open_board(bitfile=bit)
    bit.with_suffix(".hwh").unlink()
    with pytest.raises(CoreError, match="has no ep_core.hwh beside it"):
        pynq.open_board(bitfile=bit)
    monkeypatch.setattr(pynq, "OVERLAYS", tmp_path / "overlays")
    with pytest.raises(CoreError, match=r"overlays/kv260/ep_core.bit not found: build it with `make bitstream"):
        pynq.open_board(board="kv260")
    monkeypatch.delenv("BOARD", raising=False)
    with pytest.raises(CoreError, match="which overlay"):
        pynq.open_board()


def test_open_board_finds_the_packaged_overlay(cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The board PYNQ names in $BOARD picks host/overlays/<board>/ep_core.bit; the core's IP gets the bound driver."""
    folder = tmp_path / "overlays" / "pynq-z2"
    folder.mkdir(parents=True)
    fake, bit = fake_board(monkeypatch, {BASE: CoreModel(cfg)}, folder)
    monkeypatch.setattr(pynq, "OVERLAYS", tmp_path / "overlays")
    monkeypatch.setenv("BOARD", "Pynq-Z2")
    bus = pynq.open_board()
    assert fake.loaded == [str(bit)] and isinstance(bus, pynq.MMIOBus)
    assert type(fake.module.Overlay(str(bit)).ep_core_0).bindto == [pynq.VLNV]
    run_sync(EPCoreInterface(bus, cfg).identify())


@pytest.mark.sim
def test_driver_on_rtl(case: dict, cfg, tmp_path: Path) -> None:
    """The same checks inside cocotb on Verilator, against EPTop over AXI4-Lite, clock-gated as `host train
    --target sim` builds it (tests/test_tb_top.py checks the ungated EPTop over the bus)."""
    from hdl.plan import CoreBuild
    from hdl.top import EPTop
    from sim.build import SimBuild, SimulatorUnavailable, simulators

    try:
        simulators("verilator")
    except SimulatorUnavailable as error:
        pytest.skip(str(error))
    top = EPTop(CoreBuild(cfg, LANES, clock_gating=True))
    build = SimBuild.create(top, toplevel="ep_top", case="ep_top-h2-p2-gated", simulator="verilator")
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    assert build.run("tb.test_driver", {"case": str(path)}) == len(CHECKS)
