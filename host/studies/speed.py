"""Benchmarks that print figures: golden-model training throughput against GEMM; a noise sweep on Dask against serial."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numba as nb
import numpy as np

from golden import config
from golden.datasets import load as load_dataset
from golden.network import Layout
from golden.train import golden_executor
from host.studies import noise
from host.studies.runner import Runner

# PyTorch reference of this algorithm on this machine kind (issue 2): seconds per 60,000-sample epoch
REFERENCE_EPOCH_SECONDS = {"drn-xs": 71.0, "drn-1h": 534.0}


def min_flops_per_sample(cfg: config.Config) -> dict[str, int]:
    """Fewest FLOPs (2 per multiply-add) one training sample needs, by part.

    input: the clamped input projected once, over all 2*784 input nodes (dense, as defined);
    relaxation: every sweep of every phase uses each free-free conductance matrix twice
    (once for the layer below, once for the layer above); gradient: one matrix product per
    weight layer (the product of the two phases' states, computed as one stacked product).
    """
    layout = Layout.of(cfg.sizes)
    s = [int(v) for v in layout.sizes]
    phases = 3 if cfg.variant == "centered" else 2
    pairs = sum(s[l - 1] * s[l] for l in range(2, len(s)))
    return {"input": 2 * s[0] * s[1], "relaxation": 2 * phases * cfg.sweeps * 2 * pairs,
            "gradient": 2 * (s[0] * s[1] + pairs)}


@nb.njit(cache=True)
def _gemm_loop(a, b, out, reps):
    for _ in range(reps):
        np.dot(a, b, out)


def gemm_gflops(m: int, k: int, n: int, repeats: int) -> float:
    """Median float32 GEMM throughput (GFLOP/s) of the BLAS the kernels call, at shape (m,k) @ (k,n)."""
    rng = np.random.default_rng(0)
    a = rng.random((m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    reps = max(1, int(2e9 / (2 * m * k * n)))  # about a second of work per timing
    _gemm_loop(a, b, out, 1)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        _gemm_loop(a, b, out, reps)
        times.append((time.perf_counter() - t) / reps)
    return 2 * m * k * n / float(np.median(times)) / 1e9


def training_rate(model: str, samples: int, repeats: int, precision: str = "float") -> float:
    """Median training samples/s of a preset (float32, or fixed point without momentum) on the bundled subset's images."""
    overrides = {"dtype": "float32", "precision": precision}
    if precision == "fixed":
        overrides["momentum"] = 0.0
    cfg = config.load(model, overrides=overrides)
    data = load_dataset("mnist-subset", progress=False)
    idx = np.random.default_rng(0).integers(0, len(data.train_y), samples)
    ep = golden_executor(cfg)
    ep.train(data.train_x, data.train_y, idx[: 4 * cfg.batch_size])  # compile / load the kernel cache
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        ep.train(data.train_x, data.train_y, idx)
        rates.append(samples / (time.perf_counter() - t))
    return float(np.median(rates))


def golden(repeats: int = 5, quick: bool = False) -> dict:
    """Print and return float32 and fixed-point training samples/s, GEMM GFLOP/s and the fraction reached.

    The GEMM figure is one measurement at DRN-1H's input-layer shape (32x1568 @ 1568x1024), the
    shape at which this machine's BLAS is efficient; DRN-XS's own tiny products run slower.
    """
    shape = (32, 1568, 1024)
    gemm = gemm_gflops(*shape, repeats)
    result = {"bench": "golden", "dtype": "float32", "cores": len(os.sched_getaffinity(0)),
              "gemm_shape": list(shape), "gemm_gflops": round(gemm, 1), "models": {}}
    print(f"float32 training throughput ({repeats} repeats, medians; {result['cores']} cores)")
    print(f"  GEMM: {gemm:.1f} GFLOP/s at {shape[0]}x{shape[1]} @ {shape[1]}x{shape[2]}")
    for model, samples in (("drn-xs", 20000), ("drn-1h", 4096)):
        cfg = config.load(model)
        if quick:
            samples //= 8
        parts = min_flops_per_sample(cfg)
        flops = sum(parts.values())
        rate = training_rate(model, samples, repeats)
        fixed = training_rate(model, samples // 2, repeats, "fixed")
        fraction = rate * flops / 1e9 / gemm
        ref = REFERENCE_EPOCH_SECONDS[model]
        row = {"samples_per_second": round(rate, 1), "epoch_seconds": round(60000 / rate, 2),
               "min_flop_per_sample": flops, "flop_parts": parts, "gemm_fraction": round(fraction, 3),
               "speedup_vs_pytorch_reference": round(ref * rate / 60000, 1),
               "fixed_samples_per_second": round(fixed, 1), "fixed_vs_float": round(fixed / rate, 3)}
        result["models"][model] = row
        print(f"  {model}: {rate:9.0f} samples/s  ({row['epoch_seconds']:.2f} s per 60k epoch, "
              f"{row['speedup_vs_pytorch_reference']:.0f}x the PyTorch reference's {ref:.0f} s)")
        print(f"          {flops / 1e6:.2f} MFLOP/sample minimum -> {rate * flops / 1e9:.1f} GFLOP/s = "
              f"{100 * fraction:.0f}% of GEMM")
        print(f"          fixed point: {fixed:9.0f} samples/s ({fixed / rate:.2f} of float32; online"
              f" relaxation, batch-summed updates, no momentum)")
    print(json.dumps(result))
    return result


def sweep(points: int = 8, workers: int = 2, repeats: int = 1, epochs: int = 30) -> dict:
    """Print and return the wall time of a noise sweep of `points` points run serially in this process and on a
    local Dask cluster of `workers` processes (cluster start included), and their ratio (medians of `repeats`).

    The points are DRN-XS on the bundled subset (5,000 training images, `epochs` epochs each, a few
    seconds of training per point); both runs must give the same accuracies, point for point.
    """
    study = noise.Study(epochs=epochs)
    grid = noise.grid(study, ["drn-xs"], ["mnist-subset"], [float(s) for s in np.geomspace(1e-4, 1e-1, points - 1)],
                      [1], [0])
    load_dataset("mnist-subset", progress=False)
    times: dict[str, list[float]] = {"serial": [], "dask": []}
    work: dict[str, list[float]] = {"serial": [], "dask": []}  # the points' own durations, summed
    tables = {}
    print(f"noise sweep of {len(grid)} points (drn-xs, bundled subset, {epochs} epochs each): serially in this "
          f"process, then on a local Dask cluster of {workers} workers (start-up included); {repeats} repeat(s)")
    for _ in range(repeats):
        for mode in ("serial", "dask"):
            with tempfile.TemporaryDirectory(prefix="epfpga-bench-") as tmp:
                started = time.perf_counter()
                with Runner(workers=workers, serial=mode == "serial") as runner:
                    summary, errors = noise.sweep(study, grid, Path(tmp) / "study", runner, refine=0,
                                                  log=lambda _: None)
                times[mode].append(time.perf_counter() - started)
                if errors:
                    raise RuntimeError(f"bench sweep: {errors[0]}")
                tables[mode] = {r["key"]: r["test_accuracy"] for r in summary["rows"]}
                work[mode].append(sum(r["seconds"] for r in summary["rows"]))
            print(f"  {mode:6s}: {times[mode][-1]:6.1f} s")
    serial, dask = float(np.median(times["serial"])), float(np.median(times["dask"]))
    slowdown = float(np.median(work["dask"]) / np.median(work["serial"]))
    same = tables["serial"] == tables["dask"]
    result = {"bench": "sweep", "points": len(grid), "workers": workers, "cores": len(os.sched_getaffinity(0)),
              "epochs": epochs, "serial_seconds": round(serial, 2), "dask_seconds": round(dask, 2),
              "ratio": round(dask / serial, 3), "point_slowdown_in_parallel": round(slowdown, 3),
              "identical_results": same}
    print(f"  dask / serial = {dask / serial:.3f} (target <= 0.6); identical accuracies point for point: "
          f"{'yes' if same else 'NO'}")
    print(f"  a point takes {slowdown:.2f}x as long on the cluster as alone (the workers share the machine: "
          f"{slowdown / 2:.3f} is the ratio's floor without any Dask overhead)")
    print(json.dumps(result))
    return result
