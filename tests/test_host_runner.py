"""Tests of host.studies.runner: serial and Dask runs, failures and killed workers, a cluster left without workers,
an unreachable scheduler."""

import os
from pathlib import Path

import pytest

from host.studies import runner as runner_module
from host.studies.runner import Runner, TaskError


def square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("three is\nnot allowed")
    return x * x


def die_once(item: tuple[int, str]) -> int:
    """Kill the worker process the first time item 2 runs (a marker file remembers), then succeed."""
    x, marker = item
    if x == 2 and not Path(marker).exists():
        Path(marker).write_text("killed once")
        os._exit(1)
    return x * 10


def test_serial_runs_in_order_and_keeps_going_after_a_failure():
    with Runner(serial=True) as runner:
        outcomes = list(runner.map(square_or_fail, range(5)))
        assert runner.description == "in this process, one point after another"
    assert [o.item for o in outcomes] == [0, 1, 2, 3, 4]
    assert [o.result for o in outcomes] == [0, 1, 4, None, 16]
    assert outcomes[3].error == "ValueError: three is not allowed"


@pytest.fixture(scope="module")
def cluster():
    with Runner(workers=2) as runner:
        yield runner


def test_dask_gives_every_result_and_the_failures(cluster):
    outcomes = {o.item: o for o in cluster.map(square_or_fail, range(8))}
    assert sorted(outcomes) == list(range(8))
    assert {x: o.result for x, o in outcomes.items() if x != 3} == {x: x * x for x in range(8) if x != 3}
    assert outcomes[3].error == "ValueError: three is not allowed"
    assert "local Dask cluster of 2 worker processes" in cluster.description


def test_a_killed_worker_loses_no_point(cluster, tmp_path):
    marker = str(tmp_path / "killed")
    outcomes = list(cluster.map(die_once, [(x, marker) for x in range(6)]))
    assert Path(marker).exists()  # a worker did die
    assert sorted((o.item[0], o.result, o.error) for o in outcomes) == [(x, 10 * x, None) for x in range(6)]


def test_an_unreachable_scheduler_is_one_line():
    with pytest.raises(TaskError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with Runner(scheduler="tcp://127.0.0.1:9", connect_timeout=1):
            pass


def test_an_existing_scheduler_runs_the_tasks():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        with Runner(scheduler=cluster.scheduler_address) as runner:
            assert runner.description == f"on the Dask scheduler at {cluster.scheduler_address} (1 workers now)"
            assert sorted(o.result for o in runner.map(square_or_fail, [1, 2])) == [1, 4]


def test_a_cluster_without_workers_fails_instead_of_waiting(monkeypatch):
    """Every worker gone for good (not restarted): the map ends in one TaskError line, not a wait forever."""
    monkeypatch.setattr(runner_module, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(runner_module, "NO_WORKERS_SECONDS", 1.0)
    with Runner(workers=1) as runner:
        runner._cluster.scale(0)
        with pytest.raises(TaskError, match=r"no worker for 1 s with 3 task\(s\) waiting"):
            list(runner.map(square_or_fail, range(3)))
