"""Noise study (`host sweep noise`): the grid of training runs, its tidy table, resume and bisection of sigma_c.

A study folder holds `study.json` (the settings every point shares), `points/<key>.json` (the
metrics.json of each finished point, written atomically as it arrives, so a killed worker or sweep
loses no finished point), and the tables rebuilt from those: `sweep.csv` (a row per point),
`curves.csv` (a row per point and epoch), `critical.csv` and `sweep.json`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from golden import config
from golden.config import Config
from golden.datasets import Dataset, head, load as load_dataset
from golden.files import atomic_write_text
from golden.train import RunError, golden_executor, train
from host.studies import critical
from host.studies.runner import Runner

STUDY = "study.json"
SIGMA_RANGE = (1e-4, 1e-1)  # default grid: below DRN-XS's measured sigma_c to where nothing learns
PER_DECADE = 3
NUDGE_SAMPLES = 1000  # training images whose nudged phases measure the trained network's signal
POINTS = "points"
COLUMNS = ("model", "hidden", "dataset", "samples", "seed", "sigma", "bisection", "reading", "precision",
           "epochs", "train_samples", "test_samples", "test_accuracy", "train_accuracy", "first_test_accuracy",
           "best_test_accuracy", "nudge_hidden", "nudge_output", "seconds", "key")
CURVE_COLUMNS = ("model", "dataset", "samples", "seed", "sigma", "epoch", "train_accuracy", "test_accuracy", "key")
CRITICAL_COLUMNS = ("model", "dataset", "samples", "keep", "sigma_c", "log10_std", "sigma_c_min", "sigma_c_max",
                    "seeds", "estimated", "below_grid", "above_grid", "noise_free_accuracy", "noise_free_sem",
                    "best_sigma", "best_accuracy", "best_sem", "gain", "gain_z", "nudge_hidden", "sigma_c_per_nudge")


@dataclass(frozen=True)
class Study:
    """What every point of a study shares; a folder keeps one Study (extending it adds points, not settings)."""

    epochs: int = 3
    train_samples: int | None = None
    test_samples: int | None = None
    reading: str | None = None  # None: the model's own setting
    precision: str | None = None

    def overrides(self) -> dict:
        """The Config settings this study fixes."""
        return {k: v for k, v in (("epochs", self.epochs), ("reading", self.reading),
                                  ("precision", self.precision)) if v is not None}


@dataclass(frozen=True)
class Point:
    """One training run of the grid. `model` is a preset name or a TOML file; `bisection` is the round of the
    refinement of sigma_c that added the point (0: the grid)."""

    model: str
    dataset: str
    sigma: float
    samples: int
    seed: int
    bisection: int = 0

    @property
    def label(self) -> str:
        """The model's name in tables: the preset, or the config file's stem."""
        return Path(self.model).stem if self.model.endswith(".toml") else self.model

    @property
    def key(self) -> str:
        """A file-name-safe identity (the bisection round is not part of it: a point is a point)."""
        return f"{self.label}_{self.dataset}_N{self.samples}_seed{self.seed}_sigma{self.sigma:.6e}"


def point_config(study: Study, point: Point, data_dir: str | None = None) -> Config:
    """The full config of a point."""
    toml = point.model.endswith(".toml")
    overrides = {**study.overrides(), "dataset": point.dataset, "data_dir": data_dir, "sigma": point.sigma,
                 "samples": point.samples, "seed": point.seed}
    return config.load(None if toml else point.model, point.model if toml else None, overrides)


def sigma_grid(low: float, high: float, per_decade: int) -> list[float]:
    """0 (the noise-free reference) and log-spaced sigmas from low to high, to 3 significant digits."""
    config.require(0 < low < high, f"sigma range: need 0 < min < max, got {low:g} and {high:g}")
    config.require(per_decade >= 1, f"points per decade must be >= 1, got {per_decade}")
    n = max(2, round(math.log10(high / low) * per_decade) + 1)
    return [0.0] + sorted({float(f"{s:.3g}") for s in np.logspace(math.log10(low), math.log10(high), n)})


def grid(study: Study, models: list[str], datasets: list[str], sigmas: list[float], samples: list[int],
         seeds: list[int], data_dir: str | None = None) -> list[Point]:
    """Every combination, each config checked before any work starts; sigma 0 is always included."""
    for name, axis in (("models", models), ("datasets", datasets), ("sigmas", sigmas), ("N", samples),
                       ("seeds", seeds)):
        config.require(bool(axis), f"sweep noise: the {name} axis needs at least one value")
    config.require(min(sigmas) >= 0, "sweep noise: sigma values must be >= 0")
    sigmas = sorted(set(sigmas) | {0.0})
    # Without noise N changes nothing: one noise-free run (stored as N = 1) serves every N.
    points = [Point(m, d, s, n if s > 0 else 1, seed) for m in models for d in datasets for n in samples
              for seed in seeds for s in sigmas]
    points = list(dict.fromkeys(points))
    for m in models:
        for d in datasets:
            for n in samples:
                point_config(study, Point(m, d, sigmas[-1], n, seeds[0]), data_dir)
    return points


@functools.lru_cache(maxsize=2)
def _dataset(name: str, data_dir: str | None, train_samples: int | None, test_samples: int | None) -> Dataset:
    """A worker's dataset, read once for every point it runs (the arrays are read-only)."""
    return head(load_dataset(name, data_dir, progress=False), train_samples, test_samples)


