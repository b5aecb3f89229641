"""Whole-stack runs against a misbehaving Semantest, shared by the fault tests and the chaos tests.

A run is real: a private Redis (flushed), the renderer with fault flags, Celery worker
processes and gunicorn. What it measures is what a user and an operator would look at:
the jobs (status, attempts, retries, events), the renderer's own counters, and the
breaker's record in Redis.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from scene_weaver import keys
from scene_weaver.semantest.pool import CONNECT_ATTEMPTS_COUNTER

from .processes import wait_until
from .stack import Stack

__all__ = ["FAST_RETRIES", "Measures", "OutageRun", "StackFactory", "assert_outage_absorbed", "breaker_record",
           "completions", "connect_attempts", "count_finished", "event_types", "follow", "headers_for", "measure", "probes",
           "run_outage", "stacks", "submit", "timed_events", "wait_all"]

# Short cool-downs and backoffs so a fault run takes seconds; the breaker's verdicts
# (failure rate over the window, connect failures in a row) keep their defaults.
FAST_RETRIES = {
    "JOB_RETRY_BACKOFF_MAX": "1",
    "BREAKER_COOLDOWN": "1",
    "BREAKER_WAKE_JITTER": "0.5",
    "SEMANTEST_RECONNECT_MAX_WAIT": "0.5",
    "SEMANTEST_REQUEST_TIMEOUT": "10",
    "SEMANTEST_HEARTBEAT_INTERVAL": "2",
    "SEMANTEST_HEARTBEAT_TIMEOUT": "2",
    "RATE_LIMIT_PROCESS": "10000/minute",
}
TERMINAL = ("succeeded", "failed", "canceled")

StackFactory = Callable[..., Stack]


@contextmanager
def stacks(redis_url: str, home: Path) -> Iterator[StackFactory]:
    """``make(**env)``: a stack on a flushed Redis with FAST_RETRIES under ``env``; all stopped afterwards."""
    made: list[Stack] = []

    def make(**env: str) -> Stack:
        redis.Redis.from_url(redis_url).flushdb()
        stack = Stack(redis_url, home / f"s{len(made)}", **{**FAST_RETRIES, **env})
        made.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in made:
            stack.stop()


def headers_for(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.login()}"}


def submit(stack: Stack, headers: dict[str, str], count: int, size: int = 96, start: int = 0) -> list[str]:
    """``count`` jobs, scenes ``start`` to ``start + count - 1`` (each scene's text its own: no cache hit)."""
    job_ids = []
    for i in range(start, start + count):
        response = requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10, json={
            "speaker": ["Iris", "Tomas", "Architect"][i % 3],
            "dialogue": f"Line number {i}: is the sea awake tonight?",
            "narration": f"Scene {i} at the lighthouse.", "width": size, "height": size,
        })
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["job_id"])
    return job_ids


