"""The image service misbehaves; real workers keep every promise.

Each test runs its own stack: private Redis (flushed), the renderer with fault
flags, Celery worker processes and gunicorn.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from scene_weaver import keys
from scene_weaver.renderer.drawing import render_png, resolve_seed

from .stack import Stack

pytestmark = pytest.mark.e2e

FAST_RETRIES = {
    "JOB_RETRY_BACKOFF_MAX": "1",
    "BREAKER_FAILURE_THRESHOLD": "3",
    "BREAKER_COOLDOWN": "1",
    "SEMANTEST_RECONNECT_MAX_WAIT": "0.5",
    "SEMANTEST_REQUEST_TIMEOUT": "10",
    "SEMANTEST_HEARTBEAT_INTERVAL": "2",
    "SEMANTEST_HEARTBEAT_TIMEOUT": "2",
}


@pytest.fixture
def make_stack(redis_url: str, tmp_path: Path) -> Iterator:
    stacks: list[Stack] = []

    def make(**env: str) -> Stack:
        redis.Redis.from_url(redis_url).flushdb()
        stack = Stack(redis_url, tmp_path / f"s{len(stacks)}", **{**FAST_RETRIES, **env})
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def _submit(stack: Stack, headers: dict[str, str], count: int, size: int = 96) -> list[str]:
    return [
        requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10, json={
            "speaker": ["Iris", "Tomas", "Architect"][i % 3],
            "dialogue": f"Line number {i}: is the sea awake tonight?",
            "narration": f"Scene {i} at the lighthouse.", "width": size, "height": size,
        }).json()["job_id"]
        for i in range(count)
    ]


def _wait_all(stack: Stack, headers: dict[str, str], job_ids: list[str], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    jobs: dict[str, dict] = {}
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            jobs[job_id] = job
            if job["status"] in ("succeeded", "failed", "canceled"):
                pending.discard(job_id)
        time.sleep(0.2)
    assert not pending, f"{len(pending)} jobs unfinished: {[jobs[j]['status'] for j in pending]}"
    return [jobs[j] for j in job_ids]


def _completions(redis_url: str, job_id: str) -> int:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return sum(1 for _, fields in client.xrange(keys.job_events(job_id)) if fields["type"] == "completed")


def _headers(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.login()}"}


def test_renderer_killed_mid_run_and_back_10s_later(make_stack, redis_url: str) -> None:
    stack = make_stack(JOB_MAX_RETRIES="30")
    stack.start_renderer("--latency", "1.0")
    stack.start_worker()
    stack.start_worker()
    stack.start_api()
    headers = _headers(stack)
    job_ids = _submit(stack, headers, 50)
    time.sleep(1.5)  # two workers x 8 threads, 1 s a picture: about 4 s of work in all
    assert stack.renderer is not None
    stack.renderer.kill()
    time.sleep(10)
    stack.start_renderer("--latency", "0.3")
    jobs = _wait_all(stack, headers, job_ids, timeout=120)
    assert [job["status"] for job in jobs] == ["succeeded"] * 50, [job["error"] for job in jobs]
    assert all(_completions(redis_url, job["job_id"]) == 1 for job in jobs), "a job completed twice"
    retried = [job for job in jobs if job["retries"]]
    assert retried, "the outage shows in the job records"
    assert {r["code"] for job in retried for r in job["retries"]} & {
        "circuit_open", "connect_failed", "session_lost", "timeout"}


def test_flaky_renderer_every_job_succeeds_with_retries_recorded(make_stack, redis_url: str) -> None:
    stack = make_stack(JOB_MAX_RETRIES="30", BREAKER_FAILURE_THRESHOLD="50")
    stack.start_renderer("--latency", "0.1", "--fail-rate", "0.3", "--drop-rate", "0.1", "--seed", "7")
    stack.start_worker()
    stack.start_api()
    headers = _headers(stack)
    job_ids = _submit(stack, headers, 30)
    jobs = _wait_all(stack, headers, job_ids, timeout=120)
    assert [job["status"] for job in jobs] == ["succeeded"] * 30
    assert all(_completions(redis_url, job["job_id"]) == 1 for job in jobs)
    codes = [r["code"] for job in jobs for r in job["retries"]]
    assert len(codes) >= 3, codes
    assert "OVERLOADED" in codes, codes


def test_renderer_down_for_good_opens_the_breaker_and_bounds_connections(make_stack, redis_url: str) -> None:
    stack = make_stack(JOB_MAX_RETRIES="3", SEMANTEST_POOL_SIZE="2")
    # No renderer at all: its port is closed for the whole test.
    stack.start_worker()
    stack.start_worker()
    stack.start_api()
    headers = _headers(stack)
    started = time.monotonic()
    job_ids = _submit(stack, headers, 12)
    jobs = _wait_all(stack, headers, job_ids, timeout=90)
    elapsed = time.monotonic() - started
    assert [job["status"] for job in jobs] == ["failed"] * 12
    assert {job["error"]["code"] for job in jobs} == {"circuit_open"}, [job["error"] for job in jobs]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    attempts = int(client.hget(keys.counters(), "semantest_connect_attempts") or 0)
    # Without a breaker: 12 jobs x 4 attempts x 3 connection tries each = 144. With it: the
    # threshold, then about one half-open probe per cool-down (1 s) across both processes.
    bound = 3 + 2 * (elapsed / 1.0 + 2)
    print(f"connection attempts during the outage: {attempts} in {elapsed:.1f}s (bound {bound:.0f})")
    assert 3 <= attempts <= bound
    breaker = client.hgetall(keys.breaker())
    assert breaker["state"] in ("open", "half_open")
    health = requests.get(f"{stack.base}/health", headers=stack.admin_headers(), timeout=10)
    assert health.status_code == 503
    assert "semantest" in health.json()["failing"]
    assert health.json()["semantest"]["breaker"]["state"] in ("open", "half_open")


def test_service_back_within_the_budget_all_succeed(make_stack) -> None:
    stack = make_stack(JOB_MAX_RETRIES="20")
    stack.start_worker()
    stack.start_api()
    headers = _headers(stack)
    job_ids = _submit(stack, headers, 8)
    time.sleep(4)
    stack.start_renderer("--latency", "0.1")
    jobs = _wait_all(stack, headers, job_ids, timeout=60)
    assert [job["status"] for job in jobs] == ["succeeded"] * 8
    assert all(job["retries"] for job in jobs)


def test_non_retryable_error_fails_at_once_with_its_code(make_stack) -> None:
    stack = make_stack(JOB_MAX_RETRIES="10")
    stack.start_renderer("--latency", "0.05", "--fail-rate", "1", "--fail-code", "CONTENT_REJECTED")
    stack.start_worker()
    stack.start_api()
    headers = _headers(stack)
    jobs = _wait_all(stack, headers, _submit(stack, headers, 3), timeout=30)
    for job in jobs:
        assert job["status"] == "failed"
        assert job["error"]["code"] == "CONTENT_REJECTED"
        assert job["attempts"] == 1 and job["retries"] == []


def test_events_dialect_two_workers_each_job_gets_its_own_image(make_stack, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    stack = make_stack(SEMANTEST_DIALECT="semantest-events", SEMANTEST_DOWNLOAD_DIR=str(downloads),
                       SEMANTEST_POOL_SIZE="3")
    stack.start_renderer("--dialect", "semantest-events", "--download-dir", str(downloads),
                         "--latency", "0.2", "--jitter", "0.2")
    stack.start_worker()
    stack.start_worker()
    stack.start_api()
    headers = _headers(stack)
    jobs = _wait_all(stack, headers, _submit(stack, headers, 12, size=80), timeout=90)
    assert [job["status"] for job in jobs] == ["succeeded"] * 12
    for job in jobs:
        prompt = job["prompt"]["text"]
        expected = render_png(prompt, 80, 80, resolve_seed(prompt, -1), job["scene"]["dialogue"][0])
        assert job["result"]["sha256"] == hashlib.sha256(expected).hexdigest(), "another job's picture"
    assert len({job["result"]["sha256"] for job in jobs}) == 12