def run_point(task: tuple[Study, Point, str | None]) -> dict:
    """Train one point (in a Dask worker or this process) and return its metrics.json, with the point."""
    study, point, data_dir = task
    started = time.perf_counter()
    cfg = point_config(study, point, data_dir)
    data = _dataset(cfg.dataset, cfg.data_dir, study.train_samples, study.test_samples)
    model = golden_executor(cfg)
    metrics = train(cfg, data, model, None, "golden", progress=False, log=lambda _: None)  # no checkpoint
    if hasattr(model, "nudge"):  # the float model: the signal scale of the trained network
        probe = np.arange(min(NUDGE_SAMPLES, len(data.train_y)))
        metrics["nudge"] = model.nudge(data.train_x, data.train_y, probe)
    metrics["point"] = {**dataclasses.asdict(point), "label": point.label, "key": point.key}
    metrics["seconds"] = round(time.perf_counter() - started, 3)
    return metrics


def _comparable(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "data_dir"}


def load_study(out: Path) -> Study:
    """The shared settings of the study in `out`; RunError for a folder without one or a damaged study.json."""
    path = out / STUDY
    if not path.exists():
        raise RunError(f"{out} holds no noise study ({STUDY} is missing)")
    try:
        values = json.loads(path.read_text())
        return Study(**values)
    except (ValueError, TypeError, OSError) as e:  # TypeError: JSON that is not an object of Study's settings
        raise RunError(f"{path} is not a study written by host sweep noise ({e})") from None


def open_study(out: Path, study: Study) -> None:
    """Create the folder of a new study, or check that an existing one holds the same shared settings."""
    path = out / STUDY
    if path.exists():
        stored = load_study(out)
        if stored != study:
            diff = ", ".join(f"{k} {getattr(stored, k)} (asked {getattr(study, k)})"
                             for k in dataclasses.asdict(study) if getattr(stored, k) != getattr(study, k))
            raise RunError(f"{out} holds a study with other settings: {diff}; use them or another --out")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out} exists and holds no noise study; choose another --out")
    try:
        (out / POINTS).mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(dataclasses.asdict(study), indent=2) + "\n")
    except OSError as e:
        raise RunError(f"cannot write to output folder {out}: {e.strerror or e}") from None


def load_points(out: Path) -> dict[str, dict]:
    """The finished points of a study folder: {key: metrics}, each checked to make a table row."""
    load_study(out)
    points = {}
    for path in sorted((out / POINTS).glob("*.json")):
        try:
            metrics = json.loads(path.read_text())
            row(metrics)
            points[metrics["point"]["key"]] = metrics
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise RunError(f"{path} is damaged ({e}); delete it and rerun the sweep to redo that point") from None
    return points


def row(metrics: dict) -> dict:
    """The table row of a finished point."""
    p, cfg, epochs = metrics["point"], metrics["config"], metrics["epochs"]
    return {"model": p["label"], "hidden": "-".join(map(str, cfg["hidden"])), "dataset": p["dataset"],
            "samples": p["samples"], "seed": p["seed"], "sigma": p["sigma"], "bisection": int(p["bisection"]),
            "reading": cfg["reading"], "precision": cfg["precision"], "epochs": len(epochs),
            "train_samples": metrics["dataset"]["train_samples"], "test_samples": metrics["dataset"]["test_samples"],
            "test_accuracy": epochs[-1]["test_accuracy"], "train_accuracy": epochs[-1]["train_accuracy"],
            "first_test_accuracy": epochs[0]["test_accuracy"],
            "best_test_accuracy": max(e["test_accuracy"] for e in epochs),
            "nudge_hidden": min(metrics["nudge"][:-1]) if "nudge" in metrics else None,
            "nudge_output": metrics["nudge"][-1] if "nudge" in metrics else None,
            "seconds": metrics["seconds"], "key": p["key"]}


