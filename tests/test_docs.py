"""Every command in the ```sh blocks of README.md, docs/*.md and tb/README.md works as written from a fresh clone.

COMMANDS says how each command is checked:
- RUN: it is quick, so it runs as written from the repository root, with every path under runs/ or build/
  moved into a temporary folder. The commands of a page run in the page's order (a `--resume` after its run).
- HELP: the full run is long (a simulation, a sweep, the full datasets, a benchmark, Vivado), so its command's
  `--help` runs instead and must name every option the documented command uses.
- MAKE: `make -n` (a dry run) of the documented target and variables, with a stand-in `vivado` on PATH.
A command in the docs that COMMANDS does not know fails, and so does an entry no page uses any more.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "tb" / "README.md"]

RUN, HELP, MAKE = "run", "help", "make"

COMMANDS = {
    # make
    "make demo": MAKE,
    "make test": MAKE,
    "make sim": MAKE,
    "make sim SIM=icarus": MAKE,
    "EPFPGA_WAVES=1 make sim": MAKE,
    "make bitstream BOARD=pynq-z2": MAKE,
    # host train
    "host train --target golden --model drn-xs --epochs 1 --train-samples 1000 --test-samples 200 --out runs/xs": RUN,
    "host train --resume runs/xs --epochs 2": RUN,
    "host train --target golden --config examples/noisy-xs.toml --epochs 1 --train-samples 1000 --out runs/noisy": RUN,
    "host train --target golden --model drn-1h --dataset mnist --data-dir ../shared/datasets --epochs 10": HELP,
    "host train --target golden --precision fixed --model drn-xs --dataset mnist --data-dir ../shared/datasets "
    "--epochs 1": HELP,
    "host train --target golden --dtype float64 --model drn-xs --dataset mnist --data-dir ../shared/datasets "
    "--epochs 1": HELP,
    "host train --target pynq --board pynq-z2 --model drn-xs --epochs 1": HELP,
    # host verify (a simulator)
    "host verify --config examples/small.toml --images 4 --seed 1 --cases 13": HELP,
    "host verify --model drn-xs --images 4 --seed 1 --cases 2 --lanes 16": HELP,
    "host verify --config examples/small.toml --images 2 --netlist": HELP,
    # host sweep, host report
    "host sweep noise --quick --serial --out runs/quick": RUN,
    "host report runs/quick": RUN,
    "host sweep noise --model drn-xs --dataset mnist,fashion_mnist,kmnist-testsplit --data-dir ../shared/datasets "
    "--readings 1,4,16 --seeds 0,1,2 --epochs 3 --train-samples 20000 --out runs/study": HELP,
    "host sweep bits --model drn-xs --dataset mnist --data-dir ../shared/datasets --out runs/bits": HELP,
    "host sweep bits --v-frac 8,10 --g-frac 12,14 --rounding nearest --epochs 1 --out runs/bits-small": HELP,
    "host sweep bits --config docs/hw-drn-xs.toml --dataset mnist --data-dir ../shared/datasets --v-frac 8,9,10,11,12 "
    "--g-frac 12,13,14,15,16 --rounding nearest --out runs/bits-online": HELP,
    "host sweep bits --config docs/hw-demo.toml --dataset mnist --data-dir ../shared/datasets --v-frac 8,9,10,11,12 "
    "--g-frac 12,13,14,15,16 --rounding nearest --out runs/bits-demo": HELP,
    "host explore --config docs/demo.toml --v-frac 8,10 --g-frac 12,14 --lanes 4,8 --part LFE5U-85F,xc7z020 "
    "--out runs/explore": HELP,
    # host bench
    "host bench golden": HELP,
    "host bench sim --images 20": HELP,
    "host bench sweep --repeats 3": HELP,
    # host hdl, host bitstream
    "host hdl generate --config docs/core-drn-xs-g16.toml --lanes 16 --out build/core": HELP,
    "host hdl estimate --config docs/core-drn-xs-g16.toml --lanes 16 --part xc7z020": HELP,
    "host hdl estimate --part xc7z020 --lanes 8 --out build/estimate.json": HELP,
    "host hdl pnr --part LFE5U-85F --config examples/small.toml --lanes 1 --out build/pnr-small": HELP,
    "host hdl pnr --part LFE5U-85F --speed 6 --clock-mhz 125 --config docs/demo.toml --lanes 8": HELP,
    "host hdl bench --config docs/core-drn-xs-g16.toml --lanes 16 --images 5": HELP,
    "host hdl regmap --out build/regmap": RUN,
    "host hdl regmap --model drn-xs --out build/regmap-xs": RUN,
    "host bitstream --board pynq-z2 --tcl-only": HELP,
}


def commands(page: Path) -> list[str]:
    """The command lines of a page's ```sh blocks (continuations joined, comments dropped), in order."""
    found, block, pending = [], False, ""
    for line in page.read_text().splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            block = not block and fence == "```sh"
            continue
        if not block:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        words = shlex.split(pending + line, comments=True)
        pending = ""
        if words:
            found.append(" ".join(words))
    return found


