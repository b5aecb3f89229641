"""The long crash runs of issue 12, run by ``make chaos`` (``-m chaos``); ``make test`` runs the
shortened ones in ``test_reliability.py``. Each prints what it measured (docs/RELIABILITY.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .crash_runs import run_redis_restarts, run_worker_kills

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


@pytest.mark.timeout(900)
def test_300_jobs_2_workers_no_faults(tmp_path: Path) -> None:
    """The baseline of the run below: the same load and pacing, no kill."""
    run = run_worker_kills(tmp_path, jobs=300, kills=0, every=8, latency=1.0, period=96)
    print(run.report("no faults"))
    assert run.succeeded == len(run.accepted) == 300


@pytest.mark.timeout(900)
def test_300_jobs_2_workers_a_sigkill_every_8s(tmp_path: Path) -> None:
    run = run_worker_kills(tmp_path, jobs=300, kills=12, every=8, latency=1.0)
    print(run.report("12 worker SIGKILLs"))
    assert run.faults >= 10
    assert run.succeeded == len(run.accepted) == 300
    assert run.extra["exactly_one_completed"] == 300
    # The last kill comes with the last submission: its jobs resume within 30 s, then take a picture's time.
    assert run.extra["tail"] <= 30 + 10


@pytest.mark.timeout(900)
def test_200_jobs_redis_killed_and_restarted_from_its_aof_three_times(tmp_path: Path) -> None:
    run = run_redis_restarts(tmp_path, jobs=200, restarts=3, outage=5, latency=1.0)  # jobs running at each kill
    print(run.report("3 Redis SIGKILLs, restarted from the AOF after 5 s"))
    assert run.succeeded == len(run.accepted) == 200 + 3 * 3
    assert run.extra["exactly_one_completed"] == len(run.accepted)
    assert run.extra["worker_exits"] == []  # the workers survive (the keeper would restart them)
