"""Tests of `host hdl` (host/commands/hdl.py): its commands' help, `host hdl regmap` and docs/registers.md, both
generated from the one register map."""

import json
from pathlib import Path

from golden import config
from hdl.regmap.core import core_register_map
from hdl.regmap.emit import markdown
from host.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs" / "registers.md"


def test_regmap_command_writes_json_header_and_markdown(tmp_path, capsys):
    assert main(["hdl", "regmap", "--model", "drn-1h", "--out", str(tmp_path)]) == 0
    regmap = core_register_map(config.load("drn-1h", hardware=True))
    described = json.loads((tmp_path / "regmap.json").read_text())
    assert json.dumps(described, sort_keys=True) == json.dumps(json.loads(regmap.to_json()), sort_keys=True)
    header = (tmp_path / "regmap.h").read_text()
    assert f"#define EPF_CTRL_OFFSET 0x{regmap.offset('CTRL'):02x}u" in header
    assert (tmp_path / "regmap.md").read_text() == markdown(regmap)
    assert capsys.readouterr().out.count("regmap.") == 3


def test_a_bad_preset_is_one_line(tmp_path, capsys):
    assert main(["hdl", "regmap", "--model", "drn-9h", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown model preset 'drn-9h'" in err and err.count("\n") == 1


def test_docs_registers_md_is_the_generated_map_of_drn_xs():
    """Regenerate with: host hdl regmap --model drn-xs --out DIR; copy DIR/regmap.md to docs/registers.md."""
    assert DOCS.read_text() == markdown(core_register_map(config.load("drn-xs", hardware=True)))
