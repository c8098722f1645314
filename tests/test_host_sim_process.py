"""Fault injection into simulated runs (sim/process.py): `host train --target sim` and `host verify` signalled
(SIGINT, SIGTERM, SIGKILL) at seeded random moments leave no simulator running and no half-written run folder,
a resumed run ends bit for bit where an uninterrupted one does, and two concurrent runs of the same config
share nothing but the build."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from golden.train import CHECKPOINT, METRICS, load_run
from processes import running_pids, stat, survivors
from sim.build import ROOT

pytestmark = pytest.mark.sim

TINY = 'model = "drn-xs"\nhidden = [2]\nepochs = 2\nsigma = 0.05\nsamples = 2\n'
TRAIN = ["--train-samples", "24", "--test-samples", "4", "--lanes", "2", "--no-progress"]
VERIFY = 'hidden = [2]\nlr_weights = [0.05, 0.05]\nlr_biases = [0.05, 0.05]\n'
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
EXIT = {"SIGINT": 130, "SIGTERM": 128 + signal.SIGTERM, "SIGKILL": -signal.SIGKILL}
GONE_SECONDS = 5.0  # the host's grace before SIGKILL of a group, and some
WAIT_SECONDS = 120.0  # for a line of a run or its end: the first build of a core takes a while


def verilator() -> None:
    from sim.build import SimulatorUnavailable, simulators

    try:
        simulators("verilator")
    except SimulatorUnavailable as error:
        pytest.skip(str(error))


def simulators_of(host: int, binary: str) -> list[int]:
    """The host's children running `binary` (the simulator: the Verilated model)."""
    found = []
    for pid in running_pids():
        info = stat(pid)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if info is not None and info[1] == host and cmdline.endswith("/" + binary):
            found.append(pid)
    return found


class Host:
    """`host ...` as a subprocess whose stdout is read line by line."""

    def __init__(self, argv: list[str], tmp: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)}
        self.proc = subprocess.Popen([sys.executable, "-m", "host", *argv], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []

    def wait_for(self, start: str) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(start):
                return
        raise AssertionError(f"the run ended before a line {start!r}: {self.lines} {self.proc.stderr.read()}")

    def simulator(self, binary: str) -> list[int]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            pids = simulators_of(self.proc.pid, binary)
            if pids:
                return pids
            time.sleep(0.05)
        raise AssertionError("no simulator started")

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=WAIT_SECONDS)
        return self.proc.returncode, "\n".join(self.lines) + out, err


