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
    assert store.list_ids("demo") == ([job.job_id], 1)
    assert store.list_ids("someone-else") == ([], 0)


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
