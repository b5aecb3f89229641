"""Worker heartbeats in Redis: live while renewed, gone after their TTL, listed without SCAN."""

from __future__ import annotations

import redis

from scene_weaver import keys
from scene_weaver.heartbeats import STOPPING, HeartbeatStore, fleet_summary
from tests.support.heartbeats import beat_of
from tests.support.waiting import wait_until


def test_a_beat_is_live_with_what_it_carries(redis_client: redis.Redis) -> None:
    store = HeartbeatStore(redis_client)
    sent = beat_of("a", in_flight=3, job_ids=("j1", "j2", "j3"), sessions_connected=2)
    store.beat(sent, ttl=30)
    assert store.live() == [sent]
    assert 0 < redis_client.pttl(keys.worker_heartbeat("a")) <= 30_000
    assert store.expired() == []


def test_an_unrenewed_beat_expires_and_is_kept_for_the_reaper(redis_client: redis.Redis) -> None:
    store = HeartbeatStore(redis_client)
    store.beat(beat_of("dead"), ttl=0.3)
    store.beat(beat_of("alive"), ttl=60)
    wait_until(lambda: [h.runner_id for h in store.live()] == ["alive"], 15.0, interval=0.05)
    # The record is gone; the index still names the runner, so what it held can be handed back.
    wait_until(lambda: store.expired() == ["dead"], 15.0, interval=0.05)
    assert redis_client.exists(keys.worker_heartbeat("dead")) == 0


def test_a_renewed_beat_replaces_the_last(redis_client: redis.Redis) -> None:
    store = HeartbeatStore(redis_client)
    store.beat(beat_of("a", in_flight=1), ttl=30)
    store.beat(beat_of("a", in_flight=5), ttl=30)
    assert [h.in_flight for h in store.live()] == [5]
    assert redis_client.zcard(keys.worker_heartbeats()) == 1


def test_withdraw_removes_record_and_index_entry(redis_client: redis.Redis) -> None:
    store = HeartbeatStore(redis_client)
    store.beat(beat_of("a"), ttl=30)
    store.withdraw("a")
    assert store.live() == [] and store.expired() == []
    assert redis_client.zcard(keys.worker_heartbeats()) == 0


def test_the_index_forgets_runners_gone_longer_than_the_retention(redis_client: redis.Redis) -> None:
    store = HeartbeatStore(redis_client, retention=0.2)
    store.beat(beat_of("old"), ttl=0.1)
    wait_until(lambda: store.expired() == ["old"], 15.0, interval=0.05)

    def pruned() -> bool:
        # Past its expiry plus the retention, the next beat of any worker drops it.
        store.beat(beat_of("new"), ttl=30)
        return bool(redis_client.zrange(keys.worker_heartbeats(), 0, -1) == ["new"])

    wait_until(pruned, 15.0, interval=0.05)
    assert store.expired() == []


def test_a_malformed_record_is_skipped(redis_client: redis.Redis) -> None:
    store = HeartbeatStore(redis_client)
    store.beat(beat_of("good"), ttl=30)
    store.beat(beat_of("bad"), ttl=30)
    redis_client.set(keys.worker_heartbeat("bad"), "{not json", px=30_000)
    assert [h.runner_id for h in store.live()] == ["good"]


def test_fleet_summary_counts_only_accepting_workers() -> None:
    live = [beat_of("a", in_flight=8), beat_of("b", in_flight=2, state=STOPPING)]
    assert fleet_summary(live) == {"workers": 1, "workers_stopping": 1, "jobs_in_flight": 10}
    assert fleet_summary([]) == {"workers": 0, "workers_stopping": 0, "jobs_in_flight": 0}