def assert_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + GONE_SECONDS
    while survivors(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not survivors(pids), f"simulator processes survived: {survivors(pids)}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reference(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run (it also builds the core, once for the module)."""
    verilator()
    out = tmp_path_factory.mktemp("reference") / "run"
    host = Host(["train", "--target", "sim", "--config", str(tiny), "--out", str(out), *TRAIN], out.parent)
    code, stdout, err = host.finish()
    assert code == 0, err
    return out


def theta(folder: Path) -> np.ndarray:
    return np.load(folder / CHECKPOINT)["theta"]


@pytest.mark.parametrize("moment", ["training", "epoch-1"])
@pytest.mark.parametrize("name", list(SIGNALS))
def test_train_signalled(name: str, moment: str, tiny: Path, reference: Path, tmp_path: Path) -> None:
    """Signalled while epoch 1 trains, or just after epoch 1 ended (a seeded random delay): the host exits with the
    signal's status, its simulator is gone, the run folder holds nothing or a whole epoch, and the run then
    continues (--resume, or anew when no epoch finished) to the reference's parameters bit for bit."""
    out = tmp_path / "run"
    (tmp_path / "tmp").mkdir()
    delay = random.Random(f"{name}-{moment}").uniform(0.0, 1.0)
    host = Host(["train", "--target", "sim", "--config", str(tiny), "--out", str(out), *TRAIN], tmp_path / "tmp")
    host.wait_for("core ready")
    pids = host.simulator("ep_top")
    if moment == "epoch-1":
        host.wait_for("epoch   1/2")
    time.sleep(delay)
    host.proc.send_signal(SIGNALS[name])
    code, stdout, err = host.finish()
    assert code == EXIT[name], err
    assert_gone(pids)
    if (out / METRICS).exists():
        metrics, state = load_run(out)
        assert json.loads((out / METRICS).read_text()) == metrics and len(metrics["epochs"]) >= 1
    else:
        assert not (out / CHECKPOINT).exists()
    if name != "SIGKILL":  # only a killed host leaves its private folder behind
        assert not list((tmp_path / "tmp").iterdir())
    if name == "SIGINT":
        hint = f"host: interrupted; continue it with: host train --resume {out}"
        assert (hint in err) == (out / CHECKPOINT).exists(), err
    if (out / CHECKPOINT).exists():
        again = Host(["train", "--resume", str(out), "--no-progress"], tmp_path / "tmp")
    else:
        again = Host(["train", "--target", "sim", "--config", str(tiny), "--out", str(out), *TRAIN], tmp_path / "tmp")
    code, stdout, err = again.finish()
    assert code == 0, err
    assert "P = 2," in stdout  # a resumed run uses its own core: the lanes are kept in metrics.json
    assert np.array_equal(theta(out), theta(reference))
    keys = ("train_accuracy", "test_accuracy", "recip_saturations")
    want = json.loads((reference / METRICS).read_text())["epochs"]
    got = json.loads((out / METRICS).read_text())["epochs"]
    assert [[e[k] for k in keys] for e in got] == [[e[k] for k in keys] for e in want]


@pytest.mark.parametrize("name", list(SIGNALS))
def test_verify_signalled(name: str, tmp_path: Path) -> None:
    """`host verify` signalled while its simulation runs: the host exits with the signal's status, its simulator is
    gone, and (but for SIGKILL) its private run folder too; the shared build folder holds no run's files."""
    verilator()
    config = tmp_path / "core.toml"
    config.write_text(VERIFY)
    (tmp_path / "tmp").mkdir()
    delay = random.Random(f"verify-{name}").uniform(0.0, 0.5)
    started = time.time()
    host = Host(["verify", "--config", str(config), "--images", "4", "--cases", "8"], tmp_path / "tmp")
    pids = host.simulator("verify_core")
    time.sleep(delay)
    host.proc.send_signal(SIGNALS[name])
    code, stdout, err = host.finish()
    assert_gone(pids)
    if code == 0:  # the simulation was faster than the delay: nothing was interrupted
        pytest.fail(f"verify finished before the {name}: make its run longer")
    assert code == EXIT[name], err
    if name != "SIGKILL":
        assert not list((tmp_path / "tmp").iterdir())
    build = ROOT / "build" / "sim" / "verilator"
    written = [p for p in build.glob("verify-*/*") if p.stat().st_mtime >= started]  # this run's, not older trees'
    assert not [p for p in written if p.suffix in (".npz", ".log", ".xml") and p.name != "build.log"]


def test_two_concurrent_runs_share_only_the_build(tiny: Path, reference: Path, tmp_path: Path) -> None:
    """Two runs of the same config at once into different folders: both finish with their own progress lines only,
    and the results of the reference (a run on its own)."""
    hosts = [Host(["train", "--target", "sim", "--config", str(tiny), "--out", str(tmp_path / f"run{k}"), *TRAIN],
                  tmp_path) for k in (0, 1)]
    for k, host in enumerate(hosts):
        code, stdout, err = host.finish()
        assert code == 0, err
        lines = stdout.splitlines()
        assert [line[:11] for line in lines if line.startswith("epoch ")] == ["epoch   1/2", "epoch   2/2"]
        assert str(tmp_path / f"run{1 - k}") not in stdout
        assert np.array_equal(theta(tmp_path / f"run{k}"), theta(reference))
        keys = ("train_accuracy", "test_accuracy", "recip_saturations")
        want = json.loads((reference / METRICS).read_text())["epochs"]
        got = json.loads((tmp_path / f"run{k}" / METRICS).read_text())["epochs"]
        assert [[e[k] for k in keys] for e in got] == [[e[k] for k in keys] for e in want]
