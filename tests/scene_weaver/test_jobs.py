"""The job store against a real Redis: records, events, terminal states, cancel."""

from __future__ import annotations

import redis

from scene_weaver.jobs import JobStore
from scene_weaver.models import JobStatus, Priority, Scene

SCENE = Scene(speaker="Iris", dialogue=["Is the lighthouse aware?"], narration="Night, stairs.")


def test_create_writes_record_and_first_event(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job = store.create("demo", SCENE, priority=Priority.HIGH, options={"width": 320})
    assert job.status is JobStatus.QUEUED
    assert job.priority is Priority.HIGH
    assert job.scene["dialogue"] == ["Is the lighthouse aware?"]
    assert job.options == {"width": 320}
    events = store.events(job.job_id)
    assert [e.type for e in events] == ["queued"]
    assert [job_id for job_id, _ in store.newest_ids("demo")] == [job.job_id]
    assert (store.count("demo"), store.count("someone-else"), store.count(None)) == (1, 0, 1)
    assert store.newest_ids("someone-else") == []


def test_life_of_a_job_appends_ordered_events(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job_id = store.create("demo", SCENE).job_id
    store.mark_started(job_id)
    store.mark_weaving(job_id)
    store.mark_generating(job_id, {"text": "p", "negative": "n", "style": "manga"})
    store.set_progress(job_id, 40, "generating")
    store.succeed(job_id, {"sha256": "a" * 64, "mime_type": "image/png", "width": 1, "height": 1})
    job = store.require(job_id)
    assert job.status is JobStatus.SUCCEEDED and job.progress == 100 and job.attempts == 1
    assert job.finished_at and job.started_at
    events = store.events(job_id)
    assert [e.type for e in events] == ["queued", "started", "weaving", "generating", "progress", "completed"]
    ids = [e.id for e in events]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert store.events(job_id, after=ids[2])[0].type == "generating"


def test_terminal_job_is_never_changed_again(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job_id = store.create("demo", SCENE).job_id
    store.mark_started(job_id)
    assert store.succeed(job_id, {"sha256": "b" * 64, "mime_type": "image/png", "width": 1, "height": 1})
    assert not store.mark_started(job_id)
    assert not store.fail(job_id, "x", "late failure")
    assert not store.succeed(job_id, {"sha256": "c" * 64})
    job = store.require(job_id)
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 1 and job.result["sha256"] == "b" * 64
    assert [e.type for e in store.events(job_id)][-1] == "completed"


def test_cancel_of_queued_job_ends_it_and_leaves_a_marker(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job_id = store.create("demo", SCENE).job_id
    job = store.request_cancel(job_id)
    assert job.status is JobStatus.CANCELED
    assert store.cancel_requested(job_id)


def test_cancel_of_running_job_only_marks_it(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job_id = store.create("demo", SCENE).job_id
    store.mark_started(job_id)
    assert store.request_cancel(job_id).status is JobStatus.STARTED
    assert store.cancel_requested(job_id)


def test_retry_is_recorded(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job_id = store.create("demo", SCENE).job_id
    store.mark_started(job_id)
    store.note_retry(job_id, "OVERLOADED", "busy", 1.5)
    job = store.require(job_id)
    assert job.status is JobStatus.QUEUED
    assert job.retries[0]["code"] == "OVERLOADED" and job.retries[0]["delay"] == 1.5
    assert store.events(job_id)[-1].data["code"] == "OVERLOADED"


def test_run_lock_admits_one_runner(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    assert store.acquire_run_lock("j1", "a", 10)
    assert not store.acquire_run_lock("j1", "b", 10)
    store.release_run_lock("j1", "b")
    assert not store.acquire_run_lock("j1", "b", 10)
    store.release_run_lock("j1", "a")
    assert store.acquire_run_lock("j1", "b", 10)


def test_newest_ids_page_by_creation_score(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    ids = [store.create("demo", SCENE).job_id for _ in range(4)][::-1]
    store.create("other", SCENE)
    rows = store.newest_ids("demo")
    assert [job_id for job_id, _ in rows] == ids
    assert [job_id for job_id, _ in store.newest_ids("demo", skip=1, limit=2)] == ids[1:3]
    assert [job_id for job_id, _ in store.newest_ids("demo", before=rows[1][1])] == ids[2:]
    assert len(store.newest_ids(None)) == 5


def test_count_by_status_reads_the_newest_jobs(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    ids = [store.create(owner, SCENE).job_id for owner in ("demo", "demo", "other")]
    store.mark_started(ids[0])
    store.fail(ids[0], "boom", "it broke")
    counts, counted = store.count_by_status(10)
    assert counted == 3 and counts["queued"] == 2 and counts["failed"] == 1 and counts["succeeded"] == 0
    assert store.count_by_status(1)[1] == 1


def test_waiting_on_several_streams_names_each_event_job(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    first, second = store.create("demo", SCENE).job_id, store.create("demo", SCENE).job_id
    after = {job_id: store.events(job_id)[-1].id for job_id in (first, second)}
    assert store.wait_events_of(after, block_ms=10) == []
    store.mark_started(first)
    store.cancel(second)
    events = store.wait_events_of(after, block_ms=10)
    assert [(job_id, event.type, event.terminal) for job_id, event in events] == [
        (first, "started", False), (second, "canceled", True)]
    assert store.wait_events_of({}, block_ms=10) == []
    assert [event.type for event in store.wait_events(first, after[first], block_ms=10)] == ["started"]
