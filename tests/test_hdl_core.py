# amaranth: UnusedElaboratable=no
"""The EP core (hdl/core.py) against golden FixedEP.train / predict, sample by sample, in Amaranth's simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from golden import config, datasets
from golden.fixed_ep import FixedEP, measure, project, relax
from hdl.core import CoreMode, EPCore, TraceKind
from hdl.layout import DEFAULT_DEPTH
from hdl.plan import CoreBuild
from hdl.relax import SweepOrder

MNIST = datasets.load("mnist-subset", progress=False)
ORDERS = {"alternating": SweepOrder.ALTERNATING, "forward": SweepOrder.FORWARD, "backward": SweepOrder.BACKWARD}


def model(hidden: list[int], **values: object) -> FixedEP:
    """A fixed-point golden model of a 1568-hidden-10 network trained online."""
    lrs = [0.05] * (len(hidden) + 1)
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0, "hidden": hidden,
                                                 "batch_size": 1, "lr_weights": lrs, "lr_biases": lrs, **values},
                       "test").validate()
    return FixedEP(cfg)


def run_core(dut: EPCore, ep: FixedEP, train: list[int], infer: list[int]) -> dict:
    """Load theta and seeds, LOAD, TRAIN on `train` (reading back theta, S0, pred, hit, cycles and the trace
    each time), INFER."""
    c, cfg = ep.consts, ep.cfg
    out: dict = {"train": [], "infer": []}
    trace: list = []

    async def collect(ctx) -> None:
        while True:
            await ctx.tick()
            if ctx.get(dut.trace_valid):
                mask = ctx.get(dut.trace_mask)
                trace.append((TraceKind(ctx.get(dut.trace_kind)), ctx.get(dut.trace_phase), ctx.get(dut.trace_sweep),
                              ctx.get(dut.trace_layer), ctx.get(dut.trace_index), mask,
                              [ctx.get(dut.trace_data[p]) for p in range(dut.lanes) if mask >> p & 1]))
    theta0 = [int(v) for v in ep.theta]
    seeds = [int(s) for s in ep._state]
    X, Y = MNIST.train_x, MNIST.train_y

    async def command(ctx, mode: CoreMode, image=None, label: int = 0) -> None:
        ctx.set(dut.mode, mode)
        ctx.set(dut.label, label)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        k = 0
        ctx.set(dut.pix_valid, image is not None)
        for _ in range(1_000_000):
            if image is not None and k < len(image):
                ctx.set(dut.pix_data, int(image[k]))
                if ctx.get(dut.pix_ready):
                    k += 1
            if ctx.get(dut.done):
                break
            await ctx.tick()
        else:
            raise AssertionError("no done")
        ctx.set(dut.pix_valid, 0)
        await ctx.tick()
        assert not ctx.get(dut.busy)

    async def bench(ctx) -> None:
        ctx.set(dut.param_we, 1)
        for a, v in enumerate(theta0):
            ctx.set(dut.param_addr, a)
            ctx.set(dut.param_wdata, v)
            await ctx.tick()
        ctx.set(dut.param_we, 0)
        await ctx.tick()  # the last write lands
        ctx.set(dut.seed_load, 1)
        for q, s in enumerate(seeds):
            ctx.set(dut.seed_lane, q)
            ctx.set(dut.seed_data, s)
            await ctx.tick()
        ctx.set(dut.seed_load, 0)
        ctx.set(dut.beta_g, c.beta_g)
        ctx.set(dut.sn, c.sn)
        ctx.set(dut.samples, cfg.samples)
        for l in range(dut.top):
            ctx.set(dut.k_w[l], int(ep._k_w[l + 1]))
            ctx.set(dut.k_b[l], int(ep._k_b[l + 1]))
        ctx.set(dut.order, ORDERS[cfg.order])
        ctx.set(dut.centered, cfg.variant == "centered")
        ctx.set(dut.warm_start, cfg.warm_start)
        await command(ctx, CoreMode.LOAD)
        out["load_cycles"] = ctx.get(dut.cycles)
        ctx.set(dut.nsweeps, cfg.sweeps)
        for t in train:
            trace.clear()
            await command(ctx, CoreMode.TRAIN, X[t], int(Y[t]))
            rec = {"pred": ctx.get(dut.pred), "hit": ctx.get(dut.hit), "cycles": ctx.get(dut.cycles),
                   "flags": ctx.get(dut.recip_saturations), "trace": list(trace)}
            theta = []
            for a in range(dut.n_params):
                ctx.set(dut.param_raddr, a)
                await ctx.tick().repeat(2)
                theta.append(ctx.get(dut.param_rdata))
            state = []
            for a in range(dut.n_free):
                ctx.set(dut.state_raddr, a)
                await ctx.tick()
                state.append(ctx.get(dut.state_rdata))
            rec.update(theta=theta, state=state)
            out["train"].append(rec)
        ctx.set(dut.nsweeps, cfg.sweeps_eval)
        for t in infer:
            await command(ctx, CoreMode.INFER, X[t])
            out["infer"].append((ctx.get(dut.pred), ctx.get(dut.cycles)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(collect, background=True)
    sim.run()
    return out


def golden_trace(ep: FixedEP, lanes: int, image: np.ndarray, label: int) -> tuple[list, dict]:
    """The trace entries of a TRAIN of `image` from golden's state before `ep.train`: one relax call per
    layer update (a sweep is its layers' updates in sweep order), measure on a copy of the noise lanes;
    and the states and measurements they end with (to check against ep.train's buffers)."""
    c, cfg, lay = ep.consts, ep.cfg, ep.layout
    sizes, n_off, top = [int(v) for v in lay.sizes], [int(v) for v in lay.n_off], lay.top
    P = np.zeros(sizes[1], np.int64)
    project(c.vin_table[np.asarray(image, np.int64)].astype(np.int64), ep._D, P, c.acc_bits)
    y = np.zeros(sizes[top], np.bool_)
    y[label] = True
    acc = np.zeros(max(sizes[1:]), np.int64)
    centered = cfg.variant == "centered"
    entries: list = []

    def phase(V: np.ndarray, sign: int, index: int) -> None:
        for sweep in range(cfg.sweeps):
            for l in ep.order:
                relax(ep.theta, ep._lay, ep._WT, ep._recip, ep._recip_out, P, V, acc, y, sign, c.beta_c,
                      np.array([l]), 1, c.shift_v, c.round_v, c.v_bits, c.acc_bits)
                for g in range(-(-sizes[l] // lanes)):
                    js = [j for j in range(g * lanes, (g + 1) * lanes) if j < sizes[l]]
                    entries.append((TraceKind.ITERATE, index, sweep, int(l), g, (1 << len(js)) - 1,
                                    [int(V[n_off[l] + j]) for j in js]))

    free = ep._S0[0].copy() if cfg.warm_start else np.zeros(lay.n_free, np.int64)
    phase(free, 0, 0)
    first = free.copy()
    if centered:
        phase(first, -1, 1)
    second = free.copy()
    phase(second, 1, 2)
    state = ep._state.copy()
    final = {"free": free, "S2": second, "M": []}
    for k, V in enumerate((first, second)):
        M = np.zeros(lay.n_free, np.int64)
        measure(V, M, ep._lay, c.lanes, state, c.sn, cfg.samples, c.Fs, c.round_noise, c.v_bits)
        entries += [(TraceKind.MEASURE, k, 0, max(l for l in range(1, top + 1) if n_off[l] <= v), v, 1, [int(M[v])])
                    for v in range(lay.n_free)]
        final["M"].append(M)
    return entries, final


@pytest.mark.parametrize("hidden,lanes,values,train,infer,depth", [  # depth: the default, 1 (no pipelining), 2
    ([4], 1, {}, [0, 1], [3], DEFAULT_DEPTH),
    ([2, 4], 2, {"sigma": 0.05, "samples": 2}, [0, 1], [3], 1),
    ([2], 1, {"sigma": 0.1, "samples": 1, "variant": "positive", "order": "forward"}, [5, 6], [7], 2),
])
def test_core_matches_golden(hidden: list[int], lanes: int, values: dict, train: list[int], infer: list[int],
                             depth: int) -> None:
    ep = model(hidden, **values)
    c, lay, cfg = ep.consts, ep.layout, ep.cfg
    assert (c.sn > 0) == (cfg.sigma > 0)
    ep.begin_epoch(0)
    theta0 = [int(v) for v in ep.theta]
    dut = EPCore(CoreBuild(cfg, lanes, max_samples=4, depth=depth))
    got = run_core(dut, ep, train, infer)
    X, Y = MNIST.train_x, MNIST.train_y
    top = lay.top
    o = int(lay.n_off[top])
    for t, rec in zip(train, got["train"], strict=True):
        want_trace, final = golden_trace(ep, lanes, X[t], int(Y[t]))
        assert len(want_trace) == dut.build.trace_entries_per_train(cfg.sweeps, cfg.variant == "centered")
        assert rec["trace"] == want_trace, t
        hits = ep.train(X, Y, np.array([t]))
        # One relax call per layer update reproduces golden's whole relaxation, and its measurements.
        np.testing.assert_array_equal(final["free"], ep._S0[0])
        np.testing.assert_array_equal(final["S2"], ep._S2)
        np.testing.assert_array_equal(final["M"], [ep._M1, ep._M2])
        free = ep._S0[0]
        assert rec["state"] == [int(v) for v in free], t
        assert rec["pred"] == int(np.argmax(free[o:o + int(lay.sizes[top])])), t
        assert rec["hit"] == hits, t
        assert rec["theta"] == [int(v) for v in ep.theta], t
        assert rec["flags"] == int(ep.flags[0]), t
        nonzero = int(np.count_nonzero(c.vin_table[X[t]]))
        assert rec["cycles"] == dut.build.train_cycles(nonzero, cfg.sweeps, c.sn, cfg.samples,
                                                 cfg.variant == "centered"), t
    assert got["train"][-1]["theta"] != theta0  # the samples changed the parameters
    want = ep.predict(X[infer])
    for t, (pred, cycles), w in zip(infer, got["infer"], want, strict=True):
        assert pred == int(w), t
        assert cycles == dut.build.infer_cycles(int(np.count_nonzero(c.vin_table[X[t]])), cfg.sweeps_eval)
    assert got["load_cycles"] == dut.build.load_cycles()


def test_core_converts_to_verilog() -> None:
    dut = EPCore(CoreBuild(model([2, 4]).cfg, 2))
    text = verilog.convert(dut, name="ep_core", emit_src=False)
    assert "module ep_core" in text
    for port in ("start", "mode", "done", "pix_data", "param_rdata", "seed_data", "cycles"):
        assert port in text


def test_drn_xs_cycles_near_lower_bound() -> None:
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "batch_size": 1}, "test").validate()
    dut = CoreBuild(cfg, 16)
    # projection 166 x 100, relaxation 3 phases x 4 sweeps x 2 x 100 x 10, update and totals 1568 x 100 + 100 x 10
    assert dut.lower_bound(166, 4, True) == -(-(166 * 100 + 3 * 4 * 2 * 100 * 10 + 2 * (1568 * 100 + 100 * 10)) // 16)
    assert dut.lower_bound(166, 4, False) == -(-(166 * 100 + 2 * 4 * 2 * 100 * 10 + 2 * (1568 * 100 + 100 * 10)) // 16)
    cycles = dut.train_cycles(166, 4, 0, 1, True)
    assert cycles == 24_190  # 24,105 at depth 1
    assert cycles <= 1.5 * dut.lower_bound(166, 4, True)
    # no bulk copies left: the RelaxEngine's rows and biases, and its reciprocals
    assert dut.copy_cycles("sync_a") == 2 * 100 * 10 + 110 + 3
    assert dut.copy_cycles("sync_b") == 16 * (7 + 1 + 2) + 3
