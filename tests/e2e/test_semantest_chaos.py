"""``make chaos`` scenario renderer-down (issue 15): Semantest (the renderer) gone for 30 s mid-run.

``test_semantest_faults.py`` runs the same outage for 12 s in every ``make test``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .chaos_summary import assert_clean, completed_counts, report, tally
from .fault_runs import StackFactory, assert_outage_absorbed, run_outage, stacks

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

OUTAGE = 30.0
JOBS = 120


@pytest.fixture
def make_stack(redis_url: str, tmp_path: Path) -> Iterator[StackFactory]:
    with stacks(redis_url, tmp_path) as make:
        yield make


@pytest.mark.timeout(900)
def test_renderer_down(make_stack: StackFactory, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The breaker opens, parked jobs wait instead of failing, only the breaker's probes (one per
    cool-down, fleet-wide) knock while the service is down, and every job completes once it is back."""
    run = run_outage(make_stack, redis_url, outage=OUTAGE, jobs=JOBS)
    job_ids = [job["job_id"] for job in run.jobs]
    counts = tally({job["job_id"]: job.get("status") for job in run.jobs}, completed_counts(redis_url, job_ids), job_ids)
    report(capsys, "renderer-down", counts, outage_seconds=OUTAGE, seconds=round(run.measures.seconds, 1),
           probes_during_outage=run.probes_during_outage,
           connections_during_outage=run.connections_during_outage,
           pool_connect_attempts_during_outage=run.attempts_during_outage,
           allowed_beyond_probes=run.slack, attempts_per_job=run.measures.attempts,
           waits_per_job=run.measures.waits, retry_codes=run.measures.retry_codes)
    assert_clean(counts)
    assert counts.accepted == JOBS
    assert_outage_absorbed(run, redis_url, outage=OUTAGE)
