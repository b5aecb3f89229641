"""A slow webhook receiver cannot stop anyone's jobs (issue 10, the probe's own attack).

16 jobs whose receiver sleeps 6 s on every delivery (longer than the read timeout), then
another user's ordinary job: it starts within one job time of an idle stack's start,
measured in the same test. Deliveries run on their own queue and worker process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from scene_weaver import keys
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore

from .processes import wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

ATTACK_JOBS = 16
RECEIVER_SLEEP = 6.0
TERMINAL = {"succeeded", "failed", "canceled"}
VICTIM = ("victim", "victim-password-0123")
DEFAULTS = Settings()


class _SlowReceiver(BaseHTTPRequestHandler):
    received = 0
    lock = threading.Lock()
    release = threading.Event()  # set at teardown so no handler outlives the test by 6 s

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        with _SlowReceiver.lock:
            _SlowReceiver.received += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _SlowReceiver.release.wait(RECEIVER_SLEEP)
        try:
            self.send_response(204)
            self.end_headers()
        except OSError:
            pass  # the sender gave up first: its read timeout is shorter than our sleep

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    UserStore(client, rounds=4).add(*VICTIM)
    home: Path = tmp_path_factory.mktemp("webhook-isolation")
    stack = Stack(redis_url, home)
    try:
        stack.start_renderer("--latency", "1")
        stack.start_worker()
        stack.start_webhook_worker()
        stack.start_api(workers=1)
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def slow_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        _SlowReceiver.release.set()
        server.shutdown()
        server.server_close()


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _run_job(stack: Stack, token: str, **extra: Any) -> str:
    response = requests.post(f"{stack.base}/v1/process", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                             json={"speaker": "Iris", "dialogue": "the tide turns", **extra})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _finished(stack: Stack, token: str, job_id: str) -> dict[str, Any] | None:
    job = requests.get(f"{stack.base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"},
                       timeout=10).json()
    return job if job["status"] in TERMINAL else None


def test_a_slow_receiver_does_not_delay_another_users_job(stack: Stack, slow_receiver: str) -> None:
    victim = stack.login(*VICTIM)
    attacker = stack.login()
    # The webhook worker takes no jobs, so readiness does not count it.
    assert requests.get(f"{stack.base}/health", headers=stack.admin_headers(), timeout=10).json()["workers"] == 1

    first = _run_job(stack, victim)
    normal = wait_until(lambda: _finished(stack, victim, first), 60, interval=0.05, what="the baseline job")
    assert normal["status"] == "succeeded", normal
    normal_start = _seconds(normal["created_at"], normal["started_at"])
    job_time = _seconds(normal["started_at"], normal["finished_at"])

    attack = [_run_job(stack, attacker, webhook_url=slow_receiver) for _ in range(ATTACK_JOBS)]
    for job_id in attack:
        wait_until(lambda job_id=job_id: _finished(stack, attacker, job_id), 120, interval=0.1,
                   what="the attacker's jobs to finish")
    # The attack is live: deliveries are reaching the receiver, which holds each for 6 s.
    wait_until(lambda: _SlowReceiver.received > 0, 30, what="a delivery to reach the slow receiver")

    second = _run_job(stack, victim)
    job = wait_until(lambda: _finished(stack, victim, second), 60, interval=0.05, what="the victim's job")
    assert job["status"] == "succeeded", job
    start = _seconds(job["created_at"], job["started_at"])
    print(f"\nvictim's job started after {start:.2f}s (normal {normal_start:.2f}s, one job {job_time:.2f}s); "
          f"{_SlowReceiver.received} deliveries had reached the receiver")
    assert start <= normal_start + job_time, (
        f"the victim's job waited {start:.2f}s to start (normal {normal_start:.2f}s, one job {job_time:.2f}s)")

    # Every read times out, so the host's failures are counted and it is backed off.
    client = redis.Redis.from_url(stack.redis_url)
    wait_until(lambda: int(client.get(keys.webhook_host_failures("127.0.0.1")) or 0) >= DEFAULTS.webhook_host_failures,
               60, what="the failing receiver's host to be backed off")
