"""Priorities are real: a high job overtakes a backlog of low ones on a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from .processes import wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

BACKLOG = 40


@pytest.fixture(scope="module")
def narrow_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(redis_url).flushdb()
    home: Path = tmp_path_factory.mktemp("prio")
    stack = Stack(redis_url, home, WORKER_CONCURRENCY="2")
    try:
        stack.start_renderer("--latency", "0.25")
        stack.start_api(workers=1)
        yield stack
    finally:
        stack.stop()


def test_high_job_waits_for_one_slot_not_the_backlog(narrow_stack: Stack) -> None:
    stack = narrow_stack
    token = stack.login()
    headers = {"Authorization": f"Bearer {token}"}
    lows = [
        requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10,
                      json={"speaker": "Iris", "dialogue": f"low number {i}", "priority": "low"}).json()["job_id"]
        for i in range(BACKLOG)
    ]
    # The backlog is queued before any worker exists, so nothing has been fetched yet.
    stack.start_worker(concurrency=2)

    def job_of(job_id: str) -> dict:
        return requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()

    # The worker is busy with the backlog before the high job arrives.
    wait_until(lambda: job_of(lows[0])["started_at"], 60, interval=0.05, what="the worker to start the backlog")
    high = requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10,
                         json={"speaker": "Tomas", "dialogue": "urgent", "priority": "high"}).json()["job_id"]

    def high_done() -> dict | None:
        found = job_of(high)
        return found if found["status"] in ("succeeded", "failed", "canceled") else None

    job = wait_until(high_done, 60, interval=0.05, what="the high job to finish")
    assert job["status"] == "succeeded", job
    low_jobs = [requests.get(f"{stack.base}/v1/jobs/{low}", headers=headers, timeout=10).json() for low in lows]
    overtaken_by = [
        low for low in low_jobs
        if low["started_at"] and job["created_at"] < low["started_at"] < job["started_at"]
    ]
    # Strict order, no prefetch: once the high job is queued, the next free slot takes it.
    # At most one low job per slot may already have been taken off the queue at that instant.
    assert len(overtaken_by) <= 2, [low["started_at"] for low in overtaken_by]
    assert sum(low["status"] != "succeeded" for low in low_jobs) > BACKLOG // 2, "the backlog was still there"