def _csv(rows: Iterable[dict], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def tables(out: Path, keep: float = critical.KEEP, points: dict[str, dict] | None = None) -> dict:
    """Rebuild sweep.csv, curves.csv, critical.csv and sweep.json from the finished points (read from `out`
    unless the caller holds them); return the summary."""
    points = load_points(out) if points is None else points
    rows = sorted((row(m) for m in points.values()),
                  key=lambda r: (r["model"], r["dataset"], r["samples"], r["seed"], r["sigma"]))
    curves = [{**{k: r[k] for k in ("model", "dataset", "samples", "seed", "sigma", "key")}, **e}
              for r in rows for e in points[r["key"]]["epochs"]]
    estimates = critical.estimate(rows, keep)
    summary = {"study": dataclasses.asdict(load_study(out)), "keep": keep, "rows": rows, "curves": curves,
               "critical": estimates, "sqrt_law": critical.sqrt_law(estimates)}
    atomic_write_text(out / "sweep.csv", _csv(rows, COLUMNS))
    atomic_write_text(out / "curves.csv", _csv(curves, CURVE_COLUMNS))
    atomic_write_text(out / "critical.csv", _csv(estimates, CRITICAL_COLUMNS))
    atomic_write_text(out / "sweep.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _store(out: Path, metrics: dict) -> None:
    atomic_write_text(out / POINTS / f"{metrics['point']['key']}.json", json.dumps(metrics, indent=2) + "\n")


def _bisection_points(rows: list[dict], models: dict[str, str], keep: float, round_: int) -> list[Point]:
    """Bisection round `round_` of the groups this sweep covers, from the grid and the earlier rounds only, so
    that a rerun of the same command finds the same points (done) instead of refining further."""
    earlier = [r for r in rows if r["bisection"] < round_]
    return [Point(models[m], d, sigma, n, seed, bisection=round_)
            for (m, d, n), seed, sigma in critical.refinements(earlier, keep) if m in models]


def sweep(study: Study, points: list[Point], out: Path, runner: Runner, refine: int = 3, keep: float = critical.KEEP,
          data_dir: str | None = None, log: Callable[[str], None] = print) -> tuple[dict, list[str]]:
    """Run the points not yet finished in `out`, then `refine` rounds of bisection of each seed's sigma_c;
    store each point as it finishes. Returns the summary and the errors of failed points."""
    open_study(out, study)
    done = load_points(out)
    for p in points:  # a stored point must be the same run, or the table would mix settings
        stored = done.get(p.key)
        if stored and _comparable(stored["config"]) != _comparable(point_config(study, p, data_dir).to_dict()):
            raise RunError(f"{out} holds point {p.key} with other settings (model file changed?); use another --out")
    models = {p.label: p.model for p in points}
    errors: list[str] = []
    todo = [p for p in points if p.key not in done]
    log(f"{len(points) - len(todo)} of {len(points)} grid points already done in {out}")
    for round_ in range(refine + 1):
        if round_ > 0:
            rows = [row(m) for m in done.values()]
            todo = [p for p in _bisection_points(rows, models, keep, round_) if p.key not in done]
            if not todo:
                break
            log(f"bisection round {round_}/{refine}: {len(todo)} points")
        started = time.perf_counter()
        for i, outcome in enumerate(runner.map(run_point, [(study, p, data_dir) for p in todo]), 1):
            p = outcome.item[1]
            if outcome.error is not None:
                errors.append(f"{p.key}: {outcome.error}")
                log(f"  [{i}/{len(todo)}] {p.key} FAILED: {outcome.error}")
                continue
            _store(out, outcome.result)
            done[p.key] = outcome.result
            r = row(outcome.result)
            log(f"  [{i}/{len(todo)}] {r['model']} {r['dataset']} N={r['samples']} seed={r['seed']} "
                f"sigma={r['sigma']:<9.3g} test {100 * r['test_accuracy']:6.2f}%  ({r['seconds']:.1f} s; "
                f"{time.perf_counter() - started:.0f} s into the round)")
        summary = tables(out, keep, done)
        if errors:
            break  # a bisection on a grid with holes would refine the wrong brackets
    return summary, errors
