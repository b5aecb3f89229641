"""Graceful drain with real worker processes: scale 1 → 3 → 1 while jobs run; SIGTERM makes a
worker stop taking jobs, finish the ones it runs (or hand back the ones it only held) and
exit 0. Every job succeeds exactly once: one attempt each, one completion event each, and
the renderer drew exactly one picture per job.

`make test` runs 200 jobs; `make chaos` runs the same with 600 jobs and two scale cycles.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from scene_weaver import keys

from .processes import drain_workers, wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e


def _submit(stack: Stack, headers: dict[str, str], count: int) -> list[str]:
    def one(index: int) -> str:
        response = requests.post(f"{stack.base}/v1/process", headers=headers, timeout=30, json={
            "speaker": "Iris", "dialogue": [f"drain {index}"], "width": 64, "height": 64})
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def _statuses(client: redis.Redis, job_ids: list[str]) -> list[str]:
    with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "status")
        return [value.decode() if value else "missing" for value in pipe.execute()]


def _scale_run(redis_url: str, home: Path, jobs: int, cycles: int) -> dict[str, float]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    stack = Stack(redis_url, home, RATE_LIMIT_PROCESS="100000/minute", WORKER_CONCURRENCY="4")
    started = time.monotonic()
    try:
        renderer = stack.start_renderer("--latency", "0.5")
        stack.start_worker("steady", concurrency=4)
        stack.start_api(workers=2)
        headers = {"Authorization": f"Bearer {stack.login()}"}
        job_ids = _submit(stack, headers, jobs)
        drained: list[int] = []
        for cycle in range(cycles):
            # Up to three...
            extra = [stack.start_worker(f"extra{cycle}a", concurrency=4),
                     stack.start_worker(f"extra{cycle}b", concurrency=4)]
            # ...and back to one, each stopped while it has jobs in flight.
            drained += drain_workers(client, extra)
        wait_until(lambda: all(s == "succeeded" for s in _statuses(client, job_ids)), 120, interval=0.5,
                   what="every job to succeed")
        assert drained == [0] * (2 * cycles), drained
        for job_id in job_ids:
            record = client.hgetall(keys.job(job_id))
            assert record[b"attempts"] == b"1", (job_id, record)
            events = client.xrange(keys.job_events(job_id))
            assert sum(1 for _, fields in events if fields[b"type"] == b"completed") == 1, job_id
            assert sum(1 for _, fields in events if fields[b"type"] == b"started") == 1, job_id
        stats = renderer.stats()
        assert stats["generated"] == jobs, stats  # no picture drawn twice
        assert not any("Traceback" in line for worker in stack.workers for line in worker.output)
        return {"jobs": jobs, "seconds": round(time.monotonic() - started, 1), "drained_workers": len(drained)}
    finally:
        stack.stop()


def test_scale_up_and_down_during_200_jobs_each_succeeds_once(redis_url: str, tmp_path: Path) -> None:
    measured = _scale_run(redis_url, tmp_path, jobs=200, cycles=1)
    print(f"drain run: {measured}")


@pytest.mark.chaos
def test_scale_cycles_during_600_jobs(redis_url: str, tmp_path: Path) -> None:
    measured = _scale_run(redis_url, tmp_path, jobs=600, cycles=3)
    print(f"drain run (chaos): {measured}")