def documented() -> dict[str, list[str]]:
    """Each page (relative path) with its commands."""
    return {str(page.relative_to(ROOT)): commands(page) for page in PAGES if page.exists()}


def test_every_command_is_known():
    unknown = [f"{page}: {cmd}" for page, cmds in documented().items() for cmd in cmds if cmd not in COMMANDS]
    assert not unknown, "commands in the docs that tests/test_docs.py's COMMANDS does not know:\n" + "\n".join(unknown)


def test_every_known_command_is_documented():
    used = {cmd for cmds in documented().values() for cmd in cmds}
    stale = sorted(set(COMMANDS) - used)
    assert not stale, "COMMANDS entries that no page uses any more:\n" + "\n".join(stale)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    """A folder for the runs/ and build/ paths of RUN commands, shared by all pages, and what already ran."""
    folder = tmp_path_factory.mktemp("docs")
    fake = folder / "bin"
    fake.mkdir()
    (fake / "vivado").write_text("#!/bin/sh\nexit 1\n")
    (fake / "vivado").chmod(0o755)
    return {"folder": folder, "bin": fake, "done": set()}


def split(cmd: str) -> tuple[dict[str, str], list[str]]:
    """Leading VAR=value assignments and the command's words."""
    words = shlex.split(cmd)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, words


def host(words: list[str]) -> list[str]:
    """`host ...` through this interpreter (the console script is the same entry point)."""
    assert words[0] == "host", words
    return [sys.executable, "-m", "host", *words[1:]]


def run(argv: list[str], env: dict[str, str], cmd: str) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{cmd}\nexit status {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def check(cmd: str, space: dict) -> None:
    env, words = split(cmd)
    how = COMMANDS[cmd]
    if how == MAKE:
        assert words[0] == "make", cmd
        path = f"{space['bin']}{os.pathsep}{os.environ.get('PATH', '')}"
        run(["make", "-n", *words[1:]], {**env, "PATH": path}, cmd)
    elif how == HELP:
        sub = []
        for word in words[1:3]:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                break
            sub.append(word)
        text = run(host(["host", *sub, "--help"]), env, cmd).stdout
        missing = [w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in text]
        assert not missing, f"{cmd}: `host {' '.join(sub)} --help` does not name {', '.join(missing)}"
    else:
        moved = [str(space["folder"] / w) if w.startswith(("runs/", "build/")) else w for w in words]
        run(host(moved), env, cmd)


@pytest.mark.parametrize("page", [str(p.relative_to(ROOT)) for p in PAGES if p.exists()])
def test_commands_run(page, workspace):
    for cmd in documented()[page]:
        if cmd not in COMMANDS:
            continue  # test_every_command_is_known names it
        if COMMANDS[cmd] == RUN and cmd in workspace["done"]:
            continue  # an earlier page ran it (its outputs are in the shared folder)
        check(cmd, workspace)
        workspace["done"].add(cmd)
