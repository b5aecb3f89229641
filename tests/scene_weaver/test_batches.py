"""Batch records, their counts (kept by the job state script) and admission, on a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from scene_weaver import keys
from scene_weaver.batches import Admission, BatchItem, BatchStore
from scene_weaver.heartbeats import HeartbeatStore
from scene_weaver.jobs import JobStore
from scene_weaver.models import Priority, Scene
from scene_weaver.settings import Settings
from tests.support.heartbeats import beat_of

COUNTED = ("queued", "running", "succeeded", "failed", "canceled")


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    return client


def _items(count: int, tag: str = "") -> list[BatchItem]:
    return [BatchItem(scene=Scene(speaker="Iris", dialogue=[f"{tag} line {i}"]), group=f"g{i % 3}", seed=i)
            for i in range(count)]


def _admission(client: redis.Redis, slots: int, **settings: object) -> Admission:
    HeartbeatStore(client).beat(beat_of("w1", concurrency=slots), ttl=60)
    return Admission(client, Settings.from_env({}).model_copy(update={"admission_window_per_slot": 1, **settings}))


def _adds_up(store: BatchStore, batch_id: str) -> dict[str, int]:
    batch = store.get(batch_id)
    assert batch is not None
    counts = batch.request_counts
    assert sum(counts[name] for name in COUNTED) == counts["total"], counts
    return counts


def test_counts_follow_item_states_atomically_and_the_batch_ends(client: redis.Redis) -> None:
    store, jobs = BatchStore(client), JobStore(client)
    batch = store.create("demo", _items(3), priority=Priority.LOW)
    ids = store.item_ids(batch.batch_id)
    job = jobs.require(ids[1])
    assert (job.batch_id, job.index, job.options) == (batch.batch_id, 1, {"group": "g1", "seed": 1})
    jobs.mark_started(ids[0])
    jobs.mark_weaving(ids[0])
    assert _adds_up(store, batch.batch_id)["running"] == 1
    jobs.succeed(ids[0], {"sha256": "x", "mime_type": "image/png"})
    jobs.succeed(ids[1], {"sha256": "x", "mime_type": "image/png", "deduplicated": True})
    counts = _adds_up(store, batch.batch_id)
    assert (counts["succeeded"], counts["deduplicated"], counts["queued"]) == (2, 1, 1)
    assert store.get(batch.batch_id).status == "in_progress"  # type: ignore[union-attr]
    jobs.fail(ids[2], "generation_failed", "no")
    jobs.fail(ids[2], "generation_failed", "again")  # a terminal job is never counted twice
    ended = store.get(batch.batch_id)
    assert ended is not None and ended.status == "completed" and ended.completed_at
    assert _adds_up(store, batch.batch_id) == {"total": 3, "queued": 0, "running": 0, "succeeded": 2,
                                               "failed": 1, "canceled": 0, "deduplicated": 1}
    kinds = [event.type for event in store.events(batch.batch_id)]
    assert kinds[-1] == "completed" and kinds.count("item") == 5


def test_admission_fills_the_window_round_robin_and_refills_as_items_end(client: redis.Redis) -> None:
    store, jobs = BatchStore(client), JobStore(client)
    admission = _admission(client, slots=4)
    first = store.create("alice", _items(50, "a"))
    second = store.create("bob", _items(50, "b"))
    taken = admission.take()
    assert len(taken) == 4 and admission.take() == []
    owners = [jobs.require(job_id).owner for job_id, _ in taken]
    assert owners == ["alice", "bob", "alice", "bob"]
    assert [jobs.require(job_id).index for job_id, _ in taken] == [0, 0, 1, 1]
    jobs.mark_started(taken[0][0])
    assert admission.take() == []  # running still fills the window
    jobs.succeed(taken[0][0], {"sha256": "x"})
    again = admission.take()
    assert len(again) == 1 and jobs.require(again[0][0]).owner == "alice"
    assert jobs.require(again[0][0]).index == 2
    assert not admission.admitted(taken[0][0]) and admission.admitted(again[0][0])
    assert _adds_up(store, first.batch_id)["queued"] == 49 and _adds_up(store, second.batch_id)["queued"] == 50


def test_high_batches_go_first_and_waiting_low_work_ages_into_the_normal_queue(client: redis.Redis) -> None:
    store = BatchStore(client)
    admission = _admission(client, slots=2, admission_aging_seconds=0.5)
    low = store.create("carol", _items(10, "low"), priority=Priority.LOW)
    client.hset(keys.batch(low.batch_id), "last_admit", f"{time.time():.6f}")
    store.create("alice", _items(10, "normal"))
    store.create("bob", _items(2, "high"), priority=Priority.HIGH)
    assert [priority for _, priority in admission.take()] == [Priority.HIGH, Priority.HIGH]
    client.delete(keys.admission_inflight())
    assert [priority for _, priority in admission.take()] == [Priority.NORMAL, Priority.NORMAL]
    client.hset(keys.batch(low.batch_id), "last_admit", f"{time.time() - 1:.6f}")  # waited past the aging
    client.delete(keys.admission_inflight())
    aged = admission.take()
    assert JobStore(client).require(aged[0][0]).owner == "carol"
    assert aged[0][1] == Priority.NORMAL  # lifted to the normal queue; then it waits its turn again
    assert JobStore(client).require(aged[1][0]).owner == "alice"


def test_cancel_stops_admission_and_ends_queued_items(client: redis.Redis) -> None:
    store, jobs = BatchStore(client), JobStore(client)
    admission = _admission(client, slots=2)
    batch = store.create("demo", _items(6))
    sent = admission.take()
    jobs.mark_started(sent[0][0])
    assert store.begin_cancel(batch.batch_id)
    assert admission.take() == [] and client.llen(keys.batch_pending(batch.batch_id)) == 0
    for job_id in store.item_ids(batch.batch_id):
        jobs.request_cancel(job_id)
    counts = _adds_up(store, batch.batch_id)
    assert (counts["running"], counts["canceled"]) == (1, 5)
    jobs.cancel(sent[0][0])  # the running item saw the marker
    assert store.get(batch.batch_id).status == "canceled"  # type: ignore[union-attr]
    assert admission.inflight() == 0
    assert not store.begin_cancel(batch.batch_id)


def test_an_item_canceled_while_waiting_takes_no_room(client: redis.Redis) -> None:
    store, jobs = BatchStore(client), JobStore(client)
    admission = _admission(client, slots=1)
    batch = store.create("demo", _items(3))
    first = store.item_ids(batch.batch_id, 0, 0)[0]
    jobs.request_cancel(first)
    taken = admission.take()
    assert [jobs.require(job_id).index for job_id, _ in taken] == [1]


def test_the_completed_webhook_is_given_out_once(client: redis.Redis) -> None:
    store, jobs = BatchStore(client), JobStore(client)
    batch = store.create("demo", _items(1), webhook_url="https://example.test/hook", webhook_events=["completed"])
    assert store.completed_webhook(batch.batch_id) is None  # not ended yet
    jobs.succeed(store.item_ids(batch.batch_id)[0], {"sha256": "x"})
    delivery = store.completed_webhook(batch.batch_id)
    assert delivery is not None and delivery[0] == "https://example.test/hook"
    assert '"event":"completed"' in delivery[1] and '"status":"completed"' in delivery[1]
    assert store.completed_webhook(batch.batch_id) is None


def test_single_low_jobs_waiting_in_the_broker_age_admission_holds_back_for_them(client: redis.Redis) -> None:
    store = BatchStore(client)
    admission = _admission(client, slots=2, admission_aging_seconds=30)
    store.create("alice", _items(20, "normal"))
    client.rpush("low", "a single low job's message")
    assert len(admission.take()) == 2  # the low queue just started waiting
    client.delete(keys.admission_inflight())
    client.hset(keys.admission_low_aging(), "since", f"{time.time() - 31:.6f}")  # it waited past the aging
    assert admission.take() == []  # held back: the default queue drains, a worker reaches the low one
    store.create("bob", _items(1, "high"), priority=Priority.HIGH)
    assert [priority for _, priority in admission.take()] == [Priority.HIGH]  # high work is never held
    client.delete(keys.admission_inflight())
    assert admission.take() == []
    client.lpop("low")  # a worker took it
    assert len(admission.take()) == 2


def test_a_batch_whose_items_all_failed_is_failed(client: redis.Redis) -> None:
    store, jobs = BatchStore(client), JobStore(client)
    batch = store.create("demo", _items(2))
    for job_id in store.item_ids(batch.batch_id):
        jobs.fail(job_id, "content_rejected", "no")
    ended = store.get(batch.batch_id)
    assert ended is not None and ended.status == "failed" and ended.request_counts["failed"] == 2