def statuses(stack: Stack, headers: dict[str, str], job_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {job_id: requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            for job_id in job_ids}


def follow(stack: Stack, headers: dict[str, str], job_ids: list[str], timeout: float) -> list[dict[str, Any]]:
    """Every job as the API last showed it, in submission order, once all are finished or after
    ``timeout`` s (then some are not finished: the caller counts them as lost)."""
    pending = set(job_ids)
    jobs: dict[str, dict[str, Any]] = {}

    def all_finished() -> bool:
        jobs.update(statuses(stack, headers, sorted(pending)))
        pending.difference_update({job_id for job_id in pending if jobs[job_id].get("status") in TERMINAL})
        return not pending

    with suppress(TimeoutError):
        wait_until(all_finished, timeout, interval=0.3, what="every job to finish")
    return [{"job_id": job_id, **jobs[job_id]} for job_id in job_ids]


def wait_all(stack: Stack, headers: dict[str, str], job_ids: list[str], timeout: float) -> list[dict[str, Any]]:
    """Every job once it is finished (polled through the API), in submission order."""
    jobs = follow(stack, headers, job_ids, timeout)
    pending = [job for job in jobs if job.get("status") not in TERMINAL]
    if pending:
        raise AssertionError(f"{len(pending)} jobs unfinished: {Counter(job.get('status') for job in pending)}")
    return jobs


def count_finished(stack: Stack, headers: dict[str, str], job_ids: list[str]) -> int:
    return sum(job["status"] in TERMINAL for job in statuses(stack, headers, job_ids).values())


def event_types(redis_url: str, job_id: str) -> list[str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return [fields["type"] for _, fields in client.xrange(keys.job_events(job_id))]


def timed_events(redis_url: str, job_id: str) -> list[tuple[int, str]]:
    """(milliseconds by Redis's clock, type) of each event: a stream entry's id starts with its time."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return [(int(entry_id.split("-")[0]), fields["type"]) for entry_id, fields in client.xrange(keys.job_events(job_id))]


def completions(redis_url: str, job_id: str) -> int:
    return event_types(redis_url, job_id).count("completed")


def breaker_record(redis_url: str) -> dict[str, str]:
    return redis.Redis.from_url(redis_url, decode_responses=True).hgetall(keys.breaker())


def probes(redis_url: str) -> int:
    return int(breaker_record(redis_url).get("probes", 0))


def connect_attempts(redis_url: str) -> int:
    """Every connection attempt any worker made (counted by the pool before it connects)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return int(client.hget(keys.counters(), CONNECT_ATTEMPTS_COUNTER) or 0)


@dataclass
class Measures:
    """What a run ends with, for the assertions and the report."""

    total: int
    succeeded: int
    attempts: dict[int, int]
    waits: dict[int, int]  # waiting_for_semantest events per job -> how many jobs
    retry_codes: dict[str, int]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def report(self, name: str) -> str:
        return (f"{name}: {self.succeeded}/{self.total} succeeded in {self.seconds:.1f}s; attempts per job "
                f"{dict(sorted(self.attempts.items()))}; waits per job {dict(sorted(self.waits.items()))}; "
                f"retry codes {dict(self.retry_codes)}; {self.extra}")


def measure(redis_url: str, jobs: list[dict[str, Any]], seconds: float, **extra: Any) -> Measures:
    return Measures(
        total=len(jobs),
        succeeded=sum(job.get("status") == "succeeded" for job in jobs),
        attempts=dict(Counter(job.get("attempts", 0) for job in jobs)),
        waits=dict(Counter(event_types(redis_url, job["job_id"]).count("waiting_for_semantest") for job in jobs)),
        retry_codes=dict(Counter(retry["code"] for job in jobs for retry in job.get("retries", []))),
        seconds=seconds,
        extra=extra,
    )


@dataclass
class OutageRun:
    jobs: list[dict[str, Any]]
    measures: Measures
    connections_during_outage: int  # counted by the renderer standing in for the dead service
    attempts_during_outage: int  # counted by the workers' pools
    probes_during_outage: int
    slack: int  # attempts that may already be under way when the breaker opens


def run_outage(make: StackFactory, redis_url: str, *, outage: float, jobs: int, workers: int = 2,
               threads: int = 4) -> OutageRun:
    """A healthy renderer, ``jobs`` jobs, an outage of ``outage`` seconds mid-run, then the renderer back.

    A third of the jobs is submitted first; the outage begins once the first of them are done
    (others are running then), and the rest is submitted while it lasts, so jobs are always
    left to park however fast the first ones went. During the outage the port is held by the renderer in ``--overload`` mode: a service
    that is up but takes no session (every WebSocket is closed with 1013 at once), so the
    renderer itself counts every connection attempt the fleet makes while it is down.
    """
    stack = make(WORKER_CONCURRENCY=str(threads))
    stack.start_renderer("--latency", "0.5")
    for _ in range(workers):
        stack.start_worker(concurrency=threads)
    stack.start_api()
    headers = headers_for(stack)
    started = time.monotonic()
    job_ids = submit(stack, headers, max(5, jobs // 3))
    wait_until(lambda: count_finished(stack, headers, job_ids) >= 5, 60, 0.2, "the first jobs done")
    assert stack.renderer is not None
    stack.renderer.kill()  # the outage begins: sessions die with their requests in flight
    down = stack.start_renderer("--overload")
    began = time.monotonic()
    probes_before, attempts_before = probes(redis_url), connect_attempts(redis_url)
    job_ids += submit(stack, headers, jobs - len(job_ids), start=len(job_ids))
    time.sleep(max(0.0, outage - (time.monotonic() - began)))  # the outage's length is the scenario itself
    connections = down.stats()["connections"]
    probes_during, attempts_during = probes(redis_url) - probes_before, connect_attempts(redis_url) - attempts_before
    down.kill()
    stack.start_renderer("--latency", "0.5")  # back on the same port
    finished = follow(stack, headers, job_ids, timeout=outage + 120)  # the unfinished are counted, not raised
    measures = measure(redis_url, finished, time.monotonic() - started, outage=outage,
                       connections_during_outage=connections, pool_attempts_during_outage=attempts_during,
                       probes_during_outage=probes_during)
    connect_failures = 3  # BREAKER_CONNECT_FAILURES' default: the failures that open the breaker
    return OutageRun(finished, measures, connections, attempts_during, probes_during,
                     slack=connect_failures + workers * threads)


def assert_outage_absorbed(run: OutageRun, redis_url: str, outage: float, cooldown: float = 1.0) -> None:
    """Every job succeeded once the renderer was back, and while it was down only the probes knocked."""
    print(run.measures.report(f"{outage:.0f} s outage"))
    assert run.measures.succeeded == run.measures.total, [job["error"] for job in run.jobs]
    assert all(completions(redis_url, job["job_id"]) == 1 for job in run.jobs), "a job completed twice"
    assert max(run.measures.waits) > 0, "no job was parked"
    assert "circuit_open" not in run.measures.retry_codes, "a turn-away by the breaker was counted as a retry"
    # One probe per cool-down, fleet-wide (a probe's own connection takes a moment more).
    assert 1 <= run.probes_during_outage <= outage / cooldown + 2
    assert run.connections_during_outage <= run.probes_during_outage + run.slack
    assert run.attempts_during_outage <= run.probes_during_outage + run.slack
