"""The co-design explorer (`host explore`): number formats x lanes x pipeline depth x part, each design's accuracy,
resources, clock and training throughput side by side, and the Pareto-optimal designs per part.

An explore folder holds `explore.json` (the settings every design shares: checked when a rerun resumes it),
`points/` (a file per finished format's accuracy and per finished design, written whole as each finishes), and the
tables rebuilt from them: `designs.csv`, `summary.json`, `pareto.png` and `pareto.md`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from golden import config
from golden.config import Config
from golden.datasets import load as load_dataset
from golden.files import atomic_write_bytes, atomic_write_text
from golden.train import RunError
from hdl.estimate import PARTS as XILINX_PARTS
from hdl.plan import CoreBuild
from host.flows import pnr
from host.studies import bits
from host.studies.report import pyplot
from host.studies.runner import Runner

SETTINGS, POINTS = "explore.json", "points"
COLUMNS = ("part", "lanes", "depth", "rounding", "v_bits", "v_frac", "g_bits", "g_frac", "test_accuracy",
           "float_accuracy", "delta", "fits", "largest_share", "fmax_mhz", "clock_mhz", "clock_from",
           "cycles_per_sample",
           "samples_per_second", "pareto", "LUT4", "TRELLIS_FF", "DP16KD", "MULT18X18D", "lut", "ff", "dsp",
           "bram36", "seconds")


@dataclass(frozen=True)
class Format:
    """A number format of the grid (the bit sweep's point at the base config's noise)."""

    rounding: str
    v_frac: int
    g_frac: int

    @property
    def key(self) -> str:
        return f"{self.rounding}-v{self.v_frac}-g{self.g_frac}"


@dataclass(frozen=True)
class Design:
    """A design of the grid: a format, the core's lanes and pipeline depth (hdl/plan.py), a part."""

    format: Format
    lanes: int
    depth: int
    part: str

    @property
    def key(self) -> str:
        return f"{self.format.key}-p{self.lanes}-d{self.depth}-{self.part}"

    def build(self, base: Config) -> CoreBuild:
        """The core of this design, its products split for the part's multiplier blocks."""
        return CoreBuild(format_config(base, self.format), self.lanes, depth=self.depth, family=family(self.part))


@dataclass(frozen=True)
class Study:
    """What every design of an explore folder shares."""

    config: dict        # the base config (golden/config.py's Config as a dict); each format replaces its [fixed]
    speed: int          # ECP5 speed grade
    clock_mhz: float    # the target clock: nextpnr's constraint, and the clock assumed on Xilinx parts


def family(part: str) -> str:
    """'ecp5' (placed and routed here) or 'xilinx' (yosys's estimate, no routed clock) for a part name."""
    if part.upper() in pnr.PARTS:
        return "ecp5"
    if part in XILINX_PARTS:
        return "xilinx"
    raise config.ConfigError(f"unknown part {part!r}; choose from {', '.join([*pnr.PARTS, *XILINX_PARTS])}")


def format_config(base: Config, fmt: Format) -> Config:
    """The hardware config of a format: the bit sweep's widths for it (host/studies/bits.py)."""
    return bits.point_config(base, bits.Point(fmt.rounding, base.sigma, fmt.v_frac, fmt.g_frac))


def grid(base: Config, v_fracs: list[int], g_fracs: list[int], roundings: list[str], lanes: list[int],
         depths: list[int], parts: list[str]) -> list[Design]:
    """The designs of the grid, each checked against the core's rules before any work starts."""
    config.require(bool(v_fracs and g_fracs and roundings and lanes and depths and parts),
                   "explore: every grid axis needs a value")
    for name in roundings:
        config.require(name in bits.ROUNDING_SETS,
                       f"unknown rounding {name!r}; choose from {', '.join(bits.ROUNDING_SETS)}")
    designs = [Design(Format(r, v, g), p, d, part) for r in roundings for v in v_fracs for g in g_fracs
               for p in lanes for d in depths for part in parts]
    for d in designs:
        d.build(base)  # ConfigError (one line) for an unknown part or what the core cannot be
    return designs


