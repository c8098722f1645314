"""The training loop: data order, metrics, checkpoints, progress and resume, for any executor."""

from __future__ import annotations

import io
import json
import zipfile
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from tqdm import tqdm

from .config import Config, ConfigError, apply
from .datasets import Dataset
from .files import atomic_write_bytes, atomic_write_text

METRICS = "metrics.json"
CHECKPOINT = "checkpoint.npz"
CHUNK_SAMPLES = 2048  # samples per executor call: how often the progress bar moves


class RunError(RuntimeError):
    """A run that cannot start or continue (bad output folder, mismatched checkpoint)."""


class Executor(Protocol):
    """What runs training steps: the float and fixed-point golden models now; the simulated core and board later."""

    def begin_epoch(self, epoch: int) -> None: ...
    def status(self) -> dict[str, int]: ...
    def train(self, X: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> int: ...
    def predict(self, X: np.ndarray) -> np.ndarray: ...
    def state(self) -> dict[str, np.ndarray]: ...
    def load_state(self, state: dict[str, np.ndarray]) -> None: ...


def golden_executor(cfg: Config) -> Executor:
    """The golden model the config asks for: float (the reference) or fixed point (the hardware's specification)."""
    if cfg.precision == "fixed":
        from .fixed_ep import FixedEP
        return FixedEP(cfg)
    from .float_ep import FloatEP
    return FloatEP(cfg)


def versions() -> dict[str, str]:
    """Versions of what produced a result."""
    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("epfpga", "numpy", "numba", "llvmlite"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def epoch_order(cfg: Config, epoch: int, n: int) -> np.ndarray:
    """The shuffled sample order of an epoch: a function of (seed, epoch) only, so resume is exact."""
    return np.random.default_rng([cfg.seed, 2, epoch]).permutation(n)


def accuracy(executor: Executor, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of images whose free-phase prediction equals the label."""
    return float(np.mean(executor.predict(X) == y))


def prepare_out(out: Path, resumable: bool = True) -> None:
    """Create the output folder for a new run; refuse one that holds a run (naming --resume if `resumable`, the
    command's way to continue it) or cannot be written."""
    if (out / METRICS).exists() or (out / "sweep.json").exists() or (out / "sweep.csv").exists():
        then = f"continue it with --resume {out} or choose" if resumable else "choose"
        raise RunError(f"{out} already holds a run; {then} another --out")
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunError(f"cannot write to output folder {out}: {e.strerror or e}") from None


def load_run(out: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The metrics and parameters of an earlier run in `out`, from its checkpoint (which holds both)."""
    try:
        raw = (out / CHECKPOINT).read_bytes()  # np.load leaks its file handle on a damaged zip
        with np.load(io.BytesIO(raw), allow_pickle=False) as ck:
            state = {k: ck[k] for k in ck.files}
    except FileNotFoundError:
        raise RunError(f"cannot resume from {out}: {CHECKPOINT} is missing") from None
    except OSError as e:
        raise RunError(f"cannot resume from {out}: {CHECKPOINT} is unreadable ({e.strerror or e})") from None
    except (ValueError, EOFError, zipfile.BadZipFile):  # not an .npz of arrays: nothing host train wrote
        raise RunError(f"cannot resume from {out}: {CHECKPOINT} is unreadable: not a checkpoint written by "
                       "host train") from None
    try:
        metrics = json.loads(str(state.pop("metrics")))
        done = int(state.pop("epochs_done"))
        ok = isinstance(metrics["config"], dict) and len(metrics["epochs"]) == done
    except (KeyError, ValueError, TypeError):
        ok = False
    if not ok:
        raise RunError(f"cannot resume from {out}: {CHECKPOINT} is not a checkpoint written by host train")
    return metrics, state


def resume_config(metrics: dict, overrides: dict) -> Config:
    """The config stored with a run, with `epochs` (and only settings that do not change the model) overridable."""
    allowed = {"epochs", "data_dir"}
    bad = sorted(k for k, v in overrides.items() if v is not None and k not in allowed)
    if bad:
        raise ConfigError(f"--resume keeps the run's settings; only --epochs and --data-dir may change, not {', '.join(bad)}")
    cfg = apply(Config(), metrics["config"], "stored config")
    return apply(cfg, {k: v for k, v in overrides.items() if v is not None}, "command line").validate()


def write_results(out: Path, metrics: dict, state: dict[str, np.ndarray], epochs_done: int) -> None:
    """The checkpoint (parameters `state` and metrics in one file, what resume reads), then metrics.json."""
    buf = io.BytesIO()
    np.savez(buf, epochs_done=np.array(epochs_done), metrics=np.array(json.dumps(metrics)), **state)
    atomic_write_bytes(out / CHECKPOINT, buf.getvalue())
    atomic_write_text(out / METRICS, json.dumps(metrics, indent=2) + "\n")


def train(cfg: Config, data: Dataset, executor: Executor, out: Path | None, target: str,
          metrics: dict | None = None, progress: bool = True,
          log: Callable[[str], None] = print, hardware: dict | None = None) -> dict:
    """Train for cfg.epochs epochs (continuing `metrics` of a resumed run); returns the metrics. With an `out`
    folder, the checkpoint and metrics.json are rewritten there after every epoch. `hardware` (a new run on a
    core: its lanes) is kept in the metrics, for a resumed run to use the same core."""
    if metrics is None:
        metrics = {"config": cfg.to_dict(), "target": target, **({"hardware": hardware} if hardware else {}),
                   "versions": versions(),
                   "dataset": {"name": data.name, "source": data.source, "note": data.note,
                               "train_samples": len(data.train_y), "test_samples": len(data.test_y)},
                   "epochs": []}
    metrics["config"] = cfg.to_dict()  # a resumed run may have raised epochs or moved its data
    n = len(data.train_y)
    chunk = max(cfg.batch_size, CHUNK_SAMPLES // cfg.batch_size * cfg.batch_size)
    previous: dict[str, int] = {}
    for epoch in range(len(metrics["epochs"]), cfg.epochs):
        executor.begin_epoch(epoch)
        order = epoch_order(cfg, epoch, n)
        hits = 0
        start = time.perf_counter()
        with tqdm(total=n, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="sample", unit_scale=True,
                  disable=not progress, leave=False, dynamic_ncols=True) as bar:
            for lo in range(0, n, chunk):
                idx = order[lo:lo + chunk]
                hits += executor.train(data.train_x, data.train_y, idx)
                bar.update(len(idx))
                bar.set_postfix(train_acc=f"{hits / min(n, lo + chunk):.4f}")
        seconds = time.perf_counter() - start
        test_acc = accuracy(executor, data.test_x, data.test_y)
        row = {"epoch": epoch + 1, "train_accuracy": hits / n, "test_accuracy": test_acc,
               "seconds": round(seconds, 3), "samples_per_second": round(n / seconds, 1)}
        status = executor.status()  # cumulative; what happened before epoch 1 (initial state) counts in it
        counts = {k: v - previous.get(k, 0) for k, v in status.items()}
        previous = status
        row.update(counts)
        metrics["epochs"].append(row)
        if out is not None:
            write_results(out, metrics, executor.state(), epoch + 1)
        log(f"epoch {epoch + 1:3d}/{cfg.epochs}  train {100 * row['train_accuracy']:6.2f}%  "
            f"test {100 * test_acc:6.2f}%  {seconds:7.2f} s  ({row['samples_per_second']:.0f} samples/s)")
        for key, count in counts.items():
            if count:
                log(f"warning: {count} {key.replace('_', ' ')} in epoch {epoch + 1} (the hardware's status flag)")
    return metrics
