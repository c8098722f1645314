"""Simulator processes that live and die with the host: each in its own process group, ended with the host.

Every command cocotb's runner starts for a SimBuild (the build's make, the simulator) goes through `run`: it
starts the command in a new session (a Ctrl-C or a signal to the host's process group does not reach it; the host
ends it), asks Linux to kill it when the thread that started it is gone (PR_SET_PDEATHSIG: the host was
killed), and on any exception while it waits (KeyboardInterrupt, SystemExit) ends its group before passing the
exception on. `end_all` ends the groups that other threads of this process wait on (a flow that runs the
simulation from a worker thread calls it when its main thread is interrupted).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL of a group: time for make to delete half-written targets
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_live: set[subprocess.Popen] = set()
_lock = threading.Lock()


def _die_with_parent(parent: int) -> Callable[[], None]:
    """The child's first step after fork: SIGKILL when the forking thread ends; exit if the host already died."""

    def setup() -> None:
        if _libc is not None:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the host died between fork and prctl: nobody would ever end this process
            os._exit(1)

    return setup


def end(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """End the process group of `proc` (SIGTERM, then SIGKILL after `grace` seconds) and wait for its leader and
    every other member: a member that outlives the leader (the simulator under a launcher) may still write files."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        proc.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + grace
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not _group_alive(proc.pid):
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return


def _group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` is left (zombies count until they are reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def end_all() -> None:
    """End every simulator group this process started that is still running."""
    with _lock:
        procs = list(_live)
    for proc in procs:
        end(proc)


def run(cmd: Sequence[str], cwd: str | os.PathLike, env: Mapping[str, str], stdout: TextIO | None = None) -> int:
    """Run `cmd` in its own process group (stdout and stderr to `stdout` when given) and return its exit status;
    its group is ended if anything interrupts the wait."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=None if stdout is None else subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
    with _lock:
        _live.add(proc)
    try:
        return proc.wait()
    finally:
        end(proc)
        with _lock:
            _live.discard(proc)


def execute_with(env: Callable[[], Mapping[str, str]]) -> Callable[..., None]:
    """A replacement for cocotb_tools' Runner._execute_cmds that runs each command through `run` (`env` gives the
    runner's environment at call time); a failed command raises RuntimeError, as the runner's own does."""

    def execute(cmds: Sequence[Sequence[str]], cwd: str | os.PathLike, stdout: TextIO | None = None) -> None:
        for cmd in cmds:
            status = run(cmd, cwd, env(), stdout)
            if status != 0:
                raise RuntimeError(f"Command failed with return code: {status}")

    return execute