def open_study(out: Path, study: Study) -> None:
    """Create the folder of a new exploration, or check that an existing one holds the same settings."""
    path = out / SETTINGS
    if path.exists():
        try:
            stored = Study(**json.loads(path.read_text()))
        except (ValueError, TypeError) as e:
            raise RunError(f"{path} is not written by host explore ({e})") from None
        if stored != study:
            diff = [k for k in dataclasses.asdict(study) if getattr(stored, k) != getattr(study, k)]
            raise RunError(f"{out} holds an exploration with other settings ({', '.join(diff)}); use them or "
                           "another --out")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out} exists and holds no exploration; choose another --out")
    try:
        (out / POINTS).mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(dataclasses.asdict(study), indent=1) + "\n")
    except OSError as e:
        raise RunError(f"cannot write to output folder {out}: {e.strerror or e}") from None


ACCURACY = ("test_accuracy", "float_accuracy", "delta")  # what a stored format holds
HARDWARE = ("cycles_per_sample", "fits", "resources", "largest_share", "fmax_mhz", "clock_mhz", "clock_from", "seconds")


def _stored(out: Path, name: str, keys: tuple[str, ...]) -> dict | None:
    """A finished point of the folder (None when not yet run); RunError for one that is not a dict with `keys`."""
    path = out / POINTS / f"{name}.json"
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
        missing = [k for k in keys if k not in value] if isinstance(value, dict) else list(keys)
    except ValueError as e:
        missing = [str(e)]
    if missing:
        raise RunError(f"{path} is damaged (no {', '.join(missing)}); delete it and rerun to redo that point")
    return value


def _store(out: Path, name: str, value: dict) -> None:
    atomic_write_text(out / POINTS / f"{name}.json", json.dumps(value, indent=1) + "\n")


def accuracy_from_sweep(path: Path, base: Config) -> dict[str, dict]:
    """Accuracies of formats from a `host sweep bits` summary (its sweep.json) of the same network and noise:
    {format key: {test_accuracy, float_accuracy, delta}}."""
    try:
        summary = json.loads(path.read_text())
        swept = summary["config"]
        found = {Format(r["rounding"], r["v_frac"], r["g_frac"]).key: {k: r[k] for k in ACCURACY}
                 for r in summary["rows"] if r["sigma"] == base.sigma}
        same = swept.get("hidden") == base.hidden and swept.get("dataset") == base.dataset
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise RunError(f"--accuracy {path}: not a sweep.json written by host sweep bits ({e})") from None
    config.require(same, f"--accuracy {path} is a sweep of {swept.get('hidden')} on {swept.get('dataset')}, not of "
                         f"this network ({base.hidden} on {base.dataset})")
    return found


def _accuracy(task: tuple[str, Config]) -> float:
    """The golden model's test accuracy after training a (name, config) (in a Dask worker)."""
    cfg = task[1]
    return bits.train_accuracy(cfg, load_dataset(cfg.dataset, cfg.data_dir, progress=False))[0]


def cycles_per_sample(build: CoreBuild) -> int:
    """Core cycles of one TRAIN sample of a typical training image (hdl/plan.py's formula)."""
    from hdl.generate import typical_nonzero  # reads the bundled images

    cfg = build.cfg
    return build.train_cycles(round(typical_nonzero(build)), cfg.sweeps, build.consts.sn, cfg.samples, build.centered)


def _hardware(task: tuple[Study, Design, Path]) -> dict:
    """Resources and clock of one design (in a Dask worker): place and route on ECP5, yosys's estimate on Xilinx."""
    study, design, folder = task
    base = config.apply(Config(), study.config, "explore.json").validate()
    build = design.build(base)
    result = {"cycles_per_sample": cycles_per_sample(build)}
    if family(design.part) == "ecp5":
        try:
            report = pnr.place_and_route(build, pnr.part(design.part), study.speed, study.clock_mhz, folder,
                                         say=lambda line: None)
        except pnr.DoesNotFit as e:
            report = e.report
        resources = report["resources"]
        fmax = min((c["fmax_mhz"] for c in report.get("clocks", [])), default=None)
        return {**result, "fits": report["fits"], "resources": {k: r["used"] for k, r in resources.items()},
                "largest_share": max(r["share"] for r in resources.values()), "fmax_mhz": fmax,
                "clock_mhz": fmax, "clock_from": "routed", "seconds": report.get("seconds", {}).get("total")}
    from hdl.estimate import estimate
    from hdl.top import EPTop

    found = estimate(EPTop(build), "ep_top", design.part)
    return {**result, "fits": found["fits"], "resources": {k: found["used"][k] for k in ("lut", "ff", "dsp", "bram36")},
            "largest_share": max(found["utilisation"].values()), "fmax_mhz": None, "clock_mhz": study.clock_mhz,
            "clock_from": "assumed (no open router for Xilinx)", "seconds": sum(found["seconds"].values())}


