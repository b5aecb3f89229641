"""Identical generations drawn once, across real worker processes: ``POST /v1/process`` through
gunicorn, Celery workers and the renderer, whose ``/stats`` counts every picture it drew."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from scene_weaver import keys
from scene_weaver.result_cache import hit_rate

from .processes import wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

TERMINAL = ("succeeded", "failed", "canceled")


@pytest.fixture
def fresh_stack(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(**env: str) -> Stack:
        redis.Redis.from_url(redis_url).flushdb()
        stack = Stack(redis_url, tmp_path / f"s{len(stacks)}", RATE_LIMIT_PROCESS="1000/minute", **env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def _scene(i: int, **extra: Any) -> dict[str, Any]:
    return {"speaker": "Iris", "dialogue": f"Is wave {i} the same wave?", "narration": "Iris on the pier at dusk.",
            "width": 64, "height": 64, **extra}


def _submit(stack: Stack, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = requests.post(f"{stack.base}/v1/process", headers=headers, json=body, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _job(stack: Stack, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def _finished(stack: Stack, headers: dict[str, str], job_ids: list[str], timeout: float) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []

    def done() -> bool:
        jobs[:] = [_job(stack, headers, j) for j in job_ids]
        return all(j["status"] in TERMINAL for j in jobs)

    wait_until(done, timeout, what="jobs to finish")
    return jobs


def test_twenty_scenes_of_which_ten_are_distinct_are_drawn_ten_times(fresh_stack, redis_url: str) -> None:
    stack = fresh_stack()
    stack.start_renderer("--latency", "0.2")
    stack.start_worker("w1", concurrency=4)
    stack.start_worker("w2", concurrency=4)
    stack.start_api()
    headers = {"Authorization": f"Bearer {stack.login()}"}
    assert stack.renderer is not None
    job_ids = [_submit(stack, headers, _scene(i % 10)) for i in range(20)]

    jobs = _finished(stack, headers, job_ids, 120)

    assert [j["status"] for j in jobs] == ["succeeded"] * 20
    assert stack.renderer.stats()["generated"] == 10
    assert sum(j["result"]["deduplicated"] for j in jobs) == 10
    # Each scene's twin shows the same stored picture.
    for first, twin in zip(jobs[:10], jobs[10:], strict=True):
        assert first["result"]["sha256"] == twin["result"]["sha256"]
        image = requests.get(f"{stack.base}/v1/jobs/{twin['job_id']}/image", headers=headers, timeout=10)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert hit_rate(redis.Redis.from_url(redis_url)) == {"hits": 10, "misses": 10, "hit_rate": 0.5}
    redis.Redis.from_url(redis_url).delete(keys.response_cache("stats"))
    stats = requests.get(f"{stack.base}/v1/stats", headers=headers, timeout=10).json()
    assert stats["result_cache"] == {"hits": 10, "misses": 10, "hit_rate": 0.5}

    # force: drawn again (no cache lookup), and the next identical job reuses the fresh picture.
    forced = _submit(stack, headers, _scene(3, force=True))
    [forced_job] = _finished(stack, headers, [forced], 60)
    assert forced_job["status"] == "succeeded" and forced_job["result"]["deduplicated"] is False
    assert stack.renderer.stats()["generated"] == 11
    later = _submit(stack, headers, _scene(3))
    [later_job] = _finished(stack, headers, [later], 60)
    assert later_job["result"]["deduplicated"] is True
    assert later_job["result"]["sha256"] == forced_job["result"]["sha256"]
    assert stack.renderer.stats()["generated"] == 11

    refused = requests.post(f"{stack.base}/v1/process", headers=headers, json=_scene(1, force="maybe"), timeout=10)
    assert refused.status_code == 422 and "force" in refused.text


def test_concurrent_duplicates_on_two_worker_processes_are_drawn_once(fresh_stack) -> None:
    stack = fresh_stack()
    renderer = stack.start_renderer("--latency", "3")
    stack.start_worker("w1", concurrency=2)
    stack.start_worker("w2", concurrency=2)
    stack.start_api()
    headers = {"Authorization": f"Bearer {stack.login()}"}
    job_ids = [_submit(stack, headers, _scene(7)) for _ in range(4)]

    # Four jobs running at once on two processes of two threads each: both processes hold some.
    wait_until(lambda: all(_job(stack, headers, j)["status"] == "generating" for j in job_ids), 30,
               what="all four generating at once")
    jobs = _finished(stack, headers, job_ids, 60)

    assert [j["status"] for j in jobs] == ["succeeded"] * 4
    assert renderer.stats()["generated"] == 1
    assert sorted(j["result"]["deduplicated"] for j in jobs) == [False, True, True, True]


def test_waiters_take_over_within_the_lease_when_the_drawer_is_killed(fresh_stack) -> None:
    # The drawer's lease is 2 s; the waiters would wait up to 30 s (half the job time limit) for a
    # live drawer, and its run lock lasts 60 s: finishing well within that shows the lease ended it.
    stack = fresh_stack(RESULT_FLIGHT_LEASE="2", RESULT_FLIGHT_WAIT="300", JOB_TIME_LIMIT="60",
                        VISIBILITY_TIMEOUT="70")
    renderer = stack.start_renderer("--latency", "5")
    doomed = stack.start_worker("doomed", concurrency=1)
    stack.start_api()
    headers = {"Authorization": f"Bearer {stack.login()}"}
    drawer = _submit(stack, headers, _scene(1))
    wait_until(lambda: _job(stack, headers, drawer)["status"] == "generating", 30, what="the drawer generating")
    stack.start_worker("rescuer", concurrency=4)
    waiters = [_submit(stack, headers, _scene(1)) for _ in range(3)]
    wait_until(lambda: all(_job(stack, headers, j)["status"] == "generating" for j in waiters), 30,
               what="the waiters waiting")
    assert _job(stack, headers, drawer)["status"] == "generating"

    doomed.kill()  # SIGKILL while drawing: its lease is never released, only no longer renewed
    killed_at = time.monotonic()
    jobs = _finished(stack, headers, waiters, 25)
    took_over_in = time.monotonic() - killed_at

    assert [j["status"] for j in jobs] == ["succeeded"] * 3
    assert sorted(j["result"]["deduplicated"] for j in jobs) == [False, True, True]
    assert len({j["result"]["sha256"] for j in jobs}) == 1
    assert renderer.stats()["generated"] >= 1
    print(f"waiters finished {took_over_in:.1f}s after the drawer was killed (lease 2 s, picture 5 s)")
