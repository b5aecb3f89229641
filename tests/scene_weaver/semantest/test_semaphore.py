"""The fleet-wide in-flight cap, shared through Redis by several pools."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from scene_weaver.errors import JobCanceled, SemantestError
from scene_weaver.semantest import GeneratedImage, GlobalSemaphore
from tests.support.semantest import PoolFactory, RendererFactory
from tests.support.waiting import wait_until

from .helpers import request


def test_crashed_holders_slots_expire(redis_client: redis.Redis) -> None:
    ttl = 2.0  # long enough that the refusals below happen inside it even on a busy machine
    sem = GlobalSemaphore(redis_client, limit=2, hold_ttl=ttl)
    taken = time.monotonic()
    assert sem.try_acquire() and sem.try_acquire()
    assert sem.try_acquire() is None
    with pytest.raises(SemantestError) as caught:
        sem.acquire(time.monotonic() + 0.1)
    assert caught.value.code == "slot_timeout" and caught.value.retryable
    # The holders "crashed": never released. Their slots come back once the hold expires, not before.
    wait_until(sem.try_acquire, ttl + 30, what="the crashed holders' slots to expire")
    assert time.monotonic() - taken >= ttl * 0.95


def test_acquire_waits_until_a_slot_is_released(redis_client: redis.Redis) -> None:
    sem = GlobalSemaphore(redis_client, limit=1, hold_ttl=30)
    held = sem.try_acquire()
    assert held is not None
    released: list[float] = []

    def release() -> None:
        released.append(time.monotonic())
        sem.release(held)

    releaser = threading.Timer(0.2, release)
    deadline = time.monotonic() + 30
    releaser.start()
    token = sem.acquire(deadline)
    acquired = time.monotonic()
    releaser.join()
    assert token != held and sem.holders() == 1
    # It tried again until the slot came back (not before), and took it long before the deadline:
    # its pauses are at most tens of milliseconds, this bound leaves a busy machine seconds.
    assert released and released[0] <= acquired < released[0] + 5, (released, acquired)


def test_acquire_gives_up_at_the_deadline_not_before(redis_client: redis.Redis) -> None:
    sem = GlobalSemaphore(redis_client, limit=1, hold_ttl=30)
    assert sem.try_acquire() is not None
    patience = 0.3
    started = time.monotonic()
    with pytest.raises(SemantestError) as caught:
        sem.acquire(started + patience)
    waited = time.monotonic() - started
    assert caught.value.code == "slot_timeout"
    assert patience <= waited < patience + 3, waited


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
    # A long slot wait: on a busy machine the third wave may wait a while, and must not time out.
    pools = [pool_factory(renderer.url, semantest_max_in_flight_global=3, semantest_slot_wait=30.0) for _ in range(2)]
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
    # The first request holds the only slot far longer than any wait below, then is canceled.
    renderer = renderer_factory("--max-in-flight", "1", latency=60.0)
    pool = pool_factory(renderer.url, semantest_pool_size=1, semantest_slot_wait=0.4)
    done = threading.Event()
    outcome: list[BaseException | GeneratedImage] = []

    def block() -> None:
        try:
            outcome.append(pool.generate(request(), should_cancel=done.is_set))
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    blocker = threading.Thread(target=block)
    blocker.start()
    try:
        wait_until(lambda: renderer.stats()["in_flight"] == 1, 30, interval=0.02, what="the first request in flight")
        with pytest.raises(SemantestError) as caught:
            pool.generate(request())
        assert caught.value.code == "slot_timeout" and caught.value.retryable
    finally:
        done.set()
        blocker.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], JobCanceled), outcome