def row(design: Design, accuracy: dict, hardware: dict, base: Config) -> dict:
    """The table row of a finished design of the exploration of `base`."""
    fmt = format_config(base, design.format).fixed
    clock = hardware["clock_mhz"]
    rate = clock * 1e6 / hardware["cycles_per_sample"] if clock else None
    return {"part": design.part, "lanes": design.lanes, "depth": design.depth, "rounding": design.format.rounding,
            "v_bits": fmt.v_bits, "v_frac": fmt.v_frac, "g_bits": fmt.g_bits, "g_frac": fmt.g_frac, **accuracy,
            **{k: hardware[k] for k in ("fits", "largest_share", "fmax_mhz", "clock_mhz", "clock_from",
                                        "cycles_per_sample", "seconds")},
            "samples_per_second": None if rate is None else round(rate, 1), **hardware["resources"], "key": design.key}


def pareto(rows: list[dict]) -> set[str]:
    """Keys of the designs that fit and that no other fitting design of the same part beats in both test accuracy
    and training samples/s (at least as good in both, better in one)."""
    front = set()
    fitting = [r for r in rows if r["fits"] and r["samples_per_second"] is not None]
    for r in fitting:
        beaten = any(o["part"] == r["part"] and o["test_accuracy"] >= r["test_accuracy"]
                     and o["samples_per_second"] >= r["samples_per_second"]
                     and (o["test_accuracy"], o["samples_per_second"]) != (r["test_accuracy"], r["samples_per_second"])
                     for o in fitting)
        if not beaten:
            front.add(r["key"])
    return front


