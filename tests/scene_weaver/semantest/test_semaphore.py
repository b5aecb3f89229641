"""The fleet-wide in-flight cap, shared through Redis by several pools."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from scene_weaver.errors import JobCanceled, SemantestError
from scene_weaver.semantest import GeneratedImage, GlobalSemaphore
from tests.support.semantest import PoolFactory, RendererFactory

from .helpers import request


def test_crashed_holders_slots_expire(redis_client: redis.Redis) -> None:
    sem = GlobalSemaphore(redis_client, limit=2, hold_ttl=0.3)
    assert sem.try_acquire() and sem.try_acquire()
    assert sem.try_acquire() is None
    with pytest.raises(SemantestError) as caught:
        sem.acquire(time.monotonic() + 0.1)
    assert caught.value.code == "slot_timeout" and caught.value.retryable
    time.sleep(0.35)  # the holders "crashed": never released
    assert sem.try_acquire() is not None


def test_acquire_waits_until_a_slot_is_released(redis_client: redis.Redis) -> None:
    sem = GlobalSemaphore(redis_client, limit=1, hold_ttl=30)
    held = sem.try_acquire()
    assert held is not None
    releaser = threading.Timer(0.2, sem.release, args=(held,))
    started = time.monotonic()
    releaser.start()
    token = sem.acquire(started + 5)
    waited = time.monotonic() - started
    releaser.join()
    assert token != held and sem.holders() == 1
    assert 0.2 <= waited < 2, waited  # tried again until the slot came back, well before the deadline


def test_acquire_gives_up_at_the_deadline_not_before(redis_client: redis.Redis) -> None:
    sem = GlobalSemaphore(redis_client, limit=1, hold_ttl=30)
    assert sem.try_acquire() is not None
    started = time.monotonic()
    with pytest.raises(SemantestError) as caught:
        sem.acquire(started + 0.3)
    waited = time.monotonic() - started
    assert caught.value.code == "slot_timeout"
    assert 0.3 <= waited < 1.5, waited


def test_cancel_ends_the_wait(redis_client: redis.Redis) -> None:
    sem = GlobalSemaphore(redis_client, limit=1, hold_ttl=30)
    assert sem.try_acquire() is not None
    asked: list[float] = []

    def canceled_on_third_ask() -> bool:
        asked.append(time.monotonic())
        return len(asked) == 3

    with pytest.raises(JobCanceled):
        sem.acquire(time.monotonic() + 5, canceled_on_third_ask)
    assert len(asked) == 3  # asked after each refused try, and stopped at once
    assert sem.holders() == 1


def test_cap_holds_across_two_pools(
    redis_client: redis.Redis, renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    latency = 0.4
    renderer = renderer_factory(latency=latency)
    pools = [pool_factory(renderer.url, semantest_max_in_flight_global=3) for _ in range(2)]
    sampler = GlobalSemaphore(redis_client, limit=3, hold_ttl=1)
    done = threading.Event()
    peak = 0

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sampler.holders())
            time.sleep(0.01)

    results: list[object] = []

    def one(pool_index: int) -> None:
        try:
            results.append(pools[pool_index].generate(request()))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    watcher = threading.Thread(target=sample)
    watcher.start()
    threads = [threading.Thread(target=one, args=(i % 2,)) for i in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    elapsed = time.monotonic() - started
    done.set()
    watcher.join()
    assert all(isinstance(r, GeneratedImage) for r in results) and len(results) == 8, results
    assert peak == 3
    assert elapsed >= 3 * latency  # eight requests, three at a time: three waves at least
    assert renderer.stats()["generated"] == 8


def test_local_slot_wait_is_bounded(renderer_factory: RendererFactory, pool_factory: PoolFactory) -> None:
    renderer = renderer_factory("--max-in-flight", "1", latency=1.5)
    pool = pool_factory(renderer.url, semantest_pool_size=1, semantest_slot_wait=0.4)
    blocker = threading.Thread(target=lambda: pool.generate(request()))
    blocker.start()
    time.sleep(0.3)
    with pytest.raises(SemantestError) as caught:
        pool.generate(request())
    assert caught.value.code == "slot_timeout" and caught.value.retryable
    blocker.join(10)
