"""Critical noise sigma_c of a noise sweep: the estimator, its spread over seeds, the sqrt(N) law, the gain near it.

Definition (docs/results.md): for one seed, sigma_c is where the final test accuracy first falls below
`keep` times the seed's own noise-free accuracy, going up the sigma grid. The bracket is the largest
passing sigma below the first failing one; `host sweep noise --refine K` halves it K times in log sigma
(bisection), and the estimate interpolates the accuracy linearly in log sigma inside the last bracket.
Across seeds, sigma_c is the geometric mean and its spread the standard deviation of log10 sigma_c.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np

KEEP = 0.9  # default: sigma "is tolerated" while the accuracy stays >= 90% of the noise-free accuracy
GROUP = ("model", "dataset", "samples")  # a sigma_c is estimated per model, dataset and N
MIN_RATIO = 1.02  # brackets narrower than 2% in sigma are not refined further


@dataclass(frozen=True)
class Bracket:
    """One seed's crossing of the threshold: lo passes (0 when the smallest noisy sigma fails already),
    hi fails (None when no sigma of the grid fails)."""

    lo: float
    hi: float | None
    acc_lo: float
    acc_hi: float | None
    threshold: float

    @property
    def estimate(self) -> float | None:
        """sigma_c, interpolated in log sigma; None when the crossing is outside the grid."""
        if self.hi is None or self.lo <= 0:
            return None
        if self.acc_lo == self.acc_hi:
            return math.sqrt(self.lo * self.hi)
        t = (self.acc_lo - self.threshold) / (self.acc_lo - self.acc_hi)
        return float(math.exp(math.log(self.lo) + min(max(t, 0.0), 1.0) * math.log(self.hi / self.lo)))

    @property
    def censored(self) -> str:
        """'' for an estimate inside the grid, 'below' or 'above' the grid otherwise."""
        return "above" if self.hi is None else "below" if self.lo <= 0 else ""


def bracket(curve: Iterable[tuple[float, float]], keep: float = KEEP) -> Bracket | None:
    """The bracket of one seed from its (sigma, final test accuracy) points; None without a sigma = 0 point."""
    points = sorted(curve)
    base = [acc for sigma, acc in points if sigma == 0]
    if not base:
        return None
    threshold = keep * base[0]
    lo, acc_lo = 0.0, base[0]
    for sigma, acc in points:
        if sigma == 0:
            continue
        if acc < threshold:
            return Bracket(lo, sigma, acc_lo, acc, threshold)
        lo, acc_lo = sigma, acc
    return Bracket(lo, None, acc_lo, None, threshold)


def _groups(rows: Iterable[dict]) -> dict[tuple, dict[int, list[tuple[float, float]]]]:
    """rows -> {(model, dataset, samples): {seed: [(sigma, test accuracy)]}}."""
    out: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    rows = list(rows)
    for r in rows:
        if r["sigma"] > 0:
            out[tuple(r[k] for k in GROUP)][r["seed"]].append((r["sigma"], r["test_accuracy"]))
    for r in rows:  # the noise-free run does not depend on N: one run is every N group's reference
        if r["sigma"] == 0:
            for group, seeds in out.items():
                if group[:2] == (r["model"], r["dataset"]) and r["seed"] in seeds:
                    seeds[r["seed"]].append((0.0, r["test_accuracy"]))
    return out


def refinements(rows: Iterable[dict], keep: float = KEEP) -> list[tuple[tuple, int, float]]:
    """The next bisection points: (group, seed, sigma) at the geometric middle of every seed's bracket."""
    todo = []
    for group, seeds in sorted(_groups(rows).items()):
        for seed, curve in sorted(seeds.items()):
            b = bracket(curve, keep)
            if b is not None and b.hi is not None and b.lo > 0 and b.hi / b.lo > MIN_RATIO:
                todo.append((group, seed, float(f"{math.sqrt(b.lo * b.hi):.6g}")))
    return todo


