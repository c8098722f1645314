"""The place-and-route report, one schema for both tools: built from nextpnr-ecp5's `--report` JSON or from
Vivado's report_timing_summary and report_utilization text.

    {"clocks": [{"name", "target_mhz", "fmax_mhz", "pass"}], "timing_met",
     "critical_path": {"from", "to", "delay_ns", "logic_ns", "routing_ns", "steps", "clock"} or null,
     "resources": {name: {"used", "available", "share"}}, "fits"}
"""

from __future__ import annotations

import re

# nextpnr names a cell after the net it drives plus its type and port chain (`x.y.acc_TRELLIS_FF_Q_12`,
# `..._CCU2C_S0$CCU2_COMB0`); the design's own name is the part before the first cell type.
_CELL_SUFFIX = re.compile(r"(_(TRELLIS_FF|TRELLIS_COMB|TRELLIS_DPR16X4|TRELLIS_RAMW|CCU2C|LUT4|PFUMX|L6MUX21|DP16KD|"
                          r"MULT18X18D|ALU54B)(_|\$|$).*|\$(TRELLIS|CCU2|tr_io).*)$")
# nextpnr's report calls the resources by their bels; these are the names the report uses.
ECP5_RESOURCES = {"TRELLIS_COMB": "LUT4", "TRELLIS_FF": "TRELLIS_FF", "DP16KD": "DP16KD", "MULT18X18D": "MULT18X18D"}


def design_name(name: str) -> str:
    """The design's signal name in a nextpnr cell or net name (`$auto$...` names stay as they are)."""
    if name.startswith("$"):
        return name
    return _CELL_SUFFIX.sub("", name) or name


def clock_name(net: str) -> str:
    """The clock's own name in nextpnr's global net name (`$glbnet$clk$TRELLIS_IO_IN` -> `clk`)."""
    parts = [p for p in net.split("$") if p and p != "glbnet" and not p.startswith("TRELLIS_")]
    return parts[0] if parts else net


def resource(used: float, available: float) -> dict:
    """One resource's use against its capacity."""
    return {"used": used, "available": available, "share": round(used / available, 4) if available else None}


def fits(resources: dict[str, dict]) -> bool | None:
    """Whether every resource is within its capacity (None when no resource was counted)."""
    return all(r["used"] <= r["available"] for r in resources.values()) if resources else None


def _clock(name: str, target_mhz: float, fmax_mhz: float) -> dict:
    return {"name": name, "target_mhz": round(target_mhz, 3), "fmax_mhz": round(fmax_mhz, 2),
            "pass": fmax_mhz >= target_mhz}


def from_nextpnr(raw: dict) -> dict:
    """The report's timing and resources from nextpnr-ecp5's `--report` JSON (`fmax`, `critical_paths`,
    `utilization`); the critical path is the worst clock-to-clock one, its ends named as in the design."""
    clocks = [_clock(clock_name(net), c["constraint"], c["achieved"]) for net, c in sorted(raw.get("fmax", {}).items())]
    worst = None
    for path in raw.get("critical_paths", []):
        if path["from"].startswith("<") or path["to"].startswith("<") or not path["path"]:
            continue  # a pin-to-register path: not the core's
        delay = sum(step["delay"] for step in path["path"])
        if worst is None or delay > worst[0]:
            worst = delay, path
    critical = None
    if worst is not None:
        delay, path = worst
        steps = path["path"]
        routed = [s for s in steps if s["type"] == "routing"]
        start = routed[0]["net"] if routed and not routed[0]["net"].startswith("$") else steps[0]["from"]["cell"]
        critical = {"from": design_name(start), "to": design_name(steps[-1]["to"]["cell"]),
                    "from_cell": steps[0]["from"]["cell"], "to_cell": steps[-1]["to"]["cell"],
                    "clock": clock_name(path["from"].split()[-1]), "delay_ns": round(delay, 3),
                    "logic_ns": round(sum(s["delay"] for s in steps if s["type"] != "routing"), 3),
                    "routing_ns": round(sum(s["delay"] for s in routed), 3), "steps": len(steps)}
    used = raw.get("utilization", {})
    resources = {name: resource(used[bel]["used"], used[bel]["available"])
                 for bel, name in ECP5_RESOURCES.items() if bel in used}
    return {"clocks": clocks, "timing_met": bool(clocks) and all(c["pass"] for c in clocks),
            "critical_path": critical, "resources": resources, "fits": fits(resources)}


# ---- Vivado ------------------------------------------------------------------------------------

