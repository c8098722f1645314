"""The simulated core as a training target: golden/train.py's loop inside a cocotb simulation of EPTop (Verilator),
through host.driver and the AXI4-Lite bus model; `host train --target sim` and `host bench sim`.

The host side (`train`, `bench`) builds the core once per config and lane count (build/sim/verilator/host-...: a
later run reuses the compiled model) and runs host/flows/train_sim_tb.py, whose tests call `run_loop` / `run_bench` here in
a cocotb bridge thread: the code is synchronous, every driver coroutine it starts is awaited in the simulation.
The simulator's output goes to a log, so the simulation reports its progress (each sample, each line the loop
prints, an error) as JSON lines in an events file that the host follows to draw the progress bar. A run's files
(inputs, events, log, the simulation's checkpoint) live in a private folder of that run; only the host writes the
run folder, copying each finished epoch there.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from golden import config
from golden import train as loop
from golden.config import Config, apply
from golden.datasets import Dataset, load as load_dataset
from golden.fixed_ep import FixedEP
from hdl.generate import typical_nonzero
from hdl.plan import CoreBuild
from hdl.top import EPTop
from host.backends.pynq import CLOCK_HZ
from host.driver import DriverExecutor, EPCoreInterface
from sim import process
from sim.build import ROOT, SimBuild, SimulationError, run_folder

DEMO_CONFIG = ROOT / "docs" / "demo.toml"  # the network, data and lanes of `make demo` (its comments say why)
PERIOD_NS = 10  # the simulated clock: 100 MHz, the boards' FCLK0
POLL_SAMPLES = 8  # STATUS reads per TRAIN sample while the core runs (more is slower, fewer idles the core)
FOLLOW_SECONDS = 0.2  # how often the host reads the events file
Run = Callable[[Coroutine[Any, Any, Any]], Any]


class SimError(RuntimeError):
    """The simulated run failed (a driver error, a core that does not answer); one line."""


def demo() -> tuple[dict[str, Any], dict[str, int]]:
    """docs/demo.toml: its config settings (with `model`) and its run options (lanes, train_samples, test_samples)."""
    return config.read_file(DEMO_CONFIG)


def poll_cycles(build: CoreBuild) -> int:
    """Cycles between STATUS reads: a TRAIN sample's cycles / POLL_SAMPLES (a bus read costs the simulation
    as much Python as thousands of free-running cycles)."""

    cfg = build.cfg
    cycles = build.train_cycles(round(typical_nonzero(build)), cfg.sweeps, build.consts.sn, cfg.samples,
                                build.centered)
    return max(50, cycles // POLL_SAMPLES)


def simulation_build(cfg: Config, lanes: int) -> CoreBuild:
    """The core a run trains on: `cfg` with `lanes` lanes, its idle lane units clock-gated (the run is long)."""
    return CoreBuild(cfg, lanes, clock_gating=True)


def build_name(build: CoreBuild) -> str:
    """The build folder of a run's core (runs whose Verilog is the same share it)."""
    return f"host-{build.name}"


def build_core(build: CoreBuild, simulator: str = "verilator") -> Any:
    """EPTop(build) built for `simulator` (a fast Verilator build); an unchanged design is not recompiled."""

    return SimBuild.create(EPTop(build), toplevel="ep_top", case=build_name(build), simulator=simulator, fast=True)


# ---- inside the simulation ----

