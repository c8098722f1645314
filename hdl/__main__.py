"""`python -m hdl`: write the register map's descriptions (JSON, C header, Markdown) for a config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from golden import config
from golden.files import atomic_write_text

from .regmap import core_register_map

C_PREFIX = "EPF"


def write_regmap(cfg: config.Config, out: Path) -> list[Path]:
    """regmap.json, regmap.h and regmap.md of the core for `cfg`, written atomically into `out`."""
    regmap = core_register_map(cfg)
    out.mkdir(parents=True, exist_ok=True)
    files = {"regmap.json": regmap.to_json(), "regmap.h": regmap.to_c_header(C_PREFIX), "regmap.md": regmap.to_markdown()}
    for name, text in files.items():
        atomic_write_text(out / name, text)
    return [out / name for name in files]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: `python -m hdl regmap [--model M] [--config FILE] --out DIR`."""
    parser = argparse.ArgumentParser(prog="python -m hdl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("regmap", help="register map files for a config")
    r.add_argument("--model", help="preset (default drn-xs)")
    r.add_argument("--config", type=Path, help="TOML file of settings, as for host train")
    r.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.model, args.config, hardware=True)
        for path in write_regmap(cfg, args.out):
            print(path)
    except (config.ConfigError, OSError) as e:
        print(f"python -m hdl: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
