"""The packages' import arrows run one way only: golden <- hdl <- sim <- host, and only tb/ imports tb."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("golden", "hdl", "sim", "host")  # each may import itself and the packages before it
PACKAGES = (*LAYERS, "tb")


def project_imports(path: Path) -> set[str]:
    """The project packages that `path` imports anywhere in it (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(PACKAGES)
    return found


def upward_imports(layer: str) -> list[str]:
    """'file -> package' for every import in `layer` of a package after it (or of tb)."""
    allowed = set(LAYERS[:LAYERS.index(layer) + 1])
    return [f"{path.relative_to(ROOT)} -> {package}" for path in sorted((ROOT / layer).rglob("*.py"))
            for package in sorted(project_imports(path) - allowed)]


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_runs_back_up(layer: str) -> None:
    assert upward_imports(layer) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import numpy\nfrom golden import config\n\ndef f():\n    from host.cli import main\n    import tb.x\n")
    assert project_imports(source) == {"golden", "host", "tb"}
