"""`host hdl bench`: the EP core training real MNIST samples in an RTL simulation, timed (host/flows/core_bench_tb.py)."""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from golden import datasets
from golden.fixed_ep import FixedEP
from golden.fixed_formats import lr_codes
from golden.prng import seed_lanes
from hdl.core import CoreMode, EPCore
from hdl.generate import TOP, TYPICAL_IMAGES
from hdl.relax import SweepOrder
from sim.build import SimBuild, run_folder

PERIOD_NS = 10  # the testbench's clock period


def bench_params(core: EPCore, samples: int) -> dict:
    """The testbench's parameters: golden FixedEP's initial codes, seeds and rates (epoch 0), the first
    `samples` training images and labels of TYPICAL_IMAGES, the run-time settings of the config."""
    cfg, c = core.cfg, core.consts
    data = datasets.load(TYPICAL_IMAGES, progress=False)
    k_w, _, k_b, _ = lr_codes(cfg, c, 0)
    return {"theta": [int(v) for v in FixedEP(cfg).theta], "seeds": [int(s) for s in seed_lanes(cfg.seed, 0, c.lanes)],
            "k_w": [int(k) for k in k_w[1:]], "k_b": [int(k) for k in k_b[1:]], "beta_g": c.beta_g, "sn": c.sn, "samples": cfg.samples,
            "nsweeps": cfg.sweeps, "order": SweepOrder[cfg.order.upper()].value,
            "centered": int(cfg.variant == "centered"), "warm_start": int(cfg.warm_start),
            "images": data.train_x[:samples].tolist(), "labels": data.train_y[:samples].tolist(),
            "modes": {"TRAIN": CoreMode.TRAIN.value, "LOAD": CoreMode.LOAD.value}}


def golden_hits(core: EPCore, params: dict) -> list[int]:
    """FixedEP's hit (free-phase prediction right) for each bench sample, trained one by one from the same start."""
    ep = FixedEP(core.cfg)
    ep.begin_epoch(0)
    x, y = np.array(params["images"], np.uint8), np.array(params["labels"])
    return [ep.train(x, y, np.array([t])) for t in range(len(y))]


def bench(core: EPCore, simulator: str, samples: int, pgo: bool = True) -> dict:
    """Build `core` for `simulator` (a fast Verilator build, profile-guided unless `pgo` is False), train it
    on `samples` MNIST samples, print the figures and one JSON line, and return them."""
    cfg, c = core.cfg, core.consts
    params = bench_params(core, samples)
    case = f"{TOP}-bench-{core.build.name}"
    # Verilator: the clock in the Verilog (a GPI clock's callbacks per edge would be a quarter of the time).
    hdl_clock = simulator == "verilator"
    pgo = pgo and simulator == "verilator"

    def profile(build: SimBuild) -> None:
        """The profiling run: the same bench on its first sample (parameter port, LOAD, one TRAIN)."""
        # part of the build (made under its lock, like the counts it writes): its files stay with the build
        build.run("host.flows.core_bench_tb", {**params, "images": params["images"][:1], "labels": params["labels"][:1],
                                    "results": str(build.folder / "profile.measured.json"),
                                    "period_ns": PERIOD_NS, "hdl_clock": hdl_clock}, name="profile", folder=build.folder)

    start = time.perf_counter()
    build = SimBuild.create(core, toplevel=TOP, case=case, simulator=simulator, fast=True,
                            clock_ns=PERIOD_NS if hdl_clock else None, profile=profile if pgo else None)
    build_seconds = time.perf_counter() - start
    with run_folder("bench") as private:
        results = private / "bench.measured.json"
        start = time.perf_counter()
        build.run("host.flows.core_bench_tb", {**params, "results": str(results), "period_ns": PERIOD_NS,
                                               "hdl_clock": hdl_clock}, name="bench", folder=private)
        run_seconds = time.perf_counter() - start
        got = json.loads(results.read_text())

    centered = cfg.variant == "centered"
    nonzero = [int(np.count_nonzero(c.vin_table[np.array(img)])) for img in params["images"]]
    formula = [core.build.train_cycles(k, cfg.sweeps, c.sn, cfg.samples, centered) for k in nonzero]
    bound = [core.build.lower_bound(k, cfg.sweeps, centered) for k in nonzero]
    train = got["train"]
    rates = [t["free_cycles"] / t["free_seconds"] for t in train]
    cpu_rates = [t["free_cycles"] / t["free_cpu_seconds"] for t in train]
    measured = [t["cycles"] for t in train]
    result = {
        "bench": "core", "simulator": build.simulator, "model": cfg.model, "sizes": core.sizes, "lanes": core.lanes,
        "g_bits": c.g_bits, "samples": samples, "pgo": pgo, "clock_gating": core.clock_gating,
        "build_seconds": round(build_seconds, 1),
        "run_seconds": round(run_seconds, 1), "params_words": len(params["theta"]),
        "params_seconds": round(got["params_seconds"], 2),
        "load_cycles": got["load"]["cycles"], "load_cycles_formula": core.build.load_cycles(),
        "train_cycles": measured, "train_cycles_formula": formula, "lower_bound": bound,
        "train_over_lower_bound": round(statistics.median(m / b for m, b in zip(measured, bound)), 3),
        "nonzero_pixels": nonzero,
        "free_cycles_per_second": round(statistics.median(rates)),
        "free_cycles_per_cpu_second": round(statistics.median(cpu_rates)),
        "free_share": round(sum(t["free_cycles"] for t in train) / sum(measured), 3),
        "stream_seconds_per_sample": round(statistics.median(t["stream_seconds"] for t in train), 3),
        "hits": [t["hit"] for t in train], "golden_hits": golden_hits(core, params),
    }
    print(f"{TOP} {cfg.model} {core.sizes}, P = {core.lanes}, g {c.g_bits} bits on {build.simulator}"
          f"{' (profile-guided C++)' if pgo else ''}{', idle lane units clock-gated' if core.clock_gating else ''}"
          f": build {result['build_seconds']} s (Verilog conversion "
          f"included{', and the profiling run when the design changed' if pgo else ''}), run {result['run_seconds']} s")
    print(f"  parameters: {result['params_words']:,} words, one per cycle from Python, {result['params_seconds']} s; "
          f"LOAD {result['load_cycles']:,} cycles (formula {result['load_cycles_formula']:,})")
    print(f"  TRAIN cycles per sample: measured {measured}, formula {formula} "
          f"({'equal' if measured == formula else 'DIFFERENT'}); lower bound (MACs / P) {bound}: "
          f"{result['train_over_lower_bound']}x (median)")
    print(f"  free-running (last pixel to done, {100 * result['free_share']:.1f}% of the cycles): "
          f"{result['free_cycles_per_second'] / 1e6:.3f} M cycles/s, {result['free_cycles_per_cpu_second'] / 1e6:.3f} M "
          f"per CPU second of the simulator (medians over {samples} samples); "
          f"the 784-pixel stream, Python per cycle: {result['stream_seconds_per_sample']} s per sample")
    print(f"  hits {result['hits']}, golden {result['golden_hits']} "
          f"({'equal' if result['hits'] == result['golden_hits'] else 'DIFFERENT'})")
    print(json.dumps(result))
    return result
