"""A killed worker's jobs complete exactly once; a cancel reaches the request in flight."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from scene_weaver import keys
from scene_weaver.jobs import JobStore

from .processes import wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_stack(redis_url: str, tmp_path: Path) -> Iterator:
    stacks: list[Stack] = []

    def make(**env: str) -> Stack:
        redis.Redis.from_url(redis_url).flushdb()
        stack = Stack(redis_url, tmp_path / f"s{len(stacks)}", **env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def _job(stack: Stack, headers: dict[str, str], job_id: str) -> dict:
    return requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()


def test_killed_worker_jobs_complete_exactly_once(fresh_stack, redis_url: str) -> None:
    # Short limits so the broker redelivers within the test: the run lock of the dead worker
    # expires after JOB_TIME_LIMIT, its unacknowledged messages after VISIBILITY_TIMEOUT. The
    # pictures take long enough that all four are still being drawn when the worker dies, and
    # short enough next to JOB_TIME_LIMIT that a busy machine still finishes them within it.
    stack = fresh_stack(JOB_TIME_LIMIT="10", VISIBILITY_TIMEOUT="12")
    stack.start_renderer("--latency", "4")
    doomed = stack.start_worker("doomed")
    stack.start_api()
    headers = {"Authorization": f"Bearer {stack.login()}"}
    job_ids = [
        requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10,
                      json={"speaker": "Iris", "dialogue": f"crash {i}", "width": 64, "height": 64}).json()["job_id"]
        for i in range(4)
    ]
    wait_until(lambda: all(_job(stack, headers, j)["status"] == "generating" for j in job_ids), 30,
               what="all jobs generating")
    doomed.kill()  # SIGKILL mid-generation: no ack, no cleanup
    stack.start_worker("rescuer")
    wait_until(lambda: all(_job(stack, headers, j)["status"] == "succeeded" for j in job_ids), 90,
               what="redelivered jobs to succeed")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    for job_id in job_ids:
        job = _job(stack, headers, job_id)
        assert job["attempts"] == 2, job
        completions = [f for _, f in client.xrange(keys.job_events(job_id)) if f["type"] == "completed"]
        assert len(completions) == 1


def test_cancel_reaches_the_request_in_flight(fresh_stack, redis_url: str) -> None:
    # A minute-long picture: canceled well before it would be done, and the renderer was told to
    # stop drawing it (it counts the cancel and never finishes the picture).
    stack = fresh_stack()
    stack.start_renderer("--latency", "60")
    stack.start_worker()
    stack.start_api()
    headers = {"Authorization": f"Bearer {stack.login()}"}
    job_id = requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10,
                           json={"speaker": "Iris", "dialogue": "cancel me", "width": 64, "height": 64}).json()["job_id"]
    wait_until(lambda: _job(stack, headers, job_id)["status"] == "generating", 30, what="generating")
    JobStore(redis.Redis.from_url(redis_url)).request_cancel(job_id)
    wait_until(lambda: _job(stack, headers, job_id)["status"] == "canceled", 20, what="canceled")

    def renderer_stats() -> dict[str, int]:
        return requests.get(f"http://127.0.0.1:{stack.renderer_port}/stats", timeout=5).json()

    wait_until(lambda: renderer_stats()["canceled"] == 1, 20, what="renderer to see the cancel")
    assert renderer_stats()["generated"] == 0 and renderer_stats()["in_flight"] == 0
    assert _job(stack, headers, job_id)["result"] is None
