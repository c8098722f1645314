"""Tests of the `host` command line: every command's help, training runs, resume, renamed and inapplicable options, and
one-line errors for bad input."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from host.cli import build_parser, main
from processes import descendants, survivors


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "drn-9h"], "unknown model preset 'drn-9h'"),
    (["train", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["train", "--sigma", "-0.1"], "sigma must be >= 0"),
    (["train", "--readings", "0"], "samples (N) must be >= 1"),
    (["train", "--sigma", "loud"], "expected a number, got 'loud'"),
    (["train", "--epochs", "0"], "epochs must be >= 1"),
    (["train", "--target", "fpga"], "invalid choice: 'fpga'"),
    (["train", "--target", "pynq"], "no PYNQ board found ("),
    (["train", "--target", "pynq", "--overlay", "missing.bit"], "overlay missing.bit does not exist"),
    (["train", "--target", "pynq", "--board", "nonsense"], "unknown board 'nonsense': choose one of pynq-z2, kv260, zcu104"),
    (["train", "--target", "sim", "--batch-size", "4"], "batch_size = 4: the core trains online"),
    (["train", "--target", "sim", "--precision", "float"], "precision = float: the core computes the fixed-point"),
    (["train", "--target", "pynq", "--momentum", "0.9"], "momentum must be 0"),
    (["train", "--target", "sim", "--readings", "17"], "samples (N) = 17: the core measures at most 16 times"),
    (["train", "--target", "sim", "--lanes", "3"], "lanes must be a power of two from 1 to 32"),
    (["train", "--target", "sim", "--resume", "x", "--train-samples", "5"], "--resume continues a stored run"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--config", "missing.toml"], "config file missing.toml does not exist"),
    (["train", "--resume", "no-such-run"], "cannot resume from no-such-run: checkpoint.npz is missing"),
    (["sweep", "noise", "--keep", "1.5"], "--keep must be between 0 and 1, got 1.5"),
    (["sweep", "noise", "--sigma-range", "1e-3"], "--sigma-range takes MIN,MAX, got 1 values"),
    (["sweep", "noise", "--sigma-range", "1e-2,1e-3"], "sigma range: need 0 < min < max"),
    (["sweep", "noise", "--dataset", "mnist,cifar"], "unknown dataset 'cifar'"),
    (["sweep", "noise", "--model", "drn-xs,missing.toml"], "config file missing.toml does not exist"),
    (["sweep", "noise", "--readings", "1,0"], "samples (N) must be >= 1"),
    (["sweep", "noise", "--sigma", "-1"], "sigma values must be >= 0"),
    (["sweep", "noise", "--serial", "--workers", "2"], "not allowed with argument"),
    (["sweep", "noise", "--refine", "-1"], "--refine must be >= 0"),
    (["sweep", "fractals"], "invalid choice: 'fractals'"),
    (["report", "no-such-study"], "no-such-study holds no noise study (study.json is missing)"),
    (["report", ".", "--keep", "0"], "--keep must be between 0 and 1, got 0"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("host")


COMMANDS = ["train", "sweep", "sweep noise", "sweep bits", "report", "bench", "verify", "hdl", "hdl generate",
            "hdl estimate", "hdl pnr", "hdl bench", "hdl regmap", "explore", "bitstream"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit:
        main([*command.split(), "--help"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: host {command} ")


def test_host_help_lists_the_commands_in_order_with_one_line_each(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = [line.split()[0] for line in capsys.readouterr().out.split("COMMAND\n", 1)[1].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == ["train", "sweep", "report", "bench", "verify", "hdl", "explore", "bitstream"]


@pytest.mark.parametrize("argv", [["train", "--samples", "3"], ["sweep", "noise", "--samples", "1,4"]])
def test_samples_is_a_deprecated_alias_of_readings(argv):
    args = build_parser().parse_args(argv)
    assert args.readings == (3 if argv[0] == "train" else [1, 4])
    assert args.deprecated == "--samples is deprecated; use --readings"


def test_average_names_what_the_readings_average() -> None:
    assert build_parser().parse_args(["sweep", "noise", "--average", "updates", "--readings", "4"]).reading == "updates"
    assert build_parser().parse_args(["sweep", "noise"]).reading is None  # the model's


@pytest.mark.parametrize("argv, message", [
    (["train", "--samples", "0"], "samples (N) must be >= 1, got 0"),
    (["sweep", "noise", "--samples", "1,0"], "samples (N) must be >= 1, got 0"),
])
def test_deprecated_samples_warns_once_then_runs(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.splitlines() == ["host: warning: --samples is deprecated; use --readings", f"host: error: {message}"]


def test_deprecated_samples_trains_with_n_readings(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--samples", "2", "--train-samples", "64", "--test-samples", "32",
                         "--batch-size", "16", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "r"))
    assert code == 0 and "N=2," in out
    assert err == "host: warning: --samples is deprecated; use --readings\n"
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["config"]["samples"] == 2


@pytest.mark.parametrize("argv, message", [
    (["train", "--readings", "2", "--samples", "2"], "argument --samples: not allowed with argument --readings"),
    (["verify", "--samples", "4"], "host verify: --samples is now --images K (training images per case)"),
    (["bench", "sim", "--samples", "4"], "host bench: --samples is now --images K (sim: training images per repeat)"),
    (["hdl", "bench", "--samples", "4"], "host hdl bench: --samples is now --images K (training images)"),
    (["hdl", "bench", "--samples"], "host hdl bench: --samples is now --images K"),
    (["train", "--lanes", "2"], "--lanes applies to --target sim only, not --target golden"),
    (["train", "--target", "golden", "--overlay", "x.bit"],
     "--overlay applies to --target pynq only, not --target golden"),
    (["train", "--board", "kv260"], "--board applies to --target pynq only, not --target golden"),
    (["train", "--target", "sim", "--overlay", "x.bit"], "--overlay applies to --target pynq only, not --target sim"),
    (["train", "--target", "sim", "--board", "kv260"], "--board applies to --target pynq only, not --target sim"),
    (["train", "--target", "pynq", "--lanes", "4"], "--lanes applies to --target sim only, not --target pynq"),
    (["train", "--target", "sim", "--dtype", "float64"], "--dtype applies to --target golden only, not --target sim"),
    (["train", "--target", "pynq", "--dtype", "float32"], "--dtype applies to --target golden only, not --target pynq"),
    (["train", "--precision", "fixed", "--dtype", "float64"], "--dtype applies to --precision float only, not fixed"),
    (["bench", "golden", "--images", "3"], "--images applies to bench sim only, not bench golden"),
    (["bench", "sweep", "--images", "3"], "--images applies to bench sim only, not bench sweep"),
    (["bench", "sim", "--quick"], "--quick applies to bench golden only, not bench sim"),
    (["bench", "golden", "--points", "4"], "--points applies to bench sweep only, not bench golden"),
    (["bench", "sim", "--workers", "2"], "--workers applies to bench sweep only, not bench sim"),
])
def test_renamed_and_inapplicable_options_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("host: error: ") and message in err and err.count("\n") == 1


def test_a_resumed_run_keeps_its_target_and_its_options(capsys, tmp_path):
    run_dir = tmp_path / "r"
    args = ["--train-samples", "64", "--test-samples", "32", "--batch-size", "16", "--no-progress"]
    assert run(capsys, "train", *args, "--epochs", "1", "--out", str(run_dir))[0] == 0
    for argv, message in [(["--target", "sim"], f"--resume continues {run_dir} on its target, --target golden, "
                                                "not --target sim"),
                          (["--lanes", "2"], "--lanes applies to --target sim only, not --target golden")]:
        code, _, err = run(capsys, "train", "--resume", str(run_dir), *argv)
        assert code == 2 and message in err and err.count("\n") == 1
    code, out, _ = run(capsys, "train", "--resume", str(run_dir), "--target", "golden", "--epochs", "2",
                       "--no-progress")
    assert code == 0 and f"resuming {run_dir} after epoch 1" in out

def test_ctrl_c_names_the_run_to_resume(capsys, tmp_path, monkeypatch):
    """Interrupted after an epoch is stored: the one line names the folder that --resume continues."""
    from golden import train as loop
    real = loop.train

    def interrupted(cfg, *args, **kwargs):
        real(dataclasses.replace(cfg, epochs=1), *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train", interrupted)
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--train-samples", "8", "--test-samples", "4", "--epochs", "2",
                       "--no-progress", "--out", str(out))
    assert code == 130 and err == f"host: interrupted; continue it with: host train --resume {out}\n"


def test_unwritable_out_dir(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "train", "--out", str(blocker / "run"), "--no-progress")
    assert code == 2 and "cannot write to output folder" in err and err.count("\n") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_out_dir(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, _, err = run(capsys, "train", "--out", str(ro / "run"), "--no-progress")
    assert code == 2 and "cannot write to output folder" in err


def test_missing_dataset_offline_is_one_line(capsys, tmp_path, monkeypatch):
    from golden import datasets
    monkeypatch.setattr(datasets, "MIRRORS", {k: [] for k in datasets.MIRRORS})
    monkeypatch.delenv("EPFPGA_MIRROR", raising=False)
    code, _, err = run(capsys, "train", "--dataset", "fashion_mnist", "--data-dir", str(tmp_path / "empty"),
                       "--out", str(tmp_path / "run"), "--no-progress")
    assert code == 2 and "train-images-idx3-ubyte.gz" in err and err.count("\n") == 1


def test_train_writes_metrics_and_checkpoint_and_resume_is_exact(capsys, tmp_path):
    common = ["--model", "drn-xs", "--batch-size", "8", "--sigma", "1e-3", "--no-progress"]
    code, out, _ = run(capsys, "train", *common, "--epochs", "1", "--out", str(tmp_path / "a"))
    assert code == 0 and "epoch   1/1" in out
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["config"]["sigma"] == 1e-3 and metrics["config"]["batch_size"] == 8
    assert metrics["target"] == "golden" and metrics["versions"]["numba"]
    (row,) = metrics["epochs"]
    assert set(row) >= {"epoch", "train_accuracy", "test_accuracy", "seconds"}
    assert 0.5 < row["test_accuracy"] <= 1
    assert not list((tmp_path / "a").glob(".*part"))

    assert run(capsys, "train", "--resume", str(tmp_path / "a"), "--epochs", "2", "--no-progress")[0] == 0
    assert run(capsys, "train", *common, "--epochs", "2", "--out", str(tmp_path / "b"))[0] == 0
    with np.load(tmp_path / "a" / "checkpoint.npz") as a, np.load(tmp_path / "b" / "checkpoint.npz") as b:
        assert int(a["epochs_done"]) == 2
        assert np.array_equal(a["theta"], b["theta"]) and np.array_equal(a["velocity"], b["velocity"])
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [r["test_accuracy"] for r in ma["epochs"]] == [r["test_accuracy"] for r in mb["epochs"]]


def test_existing_run_is_not_overwritten(capsys, tmp_path):
    args = ["train", "--batch-size", "16", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "r")]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 2 and "already holds a run" in err


def test_resume_refuses_model_changes(capsys, tmp_path):
    args = ["train", "--batch-size", "16", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "r")]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, "train", "--resume", str(tmp_path / "r"), "--sigma", "0.1")
    assert code == 2 and "only --epochs and --data-dir may change" in err


def test_console_script_prints_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "host", "train", "--sigma", "-1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "host: error: sigma must be >= 0, got -1.0"


@pytest.mark.parametrize("toml, message", [
    ("input_gain = inf", "input_gain must be a finite number"),
    ("lr_weights = [nan, 0.1]", "lr_weights must be a finite number"),
    ("dataset = 5", "dataset must be str"),
    ("model = [1]", "model must be str"),
    ("hidden = [1000000]", "must be an even integer from 2 to 65536"),
    ('precision = "fixed"\nmomentum = 0.0\n[fixed]\nv_frac = "many"', "fixed.v_frac must be int"),
])
def test_bad_values_in_a_config_file_are_one_line(capsys, tmp_path, toml, message):
    f = tmp_path / "c.toml"
    f.write_text(toml + "\n")
    code, _, err = run(capsys, "train", "--config", str(f), "--out", str(tmp_path / "r"), "--no-progress")
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_an_ill_posed_minus_beta_phase_stops_the_run(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--beta", "4", "--epochs", "1", "--out", str(tmp_path / "r"),
                       "--no-progress")
    assert code == 2 and "no longer a minimisation" in err and err.count("\n") == 1


def test_fixed_point_reports_saturated_reciprocals(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--precision", "fixed", "--beta", "4", "--epochs", "1",
                       "--out", str(tmp_path / "r"), "--no-progress")
    assert code == 0 and "recip saturations in epoch 1" in out
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["epochs"][0]["recip_saturations"] > 0


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:100]), "checkpoint.npz is unreadable"),
    (lambda p: np.savez(p, theta=np.zeros(3)), "is not a checkpoint written by host train"),
])
def test_resume_from_a_damaged_checkpoint_is_one_line(capsys, tmp_path, damage, message):
    args = ["train", "--batch-size", "16", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "r")]
    assert run(capsys, *args)[0] == 0
    damage(tmp_path / "r" / "checkpoint.npz")
    code, _, err = run(capsys, "train", "--resume", str(tmp_path / "r"), "--epochs", "2")
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["sweep", "bits", "--workers", "0"], ["bench", "golden", "--repeats", "0"]])
def test_counts_must_be_positive(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "expected a whole number >= 1" in err


def test_quick_noise_sweep_on_dask_then_report_and_resume(capsys, tmp_path):
    out = tmp_path / "study"
    code, text, err = run(capsys, "sweep", "noise", "--quick", "--workers", "2", "--out", str(out))
    assert code == 0, err
    assert "on a local Dask cluster of 2 worker processes" in text
    assert "sigma_c drn-xs mnist-subset N=1: " in text and "sigma_c drn-xs mnist-subset N=4: " in text
    assert "sqrt(N) law drn-xs mnist-subset: slope" in text and f"report in {out}/report.md" in text
    for name in ("sweep.csv", "curves.csv", "critical.csv", "sweep.json", "report.md", "accuracy_vs_sigma.png"):
        assert (out / name).stat().st_size > 0
    code, text, _ = run(capsys, "sweep", "noise", "--quick", "--serial", "--out", str(out))
    assert code == 0 and "22 of 22 grid points already done" in text and "bisection round 1" not in text
    code, text, err = run(capsys, "sweep", "noise", "--quick", "--epochs", "2", "--serial", "--out", str(out))
    assert code == 2 and "holds a study with other settings: epochs 1 (asked 2)" in err


@pytest.mark.parametrize("name, runner", [("SIGINT", "--serial"), ("SIGTERM", "--serial"), ("SIGKILL", "--serial"),
                                          ("SIGKILL", "--workers=2")])
def test_a_signalled_sweep_keeps_its_points_leaves_no_process_and_a_rerun_finishes_it(tmp_path, name, runner):
    """host sweep noise stopped once a few points are stored: no process of it survives (Dask workers included),
    no point is half-written, and a rerun finishes the study from the points kept."""
    out = tmp_path / "study"
    argv = [sys.executable, "-m", "host", "sweep", "noise", "--quick", runner, "--epochs", "3", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list((out / "points").glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = descendants(proc.pid)
    proc.send_signal(getattr(signal, name))
    _, err = proc.communicate(timeout=60)
    if name == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL
    else:
        status, last = {"SIGINT": (130, "host: interrupted"), "SIGTERM": (143, "host: terminated")}[name]
        assert proc.returncode == status and err.strip().splitlines()[-1] == last
    deadline = time.monotonic() + 10
    while survivors(children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not survivors(children), f"processes of the sweep survived: {survivors(children)}"
    kept = len(list((out / "points").glob("*.json")))
    assert 3 <= kept < 22 and not list((out / "points").glob(".*.part"))  # no half-written point
    done = subprocess.run([*argv[:6], "--serial", *argv[7:]], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and f"{kept} of 22 grid points already done" in done.stdout


def test_noise_sweep_on_official_files(capsys, tmp_path, shared_datasets):
    out = tmp_path / "study"
    code, text, err = run(capsys, "sweep", "noise", "--quick", "--serial", "--dataset", "mnist,kmnist-testsplit",
                          "--data-dir", str(shared_datasets), "--readings", "1", "--seeds", "0", "--refine", "1",
                          "--out", str(out), "--no-report")
    assert code == 0, err
    assert "sigma_c drn-xs mnist N=1" in text and "sigma_c drn-xs kmnist-testsplit N=1" in text
    assert not (out / "report.md").exists()


def test_a_core_that_does_not_build_is_one_line(capsys, tmp_path, monkeypatch):
    """A simulation build that fails (its message: a first line naming the log, then the log's tail) ends in that
    first line and exit status 1, before any result is written."""
    from host.flows import train_sim
    from sim.build import SimulationError

    def broken(build):
        raise SimulationError("the build of ep_top failed (verilator, host-x; log: build.log)\n    error: line 1")

    monkeypatch.setattr(train_sim, "build_core", broken)
    monkeypatch.setattr("host.commands.train.simulators", lambda name: [name])  # as if Verilator were installed
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--target", "sim", "--model", "drn-xs", "--lanes", "2", "--out", str(out),
                       "--no-progress")
    assert code == 1 and err == "host: error: the build of ep_top failed (verilator, host-x; log: build.log)\n"
    assert not (out / "metrics.json").exists()
