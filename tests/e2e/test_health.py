"""``/health`` tells the truth over real processes: ready throughout a load at the rate limit
while the worker runs 8 jobs at a time, and not ready within one heartbeat TTL of the last
worker's SIGKILL. Workers are counted from their heartbeats in Redis, never pinged."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from scene_weaver.constants import SCENE_QUEUES
from scene_weaver.heartbeats import HeartbeatStore
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore

from .processes import wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

PER_MINUTE = 300
# Paced just under the limit, so no submission is refused for the limit's own rounding.
PACE = PER_MINUTE / 60 * 0.9
SCENE = {"speaker": "Iris", "width": 256, "height": 192}
POLL_EVERY = 0.2
DEFAULTS = Settings()
# A killed worker's heartbeat outlives it by at most one TTL; the rest is room for a busy machine.
KILL_MARGIN = 5.0


@pytest.fixture(scope="module")
def loaded(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker of 8 threads on a renderer slow enough (2 s a picture) to keep all 8 busy."""
    redis.Redis.from_url(redis_url).flushdb()
    home: Path = tmp_path_factory.mktemp("health")
    stack = Stack(redis_url, home, RATE_LIMIT_PROCESS=f"{PER_MINUTE}/minute")
    try:
        stack.start_renderer("--latency", "2")
        stack.start_worker("w1", concurrency=8)
        stack.start_api(workers=2)
        yield stack
    finally:
        stack.stop()


@dataclass
class Polls:
    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _poll_health(stack: Stack, stop: threading.Event, polls: Polls) -> None:
    admin = stack.admin_headers()  # the details (jobs in flight) are for admins
    with requests.Session() as session:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = session.get(f"{stack.base}/health", headers=admin, timeout=10)
            except requests.RequestException as exc:
                polls.statuses.append(0)
                polls.failures.append(repr(exc))
            else:
                polls.statuses.append(response.status_code)
                body = response.json()
                polls.in_flight.append(int(body["jobs_in_flight"]))
                if response.status_code != 200:
                    polls.failures.append(response.text)
            polls.latencies.append(time.perf_counter() - started)
            stop.wait(POLL_EVERY)


def _user(redis_url: str, name: str) -> None:
    UserStore(redis.Redis.from_url(redis_url), rounds=4).add(name, f"{name}-password")


def _submit_at_the_limit(stack: Stack, username: str, seconds: float) -> tuple[int, list[requests.Response]]:
    """Submissions paced at the rate limit for ``seconds``: how many were accepted, and any others."""
    headers = {"Authorization": f"Bearer {stack.login(username, f'{username}-password')}"}
    accepted, others = 0, []
    with requests.Session() as session:
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            # Each scene differs, so each is drawn (nothing comes from a cache).
            scene = {**SCENE, "dialogue": [f"Is the lighthouse still awake? ({username} {sent})"]}
            response = session.post(f"{stack.base}/v1/process", json=scene, headers=headers, timeout=10)
            if response.status_code == 202:
                accepted += 1
                assert "Retry-After" not in response.headers, "a 202 has nothing to retry"
            else:
                others.append(response)
            sent += 1
            # Keep the pace against the clock, so a slow answer is not followed by a burst.
            time.sleep(max(0.0, start + sent / PACE - time.monotonic()))
    return accepted, others


def _health_under_load(stack: Stack, redis_url: str, username: str, seconds: float) -> Polls:
    _user(redis_url, username)
    polls, stop = Polls(), threading.Event()
    poller = threading.Thread(target=_poll_health, args=(stack, stop, polls), daemon=True)
    poller.start()
    try:
        accepted, others = _submit_at_the_limit(stack, username, seconds)
    finally:
        stop.set()
        poller.join(timeout=20)
    print(f"\n/health over {seconds:.0f} s of submissions at {PACE:.1f}/s: {len(polls.statuses)} polls, "
          f"{polls.statuses.count(200)} answered 200, worst latency {max(polls.latencies) * 1000:.0f} ms, "
          f"jobs in flight up to {max(polls.in_flight, default=0)}; {accepted} jobs accepted")
    assert not others, [(r.status_code, r.text) for r in others]
    assert accepted >= PACE * seconds * 0.5, accepted
    assert polls.statuses and all(status == 200 for status in polls.statuses), polls.failures[:3]
    # The worker really was loaded: its heartbeat counted 8 jobs running at once.
    assert max(polls.in_flight) == 8, polls.in_flight
    return polls


def test_health_stays_ready_while_the_worker_runs_8_jobs_at_a_time(loaded: Stack, redis_url: str) -> None:
    [heartbeat] = HeartbeatStore(redis.Redis.from_url(redis_url)).live()
    assert heartbeat.concurrency == 8 and heartbeat.queues == SCENE_QUEUES and heartbeat.accepting
    _health_under_load(loaded, redis_url, "steady", seconds=20)


@pytest.mark.chaos
def test_health_stays_ready_through_a_minute_at_the_rate_limit(loaded: Stack, redis_url: str) -> None:
    _health_under_load(loaded, redis_url, "marathon", seconds=60)


def _health(stack: Stack) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{stack.base}/health", headers=stack.admin_headers(), timeout=10)
    return response.status_code, response.json()


def test_a_worker_that_stops_cleanly_leaves_at_once(loaded: Stack) -> None:
    extra = loaded.start_worker("w2", concurrency=2)
    assert _health(loaded)[1]["workers"] == 2
    extra.stop()  # SIGTERM: a warm shutdown withdraws the heartbeat before the process exits
    loaded.workers.remove(extra)
    status, body = _health(loaded)
    assert (status, body["workers"]) == (200, 1), body


def test_health_names_workers_within_a_ttl_of_the_last_workers_sigkill(loaded: Stack) -> None:
    [last] = loaded.workers
    status, body = _health(loaded)
    assert (status, body["workers"]) == (200, 1), body
    killed_at = time.monotonic()
    last.kill()
    answers: list[tuple[int, dict[str, Any]]] = []

    def unready() -> bool:
        answers.append(_health(loaded))
        return answers[-1][0] == 503

    wait_until(unready, DEFAULTS.worker_heartbeat_ttl + KILL_MARGIN, interval=POLL_EVERY,
               what="/health to turn 503 after the SIGKILL")
    elapsed = time.monotonic() - killed_at
    print(f"\n/health turned 503 {elapsed:.1f} s after the last worker's SIGKILL "
          f"(heartbeat TTL {DEFAULTS.worker_heartbeat_ttl:g} s)")
    status, body = answers[-1]
    assert body["failing"] == ["workers"] and body["workers"] == 0 and body["redis"] == "ok", body
