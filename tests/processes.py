"""Processes seen through /proc (psutil is no dependency): state, parent and session, descendants, survivors."""

from __future__ import annotations

import os
from pathlib import Path


def stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent and session of a process (None when gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[3])


def running_pids() -> list[int]:
    """Every process id in /proc."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def survivors(watched: list[int]) -> list[int]:
    """Those of `watched`, or members of their sessions (each simulator leads one), that are still running."""
    alive = []
    for pid in running_pids():
        info = stat(pid)
        if info is not None and info[0] != "Z" and (pid in watched or info[2] in watched):
            alive.append(pid)
    return alive


def descendants(root: int) -> list[int]:
    """Every running process below `root` (children, their children, ...)."""
    parent = {pid: info[1] for pid in running_pids() if (info := stat(pid)) is not None and info[0] != "Z"}
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, ppid in parent.items() if ppid in frontier]
        found += children
        frontier = children
    return found
