"""Sweep points as Dask tasks: on a local cluster of this machine's cores, an existing scheduler, or this process."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator


POLL_SECONDS = 5.0  # between checks that a cluster still has workers while nothing finishes
NO_WORKERS_SECONDS = 120.0  # a cluster without workers this long fails the map (a nanny restarts one in seconds)


class TaskError(RuntimeError):
    """The task runner cannot start (no scheduler at the address, Dask missing); one line for the user."""


@dataclass
class Outcome:
    """What one task gave: its item, and its result or the one-line error it raised."""

    item: Any
    result: Any = None
    error: str | None = None


def default_workers() -> int:
    """Worker processes of the default local cluster: the cores this process may use."""
    return len(os.sched_getaffinity(0))


@dataclass
class Runner:
    """Runs a function over items and yields each outcome as soon as it is finished, so the caller can
    store it at once: a worker that fails or is killed then costs only the points it had not finished
    (Dask reschedules them on the remaining or restarted workers)."""

    workers: int | None = None
    scheduler: str | None = None
    serial: bool = False
    connect_timeout: float = 10.0  # seconds to reach --scheduler
    _client: Any = field(default=None, repr=False)
    _cluster: Any = field(default=None, repr=False)

    def __enter__(self) -> "Runner":
        if self.serial:
            return self
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError as e:  # pragma: no cover - dask is a pinned dependency
            raise TaskError(f"Dask is not installed ({e}); run the sweep with --serial") from None
        if self.scheduler:
            try:
                self._client = Client(self.scheduler, timeout=self.connect_timeout)
            except (OSError, TimeoutError, ValueError) as e:
                raise TaskError(f"cannot reach the Dask scheduler at {self.scheduler}: {e}") from None
            return self
        # One single-threaded process per core: the numba kernels are single-threaded, and processes
        # keep a crash or a kill confined to one worker. Loopback only; the scheduler's HTTP server on
        # a free port, so that two sweeps (or a user's own cluster on 8787) can run side by side.
        # Workers forked from a fork server start and stop in a fraction of spawn's time (which
        # re-imports everything per worker), without forking this process's threads.
        with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
            self._cluster = LocalCluster(n_workers=self.workers or default_workers(), threads_per_worker=1,
                                         processes=True, host="127.0.0.1", dashboard_address=":0",
                                         silence_logs=logging.ERROR)
        self._client = Client(self._cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    @property
    def description(self) -> str:
        """Where the tasks run, for the log."""
        if self.serial:
            return "in this process, one point after another"
        if self.scheduler:
            n = len(self._client.scheduler_info().get("workers", {})) if self._client is not None else "?"
            return f"on the Dask scheduler at {self.scheduler} ({n} workers now)"
        return f"on a local Dask cluster of {self.workers or default_workers()} worker processes"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        """fn(item) for every item, yielded in order of completion; an exception becomes Outcome.error."""
        items = list(items)
        if self.serial:
            for item in items:
                try:
                    yield Outcome(item, fn(item))
                except Exception as e:  # noqa: BLE001 - one failed point must not stop the others
                    yield Outcome(item, error=_one_line(e))
            return
        from dask.distributed import wait

        futures = {self._client.submit(fn, item, pure=False): item for item in items}
        pending, idle_since = set(futures), None
        try:
            while pending:
                try:
                    done, pending = wait(pending, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
                except TimeoutError:  # nothing finished: is anybody still working on it?
                    idle_since = self._check_workers(idle_since, len(pending))
                    continue
                idle_since = None
                for future in done:
                    item = futures[future]
                    try:
                        yield Outcome(item, future.result())
                    except Exception as e:  # noqa: BLE001 - includes KilledWorker: the point fails, the rest go on
                        yield Outcome(item, error=_one_line(e))
        finally:
            for future in futures:  # an interrupted sweep leaves no tasks running on a shared cluster
                future.cancel()


    def _check_workers(self, idle_since: float | None, pending: int) -> float | None:
        """When the cluster has had no worker for NO_WORKERS_SECONDS while tasks wait, TaskError (a sweep would
        otherwise wait forever); returns since when it has had none (None while it has some)."""
        if self._client.scheduler_info().get("workers"):
            return None
        now = time.monotonic()
        if idle_since is not None and now - idle_since > NO_WORKERS_SECONDS:
            raise TaskError(f"the Dask cluster has had no worker for {NO_WORKERS_SECONDS:g} s with {pending} task(s) "
                            "waiting (its workers died or left); the finished points are stored: rerun the command, "
                            "with fewer --workers or --serial")
        return now if idle_since is None else idle_since


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
