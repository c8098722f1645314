"""C header and Markdown emitters (hdl/regmap/emit.py): the header compiles with the map's numbers, one Markdown row per register and field."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from golden.config import Config
from hdl.regmap.core import core_register_map
from hdl.regmap.emit import c_header, markdown
from hdl.regmap.language import RegisterMap
from regmap_small import SMALL


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("regmap", [SMALL, core_register_map(Config(hidden=[100, 50], lr_weights=[0.05] * 3, lr_biases=[0.05] * 3))], ids=["small", "core"])
def test_c_header_compiles_and_its_offsets_equal_the_map(regmap: RegisterMap, tmp_path: Path) -> None:
    (tmp_path / "regs.h").write_text(c_header(regmap, "EP"))
    checks = ['#include "regs.h"', '#include "regs.h"  /* include guard */',
              f"_Static_assert(EP_REGMAP_SIZE == {regmap.size}u, \"size\");"]
    for reg in regmap:
        checks.append(f"_Static_assert(EP_{reg.name}_OFFSET == {regmap.offset(reg.name)}u, \"{reg.name}\");")
        checks.append(f"_Static_assert(EP_{reg.name}_RESET == {reg.reset}u, \"{reg.name}\");")
        for f in reg.fields:
            fb = f"EP_{reg.name}_{f.name.upper()}"
            checks.append(f"_Static_assert({fb}_MASK == {f.mask}u && {fb}_SHIFT == {f.lsb}u && "
                          f"{fb}_WIDTH == {f.width}u, \"{fb}\");")
            checks += [f"_Static_assert({fb}_{n} == {v}u, \"{fb}_{n}\");" for n, v in f.values]
    (tmp_path / "check.c").write_text("\n".join(checks) + "\n")
    result = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only",
                             "check.c"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_c_header_rejects_a_prefix_that_is_no_macro_name() -> None:
    with pytest.raises(ValueError):
        c_header(SMALL, "ep-core")


def test_markdown_has_one_table_row_per_register_and_per_field() -> None:
    rm = core_register_map(Config())
    text = markdown(rm)
    regs_table = text.split("## Registers")[1].split("## Fields")[0]
    rows = [line for line in regs_table.splitlines() if line.startswith("| 0x")]
    assert [row.split(" | ")[1] for row in rows] == [r.name for r in rm]
    assert [row.split(" | ")[0] for row in rows] == [f"| {rm.offset(r.name):#04x}" for r in rm]
    fields_table = text.split("## Fields")[1]
    assert sum(line.startswith("| ") and " | " in line for line in fields_table.splitlines()) - 1 == \
        sum(len(r.fields) for r in rm)  # minus the header row
    assert "TRAIN = 0, INFER = 1, LOAD = 2, CLEAR = 3" in text
