"""Tests of `host hdl generate` (hdl/generate.py): complete, reproducible, consistent with EPCore's formulas."""

import json
from pathlib import Path

import numpy as np
import pytest

from golden import config, datasets
from hdl.core import EPCore
from hdl.plan import CoreBuild
from hdl.generate import TOP, memories
from host.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = "hidden = [4]\n"
FILES = ("ep_core.v", "regmap.json", "regmap.h", "regmap.md", "summary.json")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The config file and two output folders of `generate` with the same arguments."""
    tmp = tmp_path_factory.mktemp("generate")
    cfg = tmp / "tiny.toml"
    cfg.write_text(TINY)
    (tmp / "batch.toml").write_text(TINY + "batch_size = 4\n")
    outs = tmp / "a", tmp / "b"
    for out in outs:
        assert main(["hdl", "generate", "--config", str(cfg), "--lanes", "2", "--out", str(out)]) == 0
    return cfg, *outs


def test_generate_is_complete_and_reproducible(generated: tuple[Path, Path, Path]) -> None:
    cfg, a, b = generated
    assert sorted(p.name for p in a.iterdir()) == sorted(FILES)
    for name in FILES:
        text = (a / name).read_bytes()
        assert text == (b / name).read_bytes(), name
        for path in (str(ROOT), str(Path.home()), str(a)):
            assert path.encode() not in text, (name, path)
    verilog = (a / "ep_core.v").read_text()
    assert f"module {TOP}(" in verilog and "pix_ready" in verilog
    assert "negedge" not in verilog  # the Verilog to synthesize has one clock (no clock gating)


def test_summary_follows_the_core(generated: tuple[Path, Path, Path]) -> None:
    cfg, a, _ = generated
    info = json.loads((a / "summary.json").read_text())
    core = EPCore(CoreBuild(config.load(None, cfg, hardware=True), 2))
    build, c = core.build, core.consts
    images = datasets.load("mnist-subset", progress=False).train_x
    mean = np.count_nonzero(c.vin_table[images], axis=1).mean()
    s = info["schedule"]
    assert s["nonzero_pixels"] == round(mean) and f"({mean:.1f})" in s["nonzero_pixels_from"]
    assert s["train_cycles"] == build.train_cycles(s["nonzero_pixels"], 4, c.sn, 1, True)
    assert s["lower_bound"] == build.lower_bound(s["nonzero_pixels"], 4, True) < s["train_cycles"]
    assert s["train_over_lower_bound"] == round(s["train_cycles"] / s["lower_bound"], 3)
    assert s["infer_cycles"] == build.infer_cycles(s["nonzero_pixels"], 4)
    assert info["sizes"] == [1568, 4, 10] and info["lanes"] == 2 and info["formats"]["g_bits"] == c.g_bits
    mems = info["memories"]
    assert mems == memories(core)  # (elaborates the core)
    assert info["memory_bits"] == sum(m["bits"] for m in mems)
    assert all(m["bits"] == m["width"] * m["depth"] > 0 and m["name"].startswith(f"{TOP}.") for m in mems)
    assert len({m["name"] for m in mems}) == len(mems)
    # every conductance is stored somewhere at least once, g_bits wide
    weights = sum(core.sizes[l - 1] * core.sizes[l] for l in range(1, len(core.sizes)))
    assert info["memory_bits"] >= weights * c.g_bits


@pytest.mark.parametrize("args,message", [
    (["--lanes", "3"], "lanes must be a power of two from 1 to 16 (the widest layer, rounded up), got 3"),
    (["--lanes", "32"], "lanes must be a power of two from 1 to 16"),
    (["--config", "batch.toml"], "batch_size = 4: the core trains online"),
    (["--config", "missing.toml"], "missing.toml does not exist"),
])
def test_bad_input_is_one_line(generated: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
                               args: list[str], message: str) -> None:
    cfg = generated[0]
    if "--config" in args:
        args = ["--config", str(cfg.parent / args[1])]
    else:
        args = ["--config", str(cfg), *args]
    assert main(["hdl", "generate", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("host: error: ")
    assert not (tmp_path / "out").exists()
