"""Tests of host.studies.bits and `host sweep bits`: the grid, the table, the plot, the narrowest formats."""

import csv
import json

import pytest

from golden import config
from host.studies import bits
from host.cli import main
from sim.build import ROOT


def test_formats_size_the_integer_parts_from_the_network():
    cfg = config.preset("drn-1h")  # input gain 480: 9 integer bits + sign + headroom
    f = bits.formats(cfg, 6, 10, "stochastic")
    assert (f["v_bits"], f["vin_bits"], f["g_bits"]) == (17, 17, 13)
    assert f["round_update"] == "stochastic" and f["round_v"] == "nearest"
    point = bits.point_config(cfg, bits.Point("truncate", 1e-4, 6, 10))
    assert point.precision == "fixed" and point.sigma == 1e-4 and point.fixed.round_v == "truncate"


def row(rounding, v_bits, g_bits, acc, float_acc=0.9):
    return {"rounding": rounding, "sigma": 0.0, "v_bits": v_bits, "g_bits": g_bits, "test_accuracy": acc,
            "delta": acc - float_acc}


def test_narrowest_takes_the_fewest_bits_within_tolerance():
    rows = [row("nearest", 10, 10, 0.80), row("nearest", 12, 10, 0.897), row("nearest", 10, 14, 0.899),
            row("nearest", 16, 16, 0.91), row("stochastic", 8, 8, 0.896), row("truncate", 8, 8, 0.5)]
    best = bits.narrowest(rows)
    assert [(r["rounding"], r["v_bits"], r["g_bits"]) for r in best] == [("nearest", 12, 10), ("stochastic", 8, 8)]


def test_narrowest_passes_with_every_wider_point():
    """A point within tolerance beside a point wider in both formats that misses (one seed's luck) is not chosen;
    the narrowest point whose wider neighbours all pass is."""
    rows = [row("nearest", 10, 10, 0.899), row("nearest", 10, 12, 0.85), row("nearest", 12, 12, 0.9),
            row("nearest", 12, 10, 0.898), row("nearest", 14, 14, 0.9)]
    assert [(r["v_bits"], r["g_bits"]) for r in bits.narrowest(rows)] == [(12, 10)]


def test_narrowest_agrees_with_the_printed_delta():
    """A delta that prints as -0.50 (percent) is within 0.5% of float; one that prints as -0.51 is not."""
    edge = {**row("nearest", 8, 8, 0.9), "delta": -0.0050000000000000044}
    assert f"{100 * edge['delta']:+.2f}" == "-0.50" and bits.within(edge["delta"])
    assert bits.narrowest([edge, row("nearest", 16, 16, 0.9)]) == [edge]
    assert not bits.within(-0.0051)


def test_quick_sweep_writes_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sweep", "bits", "--v-frac", "4,10", "--g-frac", "12", "--rounding", "nearest",
                 "--workers", "2", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == bits.COLUMNS
    assert [int(r["v_frac"]) for r in rows] == [4, 10]
    wide = rows[1]
    assert float(wide["test_accuracy"]) > 0.6 and 0.9 < float(wide["update_cosine"]) <= 1.0
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["rows"][1]["v_bits"] == int(wide["v_bits"]) and "narrowest" in summary
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "float64 reference" in text and ("narrowest within" in text or "no format of the grid" in text)


@pytest.mark.parametrize("argv, message", [
    (["--rounding", "sideways"], "unknown rounding 'sideways'"),
    (["--sigma", "-1"], "sigma values must be >= 0"),
    (["--v-frac", "4,x"], "expected an integer, got 'x'"),
    (["--g-frac", "40"], "fixed:"),
])
def test_bad_sweep_arguments_are_one_line(tmp_path, capsys, argv, message):
    code = main(["sweep", "bits", "--out", str(tmp_path / "s"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("config_file, study", [("hw-drn-xs.toml", "bits-drn-xs-online"),
                                                ("hw-demo.toml", "bits-demo")])
def test_shipped_hardware_formats_are_their_sweeps_narrowest(config_file, study):
    """docs/hw-*.toml hold the formats their committed sweep names (narrowest within 0.5% with round-to-nearest),
    sized as the sweep sizes them, for the network and learning rates that sweep trained."""
    summary = json.loads((ROOT / "docs" / "results" / study / "sweep.json").read_text())
    swept = config.apply(config.Config(), summary["config"], "sweep.json")
    best = next(r for r in summary["narrowest"] if r["rounding"] == "nearest")
    assert best == next(r for r in bits.narrowest(summary["rows"]) if r["rounding"] == "nearest")
    shipped = config.load(None, ROOT / "docs" / config_file, hardware=True)
    want = bits.formats(swept, best["v_frac"], best["g_frac"], "nearest")
    assert {k: getattr(shipped.fixed, k) for k in want} == want
    assert (shipped.hidden, shipped.lr_weights, shipped.lr_biases, shipped.batch_size) == \
        (swept.hidden, swept.lr_weights, swept.lr_biases, swept.batch_size)
