"""``make chaos`` scenarios worker-kills and redis-restart (issue 15; the crash runs of issue 12 grown).

Each prints its ``chaos <scenario>: ...`` line (``chaos_summary``) before asserting, then what
else it measured. ``make test`` runs the shortened versions in ``test_reliability.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .chaos_summary import assert_clean, report
from .crash_runs import run_redis_restarts, run_worker_kills

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

JOBS = 2000
KILLS = 22
KILL_EVERY = 6.0  # s: 2,000 jobs submitted evenly over the 132 s of kills, so every kill finds jobs running


@pytest.mark.timeout(900)
def test_worker_kills(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A worker SIGKILLed every 6 s during 2,000 jobs (short pictures), each restarted by the keeper:
    every job succeeds exactly once. A request resent to Semantest after a kill is no error but is
    counted: by the renderer (pictures drawn beyond one a job) and by ``/v1/stats`` → ``reliability``."""
    run = run_worker_kills(tmp_path, jobs=JOBS, kills=KILLS, every=KILL_EVERY, latency=0.15, strict=False)
    counts = run.tally()
    drawn = run.extra["renderer"]["generated"]
    report(capsys, "worker-kills", counts, kills=run.faults, worker_restarts=run.worker_restarts,
           seconds=round(run.seconds, 1), tail_after_last_submission=run.extra["tail"],
           attempts_per_job=run.extra["attempts"], renderer=run.extra["renderer"],
           semantest_requests_beyond_one_a_job=run.extra["renderer"]["requests"] - counts.succeeded,
           pictures_drawn_beyond_one_a_job=drawn - counts.succeeded,
           reliability=run.extra["reliability"], problems=run.problems)
    assert_clean(counts)
    assert counts.accepted == JOBS
    assert run.faults >= 20 and run.worker_restarts >= 20, (run.faults, run.worker_restarts)
    assert run.problems == []
    assert drawn >= JOBS  # every job's picture drawn; more than that is the resent requests, reported above


@pytest.mark.timeout(900)
def test_redis_restart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Redis (its own, AOF on) SIGKILLed and restarted 5 s later, three times at different load: the
    API answers 503 with Retry-After while it is down, the workers reconnect by themselves (none
    exits: the keeper restarts none), and every job accepted before, between or after completes."""
    run = run_redis_restarts(tmp_path, jobs=300, restarts=3, outage=5, latency=0.15, strict=False)
    counts = run.tally()
    report(capsys, "redis-restart", counts, restarts=run.faults, seconds=round(run.seconds, 1),
           answers=run.extra["answers"], worker_exits=run.extra["worker_exits"],
           worker_restarts=run.worker_restarts, renderer=run.extra["renderer"],
           reliability=run.extra["reliability"], problems=run.problems)
    assert_clean(counts)
    assert counts.accepted == 300 + 3 * 3
    assert run.problems == []  # each submission during an outage answered 503 + Retry-After, 202 on retry
    assert run.extra["worker_exits"] == [] and run.worker_restarts == 0