def _mean_sem(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0


def estimate(rows: list[dict], keep: float = KEEP) -> list[dict]:
    """Per (model, dataset, N): sigma_c across seeds, its spread, the best accuracy with noise below it, and
    sigma_c in units of the noise-free network's hidden nudge (the signal the update reads; float model only)."""
    nudges: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r["sigma"] == 0 and r.get("nudge_hidden"):
            nudges[(r["model"], r["dataset"])].append(r["nudge_hidden"])
    out = []
    for group, seeds in sorted(_groups(rows).items()):
        brackets = {seed: bracket(curve, keep) for seed, curve in sorted(seeds.items())}
        brackets = {s: b for s, b in brackets.items() if b is not None}
        if not brackets:
            continue
        values = [b.estimate for b in brackets.values() if b.estimate is not None]
        logs = np.log10(values) if values else np.array([])
        entry = dict(zip(GROUP, group))
        entry.update({
            "keep": keep, "seeds": len(brackets), "estimated": len(values),
            "below_grid": sum(b.censored == "below" for b in brackets.values()),
            "above_grid": sum(b.censored == "above" for b in brackets.values()),
            "sigma_c": float(10 ** logs.mean()) if values else None,
            "log10_std": float(logs.std(ddof=1)) if len(values) > 1 else None,
            "sigma_c_min": float(min(values)) if values else None,
            "sigma_c_max": float(max(values)) if values else None,
            "per_seed": {str(s): b.estimate for s, b in brackets.items()},
        })
        entry.update(_noise_gain(seeds, entry["sigma_c"]))
        scale = nudges.get(group[:2])
        entry["nudge_hidden"] = float(np.exp(np.mean(np.log(scale)))) if scale else None
        entry["sigma_c_per_nudge"] = entry["sigma_c"] / entry["nudge_hidden"] \
            if entry["sigma_c"] and entry["nudge_hidden"] else None
        out.append(entry)
    return out


def _noise_gain(seeds: dict[int, list[tuple[float, float]]], sigma_c: float | None) -> dict:
    """Noise-free accuracy against the best grid sigma at or below sigma_c (the seeds' mean at each sigma)."""
    by_sigma: dict[float, list[float]] = defaultdict(list)
    for curve in seeds.values():
        for sigma, acc in curve:
            by_sigma[sigma].append(acc)
    base, base_sem = _mean_sem(by_sigma[0.0]) if by_sigma.get(0.0) else (float("nan"), 0.0)
    shared = [s for s, accs in by_sigma.items() if 0 < s and (sigma_c is None or s <= sigma_c)
              and len(accs) == len(seeds)]  # only sigmas every seed ran: bisection points differ per seed
    result = {"noise_free_accuracy": base, "noise_free_sem": base_sem, "best_sigma": None,
              "best_accuracy": None, "best_sem": None, "gain": None, "gain_z": None}
    if not shared:
        return result
    best = max(shared, key=lambda s: _mean_sem(by_sigma[s])[0])
    acc, sem = _mean_sem(by_sigma[best])
    spread = math.hypot(sem, base_sem)
    result.update({"best_sigma": best, "best_accuracy": acc, "best_sem": sem, "gain": acc - base,
                   "gain_z": (acc - base) / spread if spread > 0 else None})
    return result


def sqrt_law(estimates: list[dict]) -> list[dict]:
    """Per (model, dataset): the least-squares slope of log sigma_c against log N (the paper: 1/2)."""
    out = []
    by_model: dict[tuple, list[dict]] = defaultdict(list)
    for e in estimates:
        if e["sigma_c"] is not None:
            by_model[(e["model"], e["dataset"])].append(e)
    for (model, dataset), es in sorted(by_model.items()):
        ns = sorted({e["samples"] for e in es})
        if len(ns) < 2:
            continue
        x = np.log([e["samples"] for e in es])
        y = np.log([e["sigma_c"] for e in es])
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (slope * x + intercept)
        se = math.sqrt(resid @ resid / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean()))) if len(x) > 2 else None
        out.append({"model": model, "dataset": dataset, "samples": ns, "slope": float(slope), "slope_se": se,
                    "sigma_c_at_1": float(math.exp(intercept))})
    return out