class Events:
    """The simulation's side of the events file: one JSON object per line, flushed at once."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", buffering=1)

    def emit(self, **event: Any) -> None:
        self.file.write(json.dumps(event) + "\n")

    def log(self, line: str) -> None:
        self.emit(log=line)


class ReportingExecutor:
    """An Executor that passes every call to `inner` one sample at a time and reports each sample to `events`."""

    def __init__(self, inner: DriverExecutor, events: Events) -> None:
        self.inner, self.events = inner, events
        self.epoch, self.trained, self.hits = 0, 0, 0

    def begin_epoch(self, epoch: int) -> None:
        self.inner.begin_epoch(epoch)
        self.epoch, self.trained, self.hits = epoch, 0, 0

    def status(self) -> dict[str, int]:
        return self.inner.status()

    def train(self, X: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> int:
        hits = 0
        for t in np.asarray(idx):
            hits += self.inner.train(X, labels, np.array([t]))
            self.trained += 1
            self.events.emit(phase="train", epoch=self.epoch, done=self.trained, hits=self.hits + hits)
        self.hits += hits
        return hits

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = []
        for k in range(len(X)):
            out.append(self.inner.predict(X[k:k + 1])[0])
            self.events.emit(phase="test", epoch=self.epoch, done=k + 1)
        return np.array(out, np.int64)

    def state(self) -> dict[str, np.ndarray]:
        return self.inner.state()

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.inner.load_state(state)


def _config(params: dict) -> Config:
    return apply(Config(), params["config"], "simulation").validate()


def _dataset(path: str) -> Dataset:
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in ("train_x", "train_y", "test_x", "test_y")}
        meta = json.loads(str(f["meta"]))
    return Dataset(meta["name"], source=meta["source"], note=meta["note"], **arrays)


def run_loop(bus: Any, run: Run, params: dict) -> None:
    """In the simulation: golden/train.py's loop on the core behind `bus`, `run` awaiting each driver coroutine.
    params: config (a Config dict), lanes, data (the npz `write_dataset` wrote), out (the run's private folder,
    holding the checkpoint to resume from), resume, events."""
    events = Events(Path(params["events"]))
    try:
        cfg = _config(params)
        out = Path(params["out"])
        metrics, theta = None, None
        if params["resume"]:
            metrics, state = loop.load_run(out)
            theta = state["theta"]
        core = EPCoreInterface(bus, cfg, poll_cycles=poll_cycles(CoreBuild(cfg, params["lanes"])))
        executor = ReportingExecutor(DriverExecutor(core, run, theta), events)
        if theta is not None:  # the checkpoint's LOAD is no training step: its saturated reciprocals counted in
            run(core.clear_counters())  # the epoch that wrote the checkpoint, as in an uninterrupted run
        loop.train(cfg, _dataset(params["data"]), executor, out, "sim", metrics, progress=False, log=events.log,
                   hardware={"lanes": params["lanes"]})
    except Exception as error:  # the host reports it in one line; the test fails with it too
        events.emit(error=f"{type(error).__name__}: {error}".splitlines()[0])
        raise
    events.emit(finished=True)


def run_bench(bus: Any, run: Run, params: dict) -> None:
    """In the simulation: train `repeats` times on `samples` samples through the driver; write the wall time,
    the core's busy cycles, the simulated cycles and the samples' non-zero pixel counts of each repeat to
    params["results"]."""
    from cocotb.utils import get_sim_time  # cocotb's time exists only inside a simulation

    cfg = _config(params)
    data = _dataset(params["data"])
    core = EPCoreInterface(bus, cfg, poll_cycles=poll_cycles(CoreBuild(cfg, params["lanes"])))
    executor = DriverExecutor(core, run)
    executor.begin_epoch(0)
    sim_ns = run(_now(get_sim_time))
    repeats = []
    n = len(data.train_y)
    for r in range(params["repeats"]):
        idx = np.arange(r * params["samples"], (r + 1) * params["samples"]) % n
        before = run(core.status())["cycles"]
        start, start_ns = time.perf_counter(), sim_ns
        executor.train(data.train_x, data.train_y, idx)
        seconds = time.perf_counter() - start
        sim_ns = run(_now(get_sim_time))
        repeats.append({"seconds": seconds, "busy_cycles": run(core.status())["cycles"] - before,
                        "sim_cycles": round((sim_ns - start_ns) / PERIOD_NS),
                        "nonzero": np.count_nonzero(core.consts.vin_table[data.train_x[idx]], axis=1).tolist()})
    Path(params["results"]).write_text(json.dumps(repeats))


async def _now(get_sim_time: Callable[[str], float]) -> float:
    return get_sim_time("ns")


# ---- the host side ----

def write_dataset(data: Dataset, path: Path) -> None:
    """The images and labels the simulation trains on (the host may have cut them to the first K)."""
    meta = {"name": data.name, "source": data.source, "note": data.note}
    np.savez(path, train_x=data.train_x, train_y=data.train_y, test_x=data.test_x, test_y=data.test_y,
             meta=np.array(json.dumps(meta)))


class _Follower:
    """The host's side of the events file: a progress bar per epoch (training, then the test images) and the
    loop's printed lines."""

    def __init__(self, path: Path, cfg: Config, data: Dataset, progress: bool, log: Callable[[str], None]) -> None:
        self.path, self.cfg, self.progress, self.log = path, cfg, progress, log
        self.sizes = {"train": len(data.train_y), "test": len(data.test_y)}
        self.tqdm, self.bar, self.key = tqdm, None, None
        self.offset = 0
        self.error: str | None = None
        self.finished = False

    def poll(self) -> None:
        with self.path.open() as f:
            f.seek(self.offset)
            while True:
                line = f.readline()
                if not line.endswith("\n"):  # not written to the end yet
                    break
                self.offset = f.tell()
                self._event(json.loads(line))

    def _event(self, event: dict) -> None:
        if "log" in event:
            self.close()
            self.log(event["log"])
        elif "error" in event:
            self.error = event["error"]
        elif "finished" in event:
            self.finished = True
        elif self.progress:
            key = (event["epoch"], event["phase"])
            if key != self.key:
                self.close()
                label = "" if event["phase"] == "train" else " test"
                self.bar = self.tqdm(total=self.sizes[event["phase"]], unit="sample", leave=False, dynamic_ncols=True,
                                     desc=f"epoch {event['epoch'] + 1}/{self.cfg.epochs}{label}")
                self.key = key
            self.bar.update(event["done"] - self.bar.n)
            if "hits" in event:
                self.bar.set_postfix(train_acc=f"{event['hits'] / event['done']:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar, self.key = None, None


def _publish(private: Path, out: Path, published: int) -> int:
    """Copy the newest epoch the simulation checkpointed in `private` to the run folder `out` (atomically, with
    golden/train.py's writer) if it is newer than epoch `published`; returns the epochs now in `out`."""
    if not (private / loop.CHECKPOINT).is_file():
        return published
    metrics, state = loop.load_run(private)
    done = len(metrics["epochs"])
    if done > published:
        loop.write_results(out, metrics, state, done)
    return max(done, published)


def _stop(done: threading.Event) -> None:
    """End the simulations of the thread that sets `done` until it does (it may start a command after an end_all)."""
    while not done.is_set():
        process.end_all()
        done.wait(FOLLOW_SECONDS)


def train(build: Any, cfg: Config, data: Dataset, out: Path, lanes: int, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print) -> None:
    """Run golden/train.py's loop on the simulated core (`build_core(simulation_build(cfg, lanes))`) into `out`: its metrics.json
    and checkpoint.npz, as the golden target writes them. SimError (one line) when it fails.

    The simulation writes only to a private folder (`run_folder`: its inputs, events, checkpoint and log); the host
    copies each epoch's checkpoint and metrics to `out`, so an interrupted or killed run leaves `out` at a whole
    epoch. An exception in this thread (KeyboardInterrupt, SystemExit) ends the simulation before it passes on."""

    with run_folder("train") as private:
        data_file, events_file = private / "train.data.npz", private / "train.events.jsonl"
        write_dataset(data, data_file)
        events_file.write_text("")
        published = 0
        if resume:
            shutil.copyfile(out / loop.CHECKPOINT, private / loop.CHECKPOINT)
            published = len(loop.load_run(private)[0]["epochs"])
        params = {"config": cfg.to_dict(), "lanes": lanes, "data": str(data_file), "out": str(private),
                  "resume": resume, "events": str(events_file)}

        def logged(line: str) -> None:  # an epoch's line comes after its checkpoint: publish it first
            nonlocal published
            published = _publish(private, out, published)
            log(line)

        follower = _Follower(events_file, cfg, data, progress, logged)
        failure: list[BaseException] = []

        # Thread.join is not used: on Python < 3.13 a join interrupted by Ctrl-C marks the running thread as ended.
        done = threading.Event()

        def simulate() -> None:
            try:
                build.run("host.flows.train_sim_tb", params, name="train", testcase="train", folder=private)
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                failure.append(error)
            finally:
                done.set()

        # a daemon: should host exit while it still waits, its simulator dies with it (PR_SET_PDEATHSIG)
        threading.Thread(target=simulate, name="simulation", daemon=True).start()
        try:
            while not done.is_set():
                done.wait(FOLLOW_SECONDS)
                follower.poll()
        except BaseException:  # interrupted: the simulation thread's run returns once its process group is ended
            _stop(done)
            _publish(private, out, published)  # an epoch the simulation finished before the host polled its line
            raise
        finally:
            _stop(done)  # whatever ends this block, the thread no longer writes into the private folder
            follower.close()
        published = _publish(private, out, published)
        log_file = private / "train.log"
        if follower.error is not None:
            raise SimError(f"the simulated run failed: {follower.error} (log: {log_file})")
        if failure:
            error = failure[0]
            if isinstance(error, SimulationError):
                raise SimError(f"the simulation failed: {str(error).splitlines()[0]}") from None
            raise error
        if not follower.finished:
            raise SimError(f"the simulation ended before the run finished (log: {log_file})")


def golden_difference(cfg: Config, data: Dataset, theta: np.ndarray) -> str | None:
    """Train the fixed-point golden model with the same loop, settings and samples (all of cfg.epochs) and compare
    its parameters with `theta`: None when identical, else a description of the first difference."""

    ep = FixedEP(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        loop.train(cfg, data, ep, Path(tmp), "golden", progress=False, log=lambda line: None)
    want = ep.state()["theta"]
    if want.shape != theta.shape:
        return f"{theta.size} parameters, golden {want.size}"
    diff = np.flatnonzero(want != theta)
    if diff.size == 0:
        return None
    i = int(diff[0])
    return f"{diff.size} of {want.size} parameters differ, the first at index {i} (golden {want[i]}, sim {theta[i]})"


# Boards the bench projects to: (preset, board, lanes). DRN-XS on PYNQ-Z2 at the most lanes whose DSPs fit
# the xc7z020; DRN-1H on ZCU104 at P = 64, past which more lanes gain little (docs/speed.md, docs/core.md).
PROJECTIONS = (("drn-xs", "pynq-z2", 8), ("drn-1h", "zcu104", 64))
EPOCH_SAMPLES = 60_000


def bench(repeats: int = 3, samples: int = 20, log: Callable[[str], None] = print) -> dict:
    """`host bench sim`: training samples/s of the demo network through the simulated core (median of `repeats`
    runs of `samples` samples), its cycles per sample, and the projection to boards at 100 MHz of the cycles
    per sample of the build's schedule (hdl/plan.py), scaled by measured / formula on the demo network. Prints one JSON line."""

    values, run = demo()
    model = values.pop("model")
    cfg = config.load(model, overrides=values, hardware=True)
    lanes = run["lanes"]
    data = load_dataset(cfg.dataset, progress=False)
    n = repeats * samples
    data = dataclasses.replace(data, train_x=data.train_x[:n], train_y=data.train_y[:n])
    build = build_core(simulation_build(cfg, lanes))
    with run_folder("bench") as private:
        data_file, results = private / "bench.data.npz", private / "bench.results.json"
        write_dataset(data, data_file)
        build.run("host.flows.train_sim_tb", {"config": cfg.to_dict(), "lanes": lanes, "data": str(data_file),
                                              "repeats": repeats, "samples": samples, "results": str(results)},
                  name="bench", testcase="bench", folder=private)
        got = json.loads(results.read_text())
    core = CoreBuild(cfg, lanes)
    formula = sum(core.train_cycles(k, cfg.sweeps, core.consts.sn, cfg.samples, core.centered)
                  for r in got for k in r["nonzero"])
    busy = sum(r["busy_cycles"] for r in got)
    simulated = sum(r["sim_cycles"] for r in got)
    scale = busy / formula
    result = {"bench": "sim", "model": model, "sizes": cfg.sizes, "lanes": lanes, "repeats": repeats,
              "samples": samples, "samples_per_second": round(statistics.median(samples / r["seconds"] for r in got), 2),
              "busy_cycles_per_sample": round(busy / n), "formula_cycles_per_sample": round(formula / n),
              "sim_cycles_per_sample": round(simulated / n),
              "verilator_cycles_per_second": round(simulated / sum(r["seconds"] for r in got)),
              "clock_hz": CLOCK_HZ, "projections": {}}
    log(f"sim: {model} {cfg.sizes}, P = {lanes}, through host.driver and the AXI4-Lite bus model on Verilator: "
        f"{result['samples_per_second']:.2f} training samples/s (median of {repeats} x {samples} samples)")
    log(f"  {result['busy_cycles_per_sample']:,} core cycles per TRAIN sample (CoreBuild.train_cycles: "
        f"{result['formula_cycles_per_sample']:,}), {result['sim_cycles_per_sample']:,} simulated cycles with the "
        f"bus traffic and polling; Verilator {result['verilator_cycles_per_second'] / 1e3:.0f} k cycles/s")
    for name, board, p in PROJECTIONS:
        target = config.load(name, hardware=True)
        tcore = CoreBuild(target, p)
        nonzero = round(typical_nonzero(tcore))
        cycles = scale * tcore.train_cycles(nonzero, target.sweeps, tcore.consts.sn, target.samples, tcore.centered)
        rate = CLOCK_HZ / cycles
        result["projections"][name] = {"board": board, "lanes": p, "sizes": target.sizes,
                                       "cycles_per_sample": round(cycles), "samples_per_second": round(rate, 1),
                                       "epoch_seconds": round(EPOCH_SAMPLES / rate, 1)}
        log(f"  {name} {target.sizes} on {board}, P = {p}, {CLOCK_HZ / 1e6:.0f} MHz: {cycles:,.0f} cycles per sample "
            f"-> {rate:,.0f} samples/s, {EPOCH_SAMPLES / rate:.1f} s per {EPOCH_SAMPLES:,}-sample epoch "
            "(the core's cycles only: pixels and commands over the bus come on top)")
    log(json.dumps(result))
    return result