def explore(study: Study, designs: list[Design], out: Path, runner: Runner, accuracy: dict[str, dict] | None = None,
            data_dir: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Gather every design's accuracy and hardware not yet stored in `out` (the formats' accuracies from `accuracy`
    or trained on the runner with the data in `data_dir`, the hardware on the runner), then write the tables; returns
    the summary. A failed design is logged and left out; rerunning the command retries it."""
    base = dataclasses.replace(config.apply(Config(), study.config, "explore.json").validate(), data_dir=data_dir)
    formats = list(dict.fromkeys(d.format for d in designs))
    known = {f.key: _stored(out, f"accuracy-{f.key}", ACCURACY) for f in formats}
    for f in formats:
        if known[f.key] is None and accuracy is not None and f.key in accuracy:
            known[f.key] = accuracy[f.key]
            _store(out, f"accuracy-{f.key}", known[f.key])
    todo = [f for f in formats if known[f.key] is None]
    hardware = {d.key: _stored(out, d.key, HARDWARE) for d in designs}
    pending = [d for d in designs if hardware[d.key] is None]
    log(f"{len(formats) - len(todo)} of {len(formats)} formats' accuracies and {len(designs) - len(pending)} of "
        f"{len(designs)} designs already known in {out}")
    failed = []
    if todo:
        reference = dataclasses.replace(base, precision="float", dtype="float64")
        float_acc = _stored(out, "float", ACCURACY[:1]) or {"test_accuracy": _accuracy(("float64", reference))}
        _store(out, "float", float_acc)
        log(f"float64 reference: test accuracy {100 * float_acc['test_accuracy']:.2f}%")
    by_key = {f.key: f for f in todo}
    for outcome in runner.map(_accuracy, [(f.key, format_config(base, f)) for f in todo]):
        f = by_key[outcome.item[0]]
        if outcome.error is not None:
            failed.append(f"format {f.key}: {outcome.error}")
            continue
        known[f.key] = {"test_accuracy": outcome.result, "float_accuracy": float_acc["test_accuracy"],
                        "delta": outcome.result - float_acc["test_accuracy"]}
        _store(out, f"accuracy-{f.key}", known[f.key])
        log(f"  accuracy {f.key}: {100 * outcome.result:.2f}% ({100 * known[f.key]['delta']:+.2f} against float)")
    for outcome in runner.map(_hardware, [(study, d, out / POINTS / f"pnr-{d.key}") for d in pending]):
        d = outcome.item[1]
        if outcome.error is not None:
            failed.append(f"design {d.key}: {outcome.error}")
            continue
        hardware[d.key] = outcome.result
        _store(out, d.key, outcome.result)
        r = outcome.result
        log(f"  {d.key}: {'fits' if r['fits'] else 'does not fit'}, largest share {100 * r['largest_share']:.0f}%, "
            f"clock {r['clock_mhz'] if r['clock_mhz'] is None else round(r['clock_mhz'], 1)} MHz "
            f"({r['clock_from']}), {r['cycles_per_sample']:,} cycles per sample")
    for line in failed:
        log(f"failed: {line}")
    rows = [row(d, known[d.format.key], hardware[d.key], base) for d in designs
            if known[d.format.key] is not None and hardware[d.key] is not None]
    return write_tables(out, study, rows, failed)


def write_tables(out: Path, study: Study, rows: list[dict], failed: list[str]) -> dict:
    """designs.csv, summary.json, pareto.md and pareto.png of the finished designs."""
    front = pareto(rows)
    for r in rows:
        r["pareto"] = r["key"] in front
    rows.sort(key=lambda r: (r["part"], -(r["samples_per_second"] or 0), -r["test_accuracy"]))
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "designs.csv", table.getvalue())
    summary = {"study": dataclasses.asdict(study), "designs": rows, "failed": failed,
               "pareto": {part: [r["key"] for r in rows if r["pareto"] and r["part"] == part]
                          for part in sorted({r["part"] for r in rows})}}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    atomic_write_text(out / "pareto.md", markdown(rows))
    atomic_write_bytes(out / "pareto.png", plot(rows))
    return summary


def markdown(rows: list[dict]) -> str:
    """The Pareto-optimal designs per part, as a Markdown table each."""
    text = ["# Pareto-optimal designs per part", "",
            "Test accuracy against training samples/s at the clock (routed on ECP5, assumed on Xilinx); a design is",
            "on the front when no other design of the part that fits is at least as good in both and better in one.",
            ""]
    for part in sorted({r["part"] for r in rows}):
        front = [r for r in rows if r["part"] == part and r["pareto"]]
        text += [f"## {part}", ""]
        if not front:
            text += ["No design of the grid fits.", ""]
            continue
        text += ["| P | depth | rounding | v bits (frac) | g bits (frac) | test accuracy | vs float | clock MHz "
                 "| cycles/sample | samples/s | largest share |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in front:
            text.append(f"| {r['lanes']} | {r['depth']} | {r['rounding']} | {r['v_bits']} ({r['v_frac']}) | "
                        f"{r['g_bits']} ({r['g_frac']}) | {100 * r['test_accuracy']:.2f}% | {100 * r['delta']:+.2f} | "
                        f"{r['clock_mhz']:.1f} ({r['clock_from'].split(' ')[0]}) | {r['cycles_per_sample']:,} | "
                        f"{r['samples_per_second']:,.0f} | {100 * r['largest_share']:.0f}% |")
        text.append("")
    return "\n".join(text)


def plot(rows: list[dict]) -> bytes:
    """Test accuracy against training samples/s, a marker per design (its size: the largest resource share; hollow:
    does not fit), the Pareto front of each part joined."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, part in enumerate(sorted({r["part"] for r in rows})):
        color = f"C{i}"
        mine = [r for r in rows if r["part"] == part and r["samples_per_second"] is not None]
        for r in mine:
            size = 20 + 180 * min(1.0, r["largest_share"])
            ax.scatter(r["samples_per_second"], 100 * r["test_accuracy"], s=size, edgecolors=color,
                       facecolors=color if r["fits"] else "none", alpha=0.8)
        front = sorted((r for r in mine if r["pareto"]), key=lambda r: r["samples_per_second"])
        ax.plot([r["samples_per_second"] for r in front], [100 * r["test_accuracy"] for r in front], color=color,
                label=part)
    if any(r["samples_per_second"] for r in rows):
        ax.set_xscale("log")
    ax.set_xlabel("training samples/s at the clock")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Designs (marker size: largest resource share; hollow: does not fit)")
    if rows:
        ax.legend()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
