"""Following many jobs: a snapshot, then every change once, within and beyond the XREAD window."""

from __future__ import annotations

import redis

from scene_weaver import keys
from scene_weaver.job_follow import MISSING, JobFollower, read_jobs
from scene_weaver.jobs import JobStore
from scene_weaver.models import Scene


def _jobs(store: JobStore, n: int) -> list[str]:
    return [store.create("iris", Scene(speaker="Iris", dialogue=[f"line {i}"], entry_id=f"{i:04d}")).job_id
            for i in range(n)]


def test_snapshot_then_changes_in_order(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    ids = _jobs(store, 3)
    store.mark_started(ids[1])
    follower = JobFollower(store, ids)
    assert [(s.index, s.status) for s in follower.snapshot()] == [(0, "queued"), (1, "started"), (2, "queued")]
    assert follower.changes(10) == []
    store.succeed(ids[2], {"sha256": "0" * 64, "mime_type": "image/png"})
    store.mark_started(ids[0])
    store.set_progress(ids[0], 40)
    changes = follower.changes(10)
    assert [(s.index, s.status, s.progress) for s in changes] == [(0, "started", 40), (2, "succeeded", 100)]
    assert not follower.finished
    store.cancel(ids[0])
    store.fail(ids[1], "content_rejected", "no")
    assert {s.status for s in follower.changes(10)} == {"canceled", "failed"}
    assert follower.finished
    assert follower.changes(10) == []


def test_jobs_beyond_the_window_are_seen_by_the_rescan(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    ids = _jobs(store, 5)
    now = [0.0]
    follower = JobFollower(store, ids, window=2, rescan_every=2.0, clock=lambda: now[0])
    follower.snapshot()
    store.succeed(ids[4], {"sha256": "0" * 64, "mime_type": "image/png"})  # outside the window of 2
    assert follower.changes(10) == []
    now[0] = 2.5
    assert [(s.index, s.status) for s in follower.changes(10)] == [(4, "succeeded")]
    # Window jobs that finish make room: the next unfinished are followed from their stream's end.
    store.succeed(ids[0], {"sha256": "0" * 64, "mime_type": "image/png"})
    store.succeed(ids[1], {"sha256": "0" * 64, "mime_type": "image/png"})
    assert [s.index for s in follower.changes(10)] == [0, 1]
    store.mark_started(ids[2])
    store.mark_started(ids[3])
    assert [(s.index, s.status) for s in follower.changes(10)] == [(2, "started"), (3, "started")]


def test_a_job_whose_record_is_gone_counts_as_finished(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    ids = _jobs(store, 2)
    redis_client.delete(keys.job(ids[1]), keys.job_events(ids[1]))
    follower = JobFollower(store, ids)
    assert [s.status for s in follower.snapshot()] == ["queued", MISSING]
    assert read_jobs(store, ids)[1] is None and read_jobs(store, ids)[0] is not None
