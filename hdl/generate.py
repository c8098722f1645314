"""The EP core's generated files: its Verilog, the register map, and a summary of its schedule and memories."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from amaranth.hdl import Fragment, MemoryInstance, Shape
from amaranth.lib import wiring

from golden import config, datasets
from golden.files import atomic_write_text

from .core import EPCore
from .plan import CoreBuild
from .regmap.core import core_register_map
from .regmap.emit import c_header, markdown
from .verilog import write_verilog

TOP = "ep_core"
C_PREFIX = "EPF"
# The images whose mean non-zero pixel count stands for a typical sample in the summary's cycle counts.
TYPICAL_IMAGES = "mnist-subset"


def write_regmap(cfg: config.Config, out: Path) -> list[Path]:
    """regmap.json, regmap.h and regmap.md of the core for `cfg`, written atomically into `out`."""
    regmap = core_register_map(cfg)
    out.mkdir(parents=True, exist_ok=True)
    files = {"regmap.json": regmap.to_json(), "regmap.h": c_header(regmap, C_PREFIX), "regmap.md": markdown(regmap)}
    for name, text in files.items():
        atomic_write_text(out / name, text)
    return [out / name for name in files]


def memories(component: wiring.Component) -> list[dict]:
    """Every memory of the elaborated design: hierarchical name, width, depth, bits, whether it is written
    (a RAM) or not (a ROM), and its read ports' domains ("sync": block RAM, "comb": LUTs)."""
    found = []

    def walk(fragment: Fragment, path: str) -> None:
        if isinstance(fragment, MemoryInstance):  # its data and ports have no public accessors in Amaranth 0.5
            width, depth = Shape.cast(fragment._data.shape).width, fragment._data.depth
            found.append({"name": path, "width": width, "depth": depth, "bits": width * depth,
                          "kind": "ram" if fragment._write_ports else "rom",
                          "read": sorted({port._domain for port in fragment._read_ports})})
        for index, (sub, name, _) in enumerate(fragment.subfragments):
            walk(sub, f"{path}.{name}" if name else f"{path}.U${index}")

    walk(Fragment.get(component, None), TOP)
    return found


def typical_nonzero(build: CoreBuild) -> float:
    """Mean number of pixels with vin != 0 per training image of TYPICAL_IMAGES (cost of the projection)."""
    images = datasets.load(TYPICAL_IMAGES, progress=False).train_x
    return float(np.count_nonzero(build.consts.vin_table[images], axis=1).mean())


def summary(core: EPCore) -> dict:
    """Sizes, formats, lanes, the schedule's cycles per sample and the memories of `core`."""
    build = core.build
    cfg, c = build.cfg, build.consts
    centered = cfg.variant == "centered"
    mean = typical_nonzero(build)
    nonzero = round(mean)
    mems = memories(core)
    train = build.train_cycles(nonzero, cfg.sweeps, c.sn, cfg.samples, centered)
    bound = build.lower_bound(nonzero, cfg.sweeps, centered)
    return {
        "top": TOP, "model": cfg.model, "sizes": core.sizes, "lanes": core.lanes, "noise_lanes": c.lanes,
        "formats": dataclasses.asdict(cfg.fixed),
        "settings": {"variant": cfg.variant, "sweeps": cfg.sweeps, "sweeps_eval": cfg.sweeps_eval, "order": cfg.order,
                     "sigma": cfg.sigma, "samples": cfg.samples, "batch_size": cfg.batch_size},
        "schedule": {
            "nonzero_pixels": nonzero,
            "nonzero_pixels_from": f"mean over the {TYPICAL_IMAGES} training images of the pixels with vin != 0 "
                                   f"({mean:.1f}), rounded",
            "train_cycles": train,
            "lower_bound": bound,
            "train_over_lower_bound": round(train / bound, 3),
            "infer_cycles": build.infer_cycles(nonzero, cfg.sweeps_eval),
            "load_cycles": build.load_cycles(),
        },
        "memories": mems,
        "memory_bits": sum(m["bits"] for m in mems),
    }


def generate(core: EPCore, out: Path) -> tuple[list[Path], dict]:
    """Write `core`'s Verilog (TOP.v, reproducible), its register map files and summary.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    info = summary(core)
    paths = [write_verilog(core, TOP, out), *write_regmap(core.cfg, out)]
    atomic_write_text(out / "summary.json", json.dumps(info, indent=1) + "\n")
    return [*paths, out / "summary.json"], info


def describe(info: dict) -> str:
    """A few lines for the terminal: the schedule and the memory total."""
    s = info["schedule"]
    big = sorted(info["memories"], key=lambda m: -m["bits"])[:3]
    return "\n".join([
        f"{info['top']}: {info['model']} {info['sizes']}, {info['lanes']} lanes, g {info['formats']['g_bits']} bits, "
        f"v {info['formats']['v_bits']} bits",
        f"cycles per sample ({s['nonzero_pixels']} non-zero pixels): TRAIN {s['train_cycles']:,} "
        f"({s['train_over_lower_bound']}x the lower bound {s['lower_bound']:,}), INFER {s['infer_cycles']:,}; "
        f"LOAD {s['load_cycles']:,}",
        f"memories: {len(info['memories'])}, {info['memory_bits']:,} bits; largest: "
        + ", ".join(f"{m['name']} {m['depth']}x{m['width']}" for m in big),
    ])
