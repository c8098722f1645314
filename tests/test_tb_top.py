"""RTL simulation of hdl.top.EPTop (tb/test_top.py): the whole core trained over AXI4-Lite on real MNIST samples,
compared with golden FixedEP, on every available simulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from golden import config, datasets
from golden.fixed_ep import FixedEP
from hdl.plan import CoreBuild
from hdl.top import EPTop
from sim.build import SimBuild, SimulatorUnavailable, simulators

pytestmark = pytest.mark.sim

try:
    SIMULATORS = simulators()
except SimulatorUnavailable:  # tests/test_tb_noise.py reports it in one line
    SIMULATORS = []

TRAIN, INFER = [0, 1], 3  # bundled mnist-subset training images


def case_file(ep: FixedEP, top: EPTop, folder: Path) -> Path:
    """Inputs and the golden model's results for tb/test_top.py, as JSON."""
    data = datasets.load("mnist-subset", progress=False)
    X, Y = data.train_x, data.train_y
    cfg, c, lay = ep.cfg, ep.consts, ep.layout
    ep.begin_epoch(0)
    case: dict = {
        "theta": [int(v) for v in ep.theta], "seeds": [int(s) for s in ep._state], "param_bits": top.core.data_bits,
        "settings": {"centered": int(cfg.variant == "centered"), "warm_start": int(cfg.warm_start),
                     "order": cfg.order.upper(), "sweeps": cfg.sweeps, "sweeps_eval": cfg.sweeps_eval,
                     "beta_g": c.beta_g, "sn": c.sn, "samples": cfg.samples,
                     "k_w": [int(k) for k in ep._k_w[1:]], "k_b": [int(k) for k in ep._k_b[1:]]},
        "timeout": 4 * top.build.train_cycles(784, cfg.sweeps, c.sn, cfg.samples, True),
        "train_x": [[int(p) for p in X[t]] for t in TRAIN], "train_y": [int(Y[t]) for t in TRAIN], "train": [],
        "infer_x": [int(p) for p in X[INFER]],
    }
    o, n_out = int(lay.n_off[lay.top]), int(lay.sizes[lay.top])
    for t in TRAIN:
        hits = ep.train(X, Y, np.array([t]))
        free = ep._S0[0]
        case["train"].append({"pred": int(np.argmax(free[o:o + n_out])), "hit": int(hits),
                              "state": [int(v) for v in free]})
    case["theta_after"] = [int(v) for v in ep.theta]
    case["recip_saturations"] = int(ep.flags[0])
    case["infer_pred"] = int(ep.predict(X[[INFER]])[0])
    path = folder / "case.json"
    path.write_text(json.dumps(case))
    return path


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_core_trains_over_axi_lite(simulator: str, tmp_path: Path) -> None:
    cfg = config.apply(config.preset("drn-xs"), {"precision": "fixed", "momentum": 0.0, "hidden": [2],
                                                 "batch_size": 1, "sigma": 0.05, "samples": 2,
                                                 "lr_weights": [0.05, 0.05], "lr_biases": [0.05, 0.05]},
                       "test").validate()
    top = EPTop(CoreBuild(cfg, 2))
    build = SimBuild.create(top, toplevel="ep_top", case="ep_top-h2-p2", simulator=simulator)
    case = case_file(FixedEP(cfg), top, tmp_path)
    assert build.run("tb.test_top", {"regmap": top.regmap.to_json(), "case": str(case), "idle": True}) == 1
