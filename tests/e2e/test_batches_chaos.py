"""``make chaos`` scenario batch-scaling (issue 15), and a batch that survives a killed worker.

batch-scaling: a 1,000-scene batch (``POST /v1/batch``) while the workers are scaled from 1 to 3
and back to 1, twice; the extra workers are drained (SIGTERM while they run items) and must exit
by themselves, cleanly. The counts add up at every read, the results file (JSON Lines) lists
each item once, every item succeeded once and the renderer drew one picture per item.

batch-worker-kill: two workers share a 2,000-item batch; one is SIGKILLed while it draws. Its
admitted items come back through the broker (short ``VISIBILITY_TIMEOUT``), the other worker and
a new one finish the batch. The shortened versions are in ``test_batches.py`` and ``test_drain.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from scene_weaver import keys

from .batch_runs import BatchFollower, entries, submit_batch
from .chaos_summary import assert_clean, report
from .fault_runs import headers_for
from .processes import drain_workers
from .stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

SCALED_ITEMS = 1000
SCALE_CYCLES = ((100, 400), (550, 800))  # (items succeeded when 2 workers join, when they are drained)
KILLED_ITEMS = 2000


@pytest.mark.timeout(900)
def test_batch_scaling(redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    stack = Stack(redis_url, tmp_path, WORKER_CONCURRENCY="4")
    started = time.monotonic()
    try:
        renderer = stack.start_renderer("--latency", "0.2")
        stack.start_worker("steady", concurrency=4)
        stack.start_api()
        headers = headers_for(stack)
        batch = submit_batch(stack, headers, entries(SCALED_ITEMS, "scaling"))
        accepted = int(batch["request_counts"]["total"])
        follower = BatchFollower(stack, headers, batch["batch_id"], SCALED_ITEMS)
        exits: list[int] = []
        for cycle, (up_at, down_at) in enumerate(SCALE_CYCLES):
            follower.wait_succeeded(up_at)
            extra = [stack.start_worker(f"extra{cycle}a", concurrency=4),
                     stack.start_worker(f"extra{cycle}b", concurrency=4)]
            follower.wait_succeeded(down_at)
            exits += drain_workers(client, extra)
        outcome = follower.finish(300, redis_url)
        drawn = renderer.stats()["generated"]
        tracebacks = [worker.name for worker in stack.workers if any("Traceback" in line for line in worker.output)]
    finally:
        stack.stop()
    counts = outcome.tally(accepted)
    report(capsys, "batch-scaling", counts, seconds=round(time.monotonic() - started, 1),
           status=outcome.batch.get("status"), request_counts=outcome.batch.get("request_counts"),
           result_lines=len(outcome.rows), drained_worker_exit_codes=exits, pictures_drawn=drawn,
           workers_with_a_traceback=tracebacks, problems=outcome.problems)
    assert_clean(counts)
    assert accepted == SCALED_ITEMS
    assert [row["index"] for row in outcome.rows] == list(range(SCALED_ITEMS))
    assert outcome.batch["status"] == "completed"
    assert outcome.problems == []
    assert exits == [0] * 2 * len(SCALE_CYCLES)  # drained, not killed
    assert drawn == SCALED_ITEMS  # no picture drawn twice
    assert tracebacks == []


@pytest.mark.timeout(900)
def test_batch_worker_kill(redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    stack = Stack(redis_url, tmp_path, JOB_TIME_LIMIT="10", VISIBILITY_TIMEOUT="12")
    try:
        stack.start_renderer("--latency", "0.2")
        doomed = stack.start_worker("doomed")
        stack.start_worker("steady")
        stack.start_api()
        headers = headers_for(stack)
        batch = submit_batch(stack, headers, entries(KILLED_ITEMS, "chaos"))
        accepted = int(batch["request_counts"]["total"])
        follower = BatchFollower(stack, headers, batch["batch_id"], KILLED_ITEMS)
        follower.wait_succeeded(KILLED_ITEMS // 4, timeout=120)
        doomed.kill()
        stack.start_worker("rescuer")
        killed_at = time.monotonic()
        outcome = follower.finish(600, redis_url)
        after_kill = time.monotonic() - killed_at
        admission_left = client.scard(keys.admission_inflight())
    finally:
        stack.stop()
    counts = outcome.tally(accepted)
    report(capsys, "batch-worker-kill", counts, seconds_after_the_kill=round(after_kill, 1),
           status=outcome.batch.get("status"), result_lines=len(outcome.rows),
           admission_slots_left=admission_left, problems=outcome.problems)
    assert_clean(counts)
    assert accepted == KILLED_ITEMS
    assert [row["index"] for row in outcome.rows] == list(range(KILLED_ITEMS))
    assert outcome.batch["status"] == "completed"
    assert outcome.problems == []
    assert admission_left == 0
