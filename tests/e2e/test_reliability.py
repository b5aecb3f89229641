"""Nothing lost: a killed worker's jobs resume in seconds, a lost message is sent again, a Redis
restart loses no accepted job. Shortened runs; ``test_reliability_chaos.py`` has the long ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import requests

from scene_weaver import keys

from .crash_runs import inflight_holders, own_stack, run_redis_restarts, run_worker_kills, scene_body
from .fault_runs import completions, event_types, headers_for, timed_events, wait_all
from .processes import wait_until

pytestmark = pytest.mark.e2e

RESUME_PROMISE = 30.0  # seconds from a worker's death to its jobs running again (README, reliability)


def _job(stack, headers, job_id: str) -> dict:
    return requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()


def test_a_killed_workers_jobs_resume_within_30s_not_after_the_visibility_timeout(tmp_path: Path) -> None:
    # Default VISIBILITY_TIMEOUT (an hour) and JOB_TIME_LIMIT (10 minutes): only the heartbeat
    # and the reconciler can bring these jobs back in time.
    with own_stack(tmp_path) as (stack, _server):
        stack.start_renderer("--latency", "4")
        doomed = stack.start_worker("doomed", concurrency=4)
        stack.start_api()
        headers = headers_for(stack)
        job_ids = [requests.post(f"{stack.base}/v1/process", headers=headers, json=scene_body(i),
                                 timeout=10).json()["job_id"] for i in range(4)]
        wait_until(lambda: all(_job(stack, headers, j)["status"] == "generating" for j in job_ids), 60,
                   what="all jobs generating")
        stack.start_worker("rescuer", concurrency=4)
        client = redis.Redis.from_url(stack.redis_url)
        killed_at_ms = int(client.time()[0] * 1000)
        doomed.kill()
        finished = wait_all(stack, headers, job_ids, timeout=120)
        for job in finished:
            assert job["status"] == "succeeded" and job["attempts"] == 2, job
            assert completions(stack.redis_url, job["job_id"]) == 1
            restarted = [at for at, kind in timed_events(stack.redis_url, job["job_id"]) if kind == "started"][-1]
            print(f"job {job['job_id'][:8]} resumed {(restarted - killed_at_ms) / 1000:.1f}s after the kill")
            assert restarted - killed_at_ms <= RESUME_PROMISE * 1000
        wait_until(lambda: inflight_holders(stack.redis_url) == 0, 30, what="the dead worker's slots freed")


def test_a_worker_killed_between_taking_a_message_and_starting_it(tmp_path: Path) -> None:
    cue = tmp_path / "die-on-receive"
    with own_stack(tmp_path, SCENE_WEAVER_DIE_ON_RECEIVE=str(cue)) as (stack, _server):
        stack.start_renderer("--latency", "0.2")
        doomed = stack.start_worker("doomed", concurrency=2)
        stack.start_api()
        headers = headers_for(stack)
        cue.write_text("die")
        job_id = requests.post(f"{stack.base}/v1/process", headers=headers, json=scene_body(1),
                               timeout=10).json()["job_id"]
        wait_until(lambda: not doomed.alive, 30, what="the worker to die on taking the message")
        assert not cue.exists() and event_types(stack.redis_url, job_id) == ["queued"]
        stack.start_worker("rescuer", concurrency=2)
        job = wait_all(stack, headers, [job_id], timeout=90)[0]
        assert job["status"] == "succeeded" and completions(stack.redis_url, job_id) == 1


def test_a_message_lost_before_the_broker_recorded_it_is_sent_again(tmp_path: Path) -> None:
    # A worker that took the message off the queue and died before kombu wrote it to `unacked`:
    # the message is nowhere. The job is recorded as dispatched, so the reconciler sends it again.
    with own_stack(tmp_path, RECONCILE_INTERVAL="1", RECONCILE_GRACE="2") as (stack, _server):
        stack.start_renderer("--latency", "0.2")
        stack.start_api()
        headers = headers_for(stack)
        job_id = requests.post(f"{stack.base}/v1/process", headers=headers, json=scene_body(2),
                               timeout=10).json()["job_id"]
        client = redis.Redis.from_url(stack.redis_url)
        assert client.zscore(keys.dispatched_jobs(), job_id) is not None
        assert client.rpop("default") is not None and client.llen("default") == 0  # taken, never recorded
        stack.start_worker(concurrency=2)
        job = wait_all(stack, headers, [job_id], timeout=90)[0]
        assert job["status"] == "succeeded" and completions(stack.redis_url, job_id) == 1
        assert int(client.hget(keys.counters(), "reconciler_jobs_reenqueued") or 0) == 1
        assert client.zscore(keys.dispatched_jobs(), job_id) is None  # a finished job leaves the index
        stats = requests.get(f"{stack.base}/v1/stats", headers=headers, timeout=10).json()
        assert stats["reliability"]["reconciler_jobs_reenqueued"] == 1


@pytest.mark.timeout(300)
def test_worker_kills_short(tmp_path: Path) -> None:
    # Pictures of 2 s: each kill finds jobs running.
    run = run_worker_kills(tmp_path, jobs=60, kills=3, every=8, latency=2.0)
    print(run.report("3 worker SIGKILLs"))
    assert run.succeeded == len(run.accepted) == 60
    assert run.extra["exactly_one_completed"] == 60
    assert max(run.extra["attempts"]) >= 2, "no kill found a job running"


@pytest.mark.timeout(300)
def test_redis_restart_short(tmp_path: Path) -> None:
    run = run_redis_restarts(tmp_path, jobs=40, restarts=1, outage=5)
    print(run.report("Redis SIGKILL + AOF restart"))
    assert run.succeeded == len(run.accepted) == 40 + 3
    assert run.extra["exactly_one_completed"] == len(run.accepted)
