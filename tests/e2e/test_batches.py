"""Batches on the real stack: gunicorn, real Celery workers, real Redis, the renderer at 0.2 s.

- a 400-entry hand-written-style script (with defects) gives a results file of exactly one
  line per entry, in script order, and its counts add up at every read;
- a cancel in the middle ends the batch ``canceled``, keeps the finished images, and the
  renderer is asked for nothing more after the cancel returned;
- a high job submitted behind 300 waiting low items starts within 0.5 s;
- another user's single job starts within 2 s beside a 1,000-item batch;
- a batch's webhook is told once when it completes;
- low work, a single job or a batch, is not starved by a normal batch (aging).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from bench.bench_script import make_script
from scene_weaver.script import parse_script
from scene_weaver.users import UserStore

from .processes import wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

LATENCY = 0.2
SLOTS = 8
AGING = 2.0
COUNTED = ("queued", "running", "succeeded", "failed", "canceled")


@pytest.fixture(scope="module")
def batch_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    UserStore(client, rounds=4).add("bob", "bob-password")
    home: Path = tmp_path_factory.mktemp("batches")
    stack = Stack(redis_url, home, WORKER_CONCURRENCY=str(SLOTS), RATE_LIMIT_PROCESS="1000/minute",
                  RATE_LIMIT_BATCH="100/minute", ADMISSION_AGING_SECONDS=str(AGING))
    try:
        stack.start_renderer("--latency", str(LATENCY))
        stack.start_worker(concurrency=SLOTS)
        stack.start_webhook_worker(concurrency=2)
        stack.start_api(workers=2)
        yield stack
    finally:
        stack.stop()


class Api:
    def __init__(self, stack: Stack, user: str = "demo", password: str = "demo-password") -> None:
        self.base = stack.base
        self.headers = {"Authorization": f"Bearer {stack.login(user, password)}"}

    def get(self, path: str) -> Any:
        response = requests.get(self.base + path, headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 202) -> Any:
        response = requests.post(self.base + path, json=body, headers=self.headers, timeout=60)
        assert response.status_code == status, response.text
        return response.json()

    def batch(self, batch_id: str) -> dict[str, Any]:
        batch = self.get(f"/v1/batches/{batch_id}")
        counts = batch["request_counts"]
        assert sum(counts[name] for name in COUNTED) == counts["total"], counts
        assert counts["deduplicated"] <= counts["succeeded"], counts
        return batch  # type: ignore[no-any-return]

    def results(self, batch_id: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.base}/v1/batches/{batch_id}/results", headers=self.headers, timeout=30)
        assert response.status_code == 200
        return [json.loads(line) for line in response.text.splitlines()]


def _entries(count: int, tag: str) -> list[dict[str, str]]:
    return [{"speaker": "Iris", "dialogue": f"{tag}: line {i} about the lighthouse"} for i in range(count)]


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _wait_started(api: Api, job_id: str, timeout: float = 30) -> dict[str, Any]:
    return wait_until(lambda: (job := api.get(f"/v1/jobs/{job_id}"))["started_at"] and job, timeout,
                      interval=0.05, what=f"job {job_id} to start")


def _ended(api: Api, batch_id: str, timeout: float) -> dict[str, Any]:
    return wait_until(lambda: (b := api.batch(batch_id))["status"] != "in_progress" and b, timeout,
                      interval=0.2, what=f"batch {batch_id} to end")


def test_a_400_entry_script_gives_one_result_line_per_entry_in_order(batch_stack: Stack) -> None:
    api = Api(batch_stack)
    script = make_script(400)
    parsed = parse_script(script)
    assert len(parsed.entries) >= 400 and parsed.warnings
    started = time.monotonic()
    accepted = api.post("/v1/batch", {"script": script})
    batch_id = accepted["batch_id"]
    seen: set[str] = set()

    def ended() -> dict[str, Any] | None:
        batch = api.batch(batch_id)  # the counts add up at every read
        seen.add(batch["status"])
        return batch if batch["status"] != "in_progress" else None

    batch = wait_until(ended, 240, interval=0.1, what="the 400-entry batch to end")
    elapsed = time.monotonic() - started
    assert batch["status"] == "completed", batch
    assert batch["request_counts"]["succeeded"] == len(parsed.entries), batch["request_counts"]
    assert batch["warnings"] and batch["completed_at"]
    rows = api.results(batch_id)
    assert [row["index"] for row in rows] == list(range(len(parsed.entries)))
    assert [row["entry_id"] for row in rows] == [entry.id for entry in parsed.entries]
    assert all(row["status"] == "succeeded" and row["image_url"] for row in rows)
    ideal = len(parsed.entries) * LATENCY / SLOTS
    print(f"\n400-entry batch: {len(parsed.entries)} items in {elapsed:.1f}s; ideal {ideal:.1f}s "
          f"(entries x latency / slots); ratio {elapsed / ideal:.2f}")


def test_cancel_in_the_middle_keeps_finished_images_and_draws_nothing_after(batch_stack: Stack) -> None:
    api = Api(batch_stack)
    renderer = batch_stack.renderer
    assert renderer is not None
    batch_id = api.post("/v1/batch", {"entries": _entries(300, "cancel")})["batch_id"]
    wait_until(lambda: api.batch(batch_id)["request_counts"]["succeeded"] >= 20, 60, interval=0.05,
               what="some items to finish")
    canceled = api.post(f"/v1/batches/{batch_id}/cancel", status=200)
    requests_at_cancel = renderer.stats()["requests"]
    assert canceled["status"] == "canceled", canceled
    counts = canceled["request_counts"]
    assert counts["queued"] == counts["running"] == 0, counts
    assert counts["succeeded"] >= 20 and counts["canceled"] > 100, counts
    rows = api.results(batch_id)
    finished = [row for row in rows if row["status"] == "succeeded"]
    assert len(finished) == counts["succeeded"]
    image = requests.get(batch_stack.base + finished[-1]["image_url"], headers=api.headers, timeout=10)
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    # A job submitted after the cancel is drawn; nothing of the batch is drawn before or after it.
    marker = api.post("/v1/process", {"speaker": "Tomas", "dialogue": "after the cancel"})["job_id"]
    wait_until(lambda: api.get(f"/v1/jobs/{marker}")["status"] == "succeeded", 30, what="the marker job")
    assert renderer.stats()["requests"] == requests_at_cancel + 1
    assert api.batch(batch_id)["request_counts"] == counts


def test_a_high_job_starts_within_half_a_second_behind_300_low_items(batch_stack: Stack) -> None:
    api = Api(batch_stack)
    batch_id = api.post("/v1/batch", {"entries": _entries(300, "low"), "priority": "low"})["batch_id"]
    wait_until(lambda: api.batch(batch_id)["request_counts"]["succeeded"] >= SLOTS, 60, interval=0.05,
               what="the low batch to be running")
    high = api.post("/v1/process", {"speaker": "Tomas", "dialogue": "urgent", "priority": "high"})
    job = _wait_started(api, high["job_id"])
    waited = _seconds(job["started_at"]) - _seconds(job["created_at"])
    batch = api.batch(batch_id)
    print(f"\nhigh job waited {waited:.3f}s behind {batch['request_counts']['queued']} waiting low items")
    assert batch["request_counts"]["queued"] > 200, "the backlog was still there"
    assert waited < 0.5, waited
    api.post(f"/v1/batches/{batch_id}/cancel", status=200)


def test_another_users_job_starts_within_two_seconds_beside_a_1000_item_batch(batch_stack: Stack) -> None:
    alice, bob = Api(batch_stack), Api(batch_stack, "bob", "bob-password")
    batch_id = alice.post("/v1/batch", {"entries": _entries(1000, "alice")})["batch_id"]
    wait_until(lambda: alice.batch(batch_id)["request_counts"]["succeeded"] >= SLOTS, 60, interval=0.05,
               what="alice's batch to be running")
    single = bob.post("/v1/process", {"speaker": "Bob", "dialogue": "just one picture"})
    job = _wait_started(bob, single["job_id"])
    waited = _seconds(job["started_at"]) - _seconds(job["created_at"])
    batch = alice.batch(batch_id)
    print(f"\nbob's job waited {waited:.3f}s beside alice's batch ({batch['request_counts']['queued']} waiting)")
    assert batch["request_counts"]["queued"] > 800
    assert waited < 2.0, waited
    # Bob's batch is served alongside alice's, round-robin, not after it.
    bobs = bob.post("/v1/batch", {"entries": _entries(10, "bob")})["batch_id"]
    done = _ended(bob, bobs, 60)
    assert done["status"] == "completed"
    assert alice.batch(batch_id)["request_counts"]["queued"] > 500
    alice.post(f"/v1/batches/{batch_id}/cancel", status=200)


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        _Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_batch_webhook_is_told_once_when_it_completes(batch_stack: Stack) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = Api(batch_stack)
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        batch_id = api.post("/v1/batch", {"entries": _entries(6, "hook"), "webhook_url": url})["batch_id"]
        assert _ended(api, batch_id, 60)["status"] == "completed"
        told = wait_until(lambda: [body for body in _Receiver.bodies if body.get("batch_id") == batch_id], 30,
                          what="the completed webhook")
        assert told[0]["event"] == "completed" and told[0]["request_counts"]["succeeded"] == 6
        # Only the batch is told: its items asked for no webhook of their own.
        assert all(body.get("batch_id") == batch_id for body in _Receiver.bodies)
        assert len(told) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_low_work_ages_past_a_running_normal_batch(batch_stack: Stack) -> None:
    api = Api(batch_stack)
    normal = api.post("/v1/batch", {"entries": _entries(1000, "normal")})["batch_id"]
    wait_until(lambda: api.batch(normal)["request_counts"]["succeeded"] >= SLOTS, 60, interval=0.05,
               what="the normal batch to be running")
    single = api.post("/v1/process", {"speaker": "Tomas", "dialogue": "low, but not forever", "priority": "low"})
    low_batch = api.post("/v1/batch", {"entries": _entries(3, "low batch"), "priority": "low"})["batch_id"]
    job = _wait_started(api, single["job_id"], timeout=60)
    waited = _seconds(job["started_at"]) - _seconds(job["created_at"])
    wait_until(lambda: api.batch(low_batch)["request_counts"]["succeeded"] >= 1, 60, interval=0.1,
               what="the low batch to get a turn")
    still_waiting = api.batch(normal)["request_counts"]["queued"]
    print(f"\na single low job waited {waited:.2f}s beside a normal batch (aging {AGING}s); "
          f"{still_waiting} normal items still waiting when the low batch got its turn")
    assert still_waiting > 300, "the normal batch was nearly over: nothing was starved"
    api.post(f"/v1/batches/{normal}/cancel", status=200)