# report_utilization's rows for each resource (7 series, then UltraScale+ names); the first row found counts.
VIVADO_RESOURCES = {"LUT": ("Slice LUTs", "CLB LUTs"), "FF": ("Slice Registers", "CLB Registers"),
                    "BRAM36": ("Block RAM Tile",), "DSP": ("DSPs",), "URAM": ("URAM",)}


def _section(text: str, title: str) -> str:
    """The text of report section `title` (the `| title` banner) up to the next banner."""
    match = re.search(rf"^\|\s*{re.escape(title)}\s*$(.*?)(?=^-{{20,}}\s*\n\|\s*[A-Za-z]|\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def _table(text: str) -> list[list[str]]:
    """The rows (cells split on `|`) of the fixed-width tables in `text`."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.strip().startswith("|") and not line.strip().startswith("|-")]


def vivado_resources(utilization: str) -> dict[str, dict]:
    """LUT, FF, BRAM36, DSP (and URAM where the part has it) used and available from report_utilization."""
    found: dict[str, dict] = {}
    header: list[str] = []
    for row in _table(utilization):
        if row and row[0] == "Site Type":
            header = row
            continue
        if not header or "Used" not in header or "Available" not in header:
            continue
        for name, labels in VIVADO_RESOURCES.items():
            if name not in found and row[0] in labels:
                used, available = (float(row[header.index(k)]) for k in ("Used", "Available"))
                if available:
                    found[name] = resource(int(used) if used.is_integer() else used, int(available))
    return found


def _number(text: str) -> float | None:
    """`text` as a number, None when it is not one (NA, a header)."""
    try:
        return float(text)
    except ValueError:
        return None


# The first path of a "Max Delay Paths" section: slack, source and destination pins, path group, data path delay.
_MAX_PATH = re.compile(r"Max Delay Paths\s*\n-+\s*\nSlack[^:]*:\s*(-?[\d.]+)ns.*?\n\s*Source:\s*(\S+).*?\n\s*"
                       r"Destination:\s*(\S+).*?\n\s*Path Group:\s*(\S+).*?Data Path Delay:\s*([\d.]+)ns\s*\(logic "
                       r"([\d.]+)ns.*?route ([\d.]+)ns", re.S)


def from_vivado(timing: str, utilization: str) -> dict:
    """The report from Vivado's report_timing_summary and report_utilization text: per clock, Fmax =
    1 / (period - WNS) from the Clock Summary and the Intra Clock Table; the critical path is the Max Delay Path of
    least slack; the resources from the Slice Logic, Memory and DSP tables."""
    periods = {}
    for line in _section(timing, "Clock Summary").splitlines():
        match = re.match(r"^\s*(\S+)\s+\{[^}]*\}\s+([\d.]+)\s+([\d.]+)\s*$", line)
        if match:
            periods[match.group(1)] = float(match.group(2))
    clocks = []
    for line in _section(timing, "Intra Clock Table").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in periods and _number(words[1]) is not None:
            period, wns = periods[words[0]], float(words[1])
            clocks.append(_clock(words[0], 1000 / period, 1000 / (period - wns)))
    critical = None
    for match in _MAX_PATH.finditer(timing):  # one per clock and path group: the worst slack is the critical one
        slack, source, destination, group, delay, logic, route = match.groups()
        if critical is None or float(slack) < critical["slack_ns"]:
            critical = {"from": source, "to": destination, "clock": group, "delay_ns": float(delay),
                        "logic_ns": float(logic), "routing_ns": float(route), "slack_ns": float(slack)}
    resources = vivado_resources(utilization)
    return {"clocks": clocks, "timing_met": bool(clocks) and all(c["pass"] for c in clocks),
            "critical_path": critical, "resources": resources, "fits": fits(resources)}


def describe(report: dict) -> str:
    """A short summary: each clock against its target, the critical path, the resource table and the verdict."""
    lines = [f"  clock {c['name']}: Fmax {c['fmax_mhz']:.2f} MHz, target {c['target_mhz']:g} MHz: "
             f"{'PASS' if c['pass'] else 'FAIL'}" for c in report.get("clocks", [])]
    path = report.get("critical_path")
    if path:
        lines.append(f"  critical path {path['delay_ns']:.2f} ns ({path['logic_ns']:.2f} logic, {path['routing_ns']:.2f} "
                     f"routing): {path['from']} -> {path['to']}")
    lines.append(resource_table(report["resources"]))
    lines.append(f"  {({True: 'fits', False: 'does not fit', None: 'resources unknown'})[report['fits']]}")
    return "\n".join(lines)


def resource_table(resources: dict[str, dict]) -> str:
    """One line per resource: used of available (share)."""
    return "\n".join(f"  {name:11} {r['used']:>9,} of {r['available']:>7,} ({100 * r['used'] / r['available']:.1f}%)"
                     for name, r in resources.items())
