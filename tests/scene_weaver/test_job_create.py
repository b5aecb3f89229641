"""JobStore.create writes a job in one step and answers it without reading it back."""

from __future__ import annotations

import redis

from scene_weaver import keys
from scene_weaver.jobs import JobStore
from scene_weaver.models import Priority, Scene

SCENE = Scene(speaker="Iris", dialogue=["Is the lighthouse aware?"], narration="Night, stairs.", style="noir")


def test_the_job_answered_is_the_job_stored(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    for priority, options in ((Priority.NORMAL, None), (Priority.HIGH, {"width": 320, "webhook_events": ["started"]})):
        job = store.create("demo", SCENE, priority=priority, options=options)
        assert job == store.get(job.job_id)


def test_the_creation_score_is_shared_by_the_indexes(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job = store.create("demo", SCENE, dispatched=True)
    score = redis_client.zscore(keys.all_jobs(), job.job_id)
    assert score is not None
    assert redis_client.zscore(keys.user_jobs("demo"), job.job_id) == score
    assert redis_client.zscore(keys.dispatched_jobs(), job.job_id) == score


def test_dispatched_records_the_job_for_the_reconciler_only_when_asked(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    followed = store.create("demo", SCENE, dispatched=True)
    waiting = store.create("demo", SCENE)  # e.g. a batch item not yet admitted
    assert store.is_dispatched(followed.job_id)
    assert not store.is_dispatched(waiting.job_id)
    assert [job_id for job_id, _ in store.dispatched_before(float("inf"), 10)] == [followed.job_id]
    # Its end takes it out of the index, as for a job recorded by record_dispatched.
    store.cancel(followed.job_id)
    assert store.dispatched_count() == 0
