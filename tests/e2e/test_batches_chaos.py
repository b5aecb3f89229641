"""A 2,000-item batch survives a worker killed in the middle (marker ``chaos``, `make chaos`).

Two workers share the batch; one is killed with SIGKILL while it draws. Its admitted items
come back through the broker (short ``VISIBILITY_TIMEOUT``), the other worker and a new one
finish the batch, and the counts stay exact at every read: the results file still has one
line per entry, every one succeeded once. The shortened versions are in ``test_batches.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from scene_weaver import keys

from .processes import wait_until
from .stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

ITEMS = 2000
COUNTED = ("queued", "running", "succeeded", "failed", "canceled")


@pytest.fixture
def chaos_stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    redis.Redis.from_url(redis_url).flushdb()
    stack = Stack(redis_url, tmp_path, JOB_TIME_LIMIT="10", VISIBILITY_TIMEOUT="12")
    try:
        stack.start_renderer("--latency", "0.2")
        yield stack
    finally:
        stack.stop()


def test_a_batch_survives_a_killed_worker_with_exact_counts(chaos_stack: Stack, redis_url: str) -> None:
    stack = chaos_stack
    doomed = stack.start_worker("doomed")
    stack.start_worker("steady")
    stack.start_api()
    headers = {"Authorization": f"Bearer {stack.login()}"}
    entries = [{"speaker": "Iris", "dialogue": f"chaos line {i}"} for i in range(ITEMS)]
    response = requests.post(f"{stack.base}/v1/batch", json={"entries": entries}, headers=headers, timeout=60)
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]

    def read() -> dict:
        batch = requests.get(f"{stack.base}/v1/batches/{batch_id}", headers=headers, timeout=10).json()
        counts = batch["request_counts"]
        assert sum(counts[name] for name in COUNTED) == counts["total"] == ITEMS, counts
        return batch

    wait_until(lambda: read()["request_counts"]["succeeded"] >= ITEMS // 4, 120, what="a quarter done")
    doomed.kill()
    stack.start_worker("rescuer")
    started = time.monotonic()
    batch = wait_until(lambda: (b := read())["status"] != "in_progress" and b, 600, interval=0.5,
                       what="the batch to end")
    assert batch["status"] == "completed", batch
    assert batch["request_counts"]["succeeded"] == ITEMS
    lines = requests.get(f"{stack.base}/v1/batches/{batch_id}/results", headers=headers, timeout=30).text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["index"] for row in rows] == list(range(ITEMS))
    assert all(row["status"] == "succeeded" for row in rows)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    for row in rows[::50]:
        completions = [f for _, f in client.xrange(keys.job_events(row["job_id"])) if f["type"] == "completed"]
        assert len(completions) == 1
    assert client.scard(keys.admission_inflight()) == 0
    print(f"\nbatch of {ITEMS} finished {time.monotonic() - started:.1f}s after the kill")
