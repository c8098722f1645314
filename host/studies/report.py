"""`host report DIR`: plots (PNG) and a Markdown report of a noise study folder."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from golden.files import atomic_write_bytes, atomic_write_text
from golden.train import RunError
from host.studies import critical
from host.studies.noise import NUDGE_SAMPLES, tables

FIGURES = {"accuracy": "accuracy_vs_sigma.png", "sqrt": "sigma_c_vs_n.png", "curves": "curves.png",
           "models": "sigma_c_vs_model.png"}


def _png(fig) -> bytes:
    plt = pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display), imported on first use: pyplot is slow to
    import and most `host` commands draw nothing."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _panels(keys: list[tuple]) -> tuple:
    plt = pyplot()
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _seed_mean(rows: list[dict], field: str = "test_accuracy") -> dict[float, tuple[float, float, int]]:
    """{sigma: (mean, std, seeds)} over the grid points (bisection points differ per seed)."""
    by: dict[float, list[float]] = defaultdict(list)
    for r in rows:
        if not r["bisection"]:
            by[r["sigma"]].append(r[field])
    return {s: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v)) for s, v in by.items()}


def accuracy_plot(rows: list[dict], estimates: list[dict]) -> bytes:
    """Final test accuracy against sigma, a panel per model and dataset, a line per N, sigma_c marked."""
    keys = sorted({(r["model"], r["dataset"]) for r in rows})
    fig, axes = _panels(keys)
    for ax, (model, dataset) in zip(axes, keys):
        sel = [r for r in rows if (r["model"], r["dataset"]) == (model, dataset)]
        base = _seed_mean([r for r in sel if r["sigma"] == 0]).get(0.0)
        for i, n in enumerate(sorted({r["samples"] for r in sel if r["sigma"] > 0})):
            color = f"C{i}"
            stats = _seed_mean([r for r in sel if r["samples"] == n and r["sigma"] > 0])
            xs = sorted(stats)
            ax.errorbar(xs, [100 * stats[s][0] for s in xs], yerr=[100 * stats[s][1] for s in xs], color=color,
                        marker="o", ms=3, capsize=2, label=f"N = {n}")
            extra = [r for r in sel if r["samples"] == n and r["bisection"]]
            ax.plot([r["sigma"] for r in extra], [100 * r["test_accuracy"] for r in extra], "x", color=color,
                    alpha=0.5, ms=4)
            est = next((e for e in estimates if (e["model"], e["dataset"], e["samples"]) == (model, dataset, n)), None)
            if est and est["sigma_c"]:
                ax.axvline(est["sigma_c"], color=color, linestyle=":", linewidth=1.2)
        if base:
            ax.axhline(100 * base[0], color="k", linestyle="--", linewidth=1, label="no noise")
            ax.axhline(100 * base[0] * (estimates[0]["keep"] if estimates else critical.KEEP), color="0.5",
                       linestyle="-", linewidth=0.6, label="threshold")
        ax.set_xscale("log")
        ax.set_title(f"{model}, {dataset}", fontsize=10)
        ax.set_xlabel("sigma (voltage units)")
        ax.set_ylabel("final test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)


def sqrt_plot(estimates: list[dict], laws: list[dict]) -> bytes:
    """sigma_c against N on log-log axes, a line per model and dataset, with the sqrt(N) law through N = 1."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    keys = sorted({(e["model"], e["dataset"]) for e in estimates if e["sigma_c"]})
    for i, key in enumerate(keys):
        es = sorted((e for e in estimates if (e["model"], e["dataset"]) == key and e["sigma_c"]),
                    key=lambda e: e["samples"])
        ns = np.array([e["samples"] for e in es], dtype=float)
        sc = np.array([e["sigma_c"] for e in es])
        spread = np.array([10 ** (e["log10_std"] or 0.0) for e in es])
        law = next((law for law in laws if (law["model"], law["dataset"]) == key), None)
        label = f"{key[0]}, {key[1]}" + (f" (slope {law['slope']:.2f})" if law else "")
        ax.errorbar(ns, sc, yerr=[sc - sc / spread, sc * spread - sc], marker="o", capsize=3, color=f"C{i}",
                    label=label)
        if law:
            grid = np.geomspace(ns.min(), ns.max(), 20)
            ax.plot(grid, sc[0] * np.sqrt(grid / ns[0]), "--", color=f"C{i}", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("N (measurements averaged per state)")
    _sigma_c_axis(ax, "critical noise against N (dashed: sqrt(N))")
    return _png(fig)


def curves_plot(curves: list[dict], rows: list[dict]) -> bytes:
    """Test accuracy per epoch at several sigma (mean over seeds), a panel per model and dataset at the smallest N."""
    keys = sorted({(r["model"], r["dataset"]) for r in rows})
    fig, axes = _panels(keys)
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    for ax, (model, dataset) in zip(axes, keys):
        sel = [r for r in rows if (r["model"], r["dataset"]) == (model, dataset) and not r["bisection"]]
        n = min(r["samples"] for r in sel)
        sigmas = sorted({r["sigma"] for r in sel if r["samples"] == n or r["sigma"] == 0})
        cmap = plt.get_cmap("viridis")
        for j, sigma in enumerate(sigmas):
            keys_ = {r["key"] for r in sel if r["sigma"] == sigma and (r["samples"] == n or sigma == 0)}
            by_epoch: dict[int, list[float]] = defaultdict(list)
            for c in curves:
                if c["key"] in keys_:
                    by_epoch[c["epoch"]].append(100 * c["test_accuracy"])
            epochs = sorted(by_epoch)
            ax.plot(epochs, [np.mean(by_epoch[e]) for e in epochs], marker="o", ms=3,
                    color="k" if sigma == 0 else cmap(j / max(1, len(sigmas) - 1)),
                    label="no noise" if sigma == 0 else f"sigma {sigma:.3g}")
        ax.set_title(f"{model}, {dataset}, N = {n}", fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2, loc="best")
    return _png(fig)


def models_plot(estimates: list[dict], hidden: dict[str, str]) -> bytes:
    """sigma_c per model (its hidden layers named), a line per dataset and N that more than one model ran."""
    plt = pyplot()
    models = sorted({e["model"] for e in estimates}, key=lambda m: (hidden.get(m, "").count("-"), hidden.get(m, ""), m))
    fig, ax = plt.subplots(figsize=(1.3 * len(models) + 3.5, 4.0))
    for i, key in enumerate(sorted({(e["dataset"], e["samples"]) for e in estimates})):
        pts = [(models.index(e["model"]), e["sigma_c"], 10 ** (e["log10_std"] or 0.0)) for e in estimates
               if (e["dataset"], e["samples"]) == key and e["sigma_c"]]
        if len(pts) > 1:  # a comparison needs two models
            x, y, f = map(np.array, zip(*sorted(pts)))
            ax.errorbar(x, y, yerr=[y - y / f, y * f - y], marker="o", capsize=3, color=f"C{i}",
                        label=f"{key[0]}, N = {key[1]}")
    ax.set_xticks(range(len(models)), [f"{m}\n{hidden.get(m, '')}" for m in models], fontsize=8)
    _sigma_c_axis(ax, "critical noise against architecture (hidden layers)")
    return _png(fig)


def _sigma_c_axis(ax, title: str) -> None:
    """A log axis of sigma_c with its title, grid and legend."""
    ax.set_yscale("log")
    ax.set_ylabel("sigma_c")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def _g(x: float | None, fmt: str = ".3g") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def markdown(summary: dict, figures: list[str]) -> str:
    """The report: settings, sigma_c per model, dataset and N, the sqrt(N) law, the gain near sigma_c."""
    study, keep, rows = summary["study"], summary["keep"], summary["rows"]
    lines = ["# Noise study", "",
             f"{len(rows)} training runs ({sum(r['bisection'] > 0 for r in rows)} of them bisection points); "
             f"{study['epochs']} epoch(s) each; training / test images per run: "
             + ", ".join(f"{d} {n} / {t}" for d, n, t in sorted({(r["dataset"], r["train_samples"], r["test_samples"])
                                                                  for r in rows}))
             + f"; noise reading {', '.join(sorted({r['reading'] for r in rows}))}, "
             f"precision {', '.join(sorted({r['precision'] for r in rows}))}.", "",
             f"sigma_c: per seed, where the final test accuracy first falls below {keep:g} x the seed's noise-free "
             "accuracy (bisection in log sigma, interpolated); across seeds the geometric mean, with the spread "
             "as x/÷ 10^(std of log10 sigma_c) and the range. Hidden nudge: in the noise-free networks after "
             "training, the median of |V+ - V-| / 2 over the active nodes of the hidden layer where it is "
             f"smallest, on {NUDGE_SAMPLES} training images (float model only): the signal the update reads.", "",
             "## Critical noise", "",
             "| model | hidden | dataset | N | sigma_c | spread (x/÷) | range | seeds (estimated / below / above grid) "
             "| noise-free accuracy | hidden nudge | sigma_c / nudge |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    hidden = {r["model"]: r["hidden"] for r in rows}
    for e in summary["critical"]:
        spread = _g(10 ** e["log10_std"], ".2f") if e["log10_std"] is not None else "-"
        lines.append(f"| {e['model']} | {hidden.get(e['model'], '')} | {e['dataset']} | {e['samples']} "
                     f"| {_g(e['sigma_c'])} | {spread} | {_g(e['sigma_c_min'])} - {_g(e['sigma_c_max'])} "
                     f"| {e['seeds']} ({e['estimated']} / {e['below_grid']} / {e['above_grid']}) "
                     f"| {100 * e['noise_free_accuracy']:.2f}% ± {100 * e['noise_free_sem']:.2f} "
                     f"| {_g(e.get('nudge_hidden'))} | {_g(e.get('sigma_c_per_nudge'), '.1f')} |")
    if summary["sqrt_law"]:
        lines += ["", "## sqrt(N) law", "", "Least-squares slope of log sigma_c against log N (the paper: 0.5).", "",
                  "| model | dataset | N | slope | ± (std. error) | sigma_c at N = 1 (fit) |",
                  "|---|---|---|---|---|---|"]
        for law in summary["sqrt_law"]:
            lines.append(f"| {law['model']} | {law['dataset']} | {', '.join(map(str, law['samples']))} "
                         f"| {law['slope']:.3f} | {_g(law['slope_se'], '.3f')} | {_g(law['sigma_c_at_1'])} |")
    lines += ["", "## Accuracy with noise below sigma_c", "",
              "The best mean final test accuracy over the grid sigmas at or below sigma_c, against the noise-free "
              "runs (means over seeds ± standard error; z = gain / combined standard error; the maximum over "
              "several sigmas favours a positive gain, so read z > 2 as a hint, not a proof).", "",
              "| model | dataset | N | noise-free | best sigma | accuracy there | gain (points) | z |",
              "|---|---|---|---|---|---|---|---|"]
    for e in summary["critical"]:
        if e["best_sigma"] is None:
            continue
        lines.append(f"| {e['model']} | {e['dataset']} | {e['samples']} | {100 * e['noise_free_accuracy']:.2f}% "
                     f"| {e['best_sigma']:.3g} | {100 * e['best_accuracy']:.2f}% ± {100 * e['best_sem']:.2f} "
                     f"| {100 * e['gain']:+.2f} | {_g(e['gain_z'], '.1f')} |")
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def report(out: Path, keep: float = critical.KEEP, summary: dict | None = None) -> list[Path]:
    """Draw the figures of `out` and write report.md (from `summary`, else from the tables rebuilt from its
    points); returns the files written."""
    summary = summary or tables(out, keep)
    rows, estimates = summary["rows"], summary["critical"]
    if not rows:
        raise RunError(f"{out} holds no finished point yet")
    figures = {FIGURES["accuracy"]: accuracy_plot(rows, estimates),
               FIGURES["curves"]: curves_plot(summary["curves"], rows)}
    if summary["sqrt_law"]:
        figures[FIGURES["sqrt"]] = sqrt_plot(estimates, summary["sqrt_law"])
    if len({e["model"] for e in estimates if e["sigma_c"]}) > 1:
        figures[FIGURES["models"]] = models_plot(estimates, {r["model"]: r["hidden"] for r in rows})
    written = []
    for name, png in figures.items():
        atomic_write_bytes(out / name, png)
        written.append(out / name)
    atomic_write_text(out / "report.md", markdown(summary, list(figures)))
    return [*written, out / "report.md"]
