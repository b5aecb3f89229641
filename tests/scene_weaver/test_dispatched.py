"""The dispatched-jobs index the reconciler follows, and slots that belong to a live holder."""

from __future__ import annotations

import time

import redis

from scene_weaver import keys
from scene_weaver.jobs import JobStore
from scene_weaver.leases import LeaderLease, LeasedSlots, holder_of
from scene_weaver.models import Scene


def test_a_dispatched_job_stays_in_the_index_until_it_ends(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    running = store.create("demo", Scene(speaker="Iris", dialogue="one"))
    canceled = store.create("demo", Scene(speaker="Iris", dialogue="two"))
    never = store.create("demo", Scene(speaker="Iris", dialogue="a batch item waiting for admission"))
    assert store.record_dispatched(running.job_id) and store.record_dispatched(canceled.job_id)
    assert not store.is_dispatched(never.job_id)  # only what was handed to the broker is followed
    store.mark_started(running.job_id)
    store.mark_generating(running.job_id, {"text": "x"})
    store.request_cancel(canceled.job_id)
    assert store.is_dispatched(running.job_id) and not store.is_dispatched(canceled.job_id)
    store.succeed(running.job_id, {"sha256": "0" * 64})
    assert store.dispatched_count() == 0
    # A late re-dispatch of a finished job is not recorded: nothing would ever remove it.
    assert not store.record_dispatched(running.job_id) and not store.record_dispatched("missing")
    assert store.dispatched_count() == 0


def test_dispatched_before_lists_only_jobs_older_than_the_grace(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    job = store.create("demo", Scene(speaker="Iris", dialogue="one"))
    store.record_dispatched(job.job_id)
    assert store.dispatched_before(time.time() - 60, 10) == []
    assert [job_id for job_id, _ in store.dispatched_before(time.time() + 1, 10)] == [job.job_id]


def test_a_run_lock_is_broken_only_for_the_runner_that_holds_it(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    assert store.acquire_run_lock("j1", "host:1:aa", 600)
    assert not store.break_run_lock("j1", "host:2:bb") and store.run_lock_owner("j1") == "host:1:aa"
    assert store.break_run_lock("j1", "host:1:aa") and store.run_lock_owner("j1") is None


def test_slots_of_a_holder_that_is_gone_are_freed_at_once(redis_client: redis.Redis) -> None:
    slots = LeasedSlots(redis_client)
    key = keys.inflight()
    live = slots.try_acquire(key, limit=3, lease=600, holder="host:1:aa")
    dead = slots.try_acquire(key, limit=3, lease=600, holder="host:2:bb")
    anonymous = slots.try_acquire(key, limit=3, lease=600)
    assert live and dead and anonymous and holder_of(dead) == "host:2:bb" and holder_of(anonymous) == ""
    assert slots.try_acquire(key, limit=3, lease=600, holder="host:1:aa") is None  # full
    assert slots.reap(key, {"host:1:aa"}) == 1  # the anonymous slot waits for its lease
    assert slots.holders(key) == 2
    assert slots.try_acquire(key, limit=3, lease=600, holder="host:1:aa") is not None


def test_one_leader_at_a_time_until_it_resigns(redis_client: redis.Redis) -> None:
    first = LeaderLease(redis_client, "sw:test:leader", "first", lease=30)
    second = LeaderLease(redis_client, "sw:test:leader", "second", lease=30)
    assert first.lead() and not second.lead()
    assert first.lead()  # renewing its own lease
    assert 0 < redis_client.pttl("sw:test:leader") <= 30_000
    second.resign()  # not its lease: nothing changes
    assert not second.lead()
    first.resign()
    assert second.lead() and not first.lead()
