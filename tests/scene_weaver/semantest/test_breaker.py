"""The fleet-wide breaker: Lua-backed state in Redis (fakeredis and a real server), and the pool obeying it."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from scene_weaver import keys
from scene_weaver.errors import CircuitOpen, SemantestError
from scene_weaver.semantest import CircuitBreaker, Permit
from scene_weaver.semantest.pool import CONNECT_ATTEMPTS_COUNTER
from scene_weaver.stack import free_port
from tests.support.semantest import PoolFactory, RendererFactory

from ...conftest import RedisBackend
from .helpers import request


def breaker(client: redis.Redis, cooldown: float = 0.3) -> CircuitBreaker:
    return CircuitBreaker(client, threshold=3, cooldown=cooldown, probe_ttl=5.0)


def test_opens_after_threshold_consecutive_failures(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    for _ in range(2):
        cb.record_failure(cb.acquire())
    cb.record_success(cb.acquire())  # a success breaks the run
    for _ in range(3):
        cb.record_failure(cb.acquire())
    state = cb.state()
    assert state["state"] == "open" and state["failures"] == 3 and 0 < state["retry_after"] <= 0.3
    with pytest.raises(CircuitOpen) as caught:
        cb.acquire()
    assert 0 < caught.value.retry_after <= 0.3


def test_exactly_one_half_open_probe_then_success_closes(
    redis_client: redis.Redis, redis_backend: RedisBackend
) -> None:
    cb = breaker(redis_client)
    for _ in range(3):
        cb.record_failure(Permit())
    time.sleep(0.35)
    permits: list[Permit] = []
    refused: list[CircuitOpen] = []
    others = [breaker(redis_backend.connect()) for _ in range(4)]  # four processes' clients

    def contend(b: CircuitBreaker) -> None:
        for _ in range(5):
            try:
                permits.append(b.acquire())
            except CircuitOpen as exc:
                refused.append(exc)

    threads = [threading.Thread(target=contend, args=(b,)) for b in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(permits) == 1 and permits[0].probe and len(refused) == 19
    assert cb.state()["state"] == "half_open"
    cb.record_success(permits[0])
    assert cb.state() == {"state": "closed", "failures": 0, "opened_at": None, "retry_after": 0.0}


def test_probe_failure_reopens(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    for _ in range(3):
        cb.record_failure(Permit())
    time.sleep(0.35)
    probe = cb.acquire()
    assert probe.probe
    cb.record_failure(probe)
    assert cb.state()["state"] == "open"
    with pytest.raises(CircuitOpen):
        cb.acquire()


def test_released_probe_lets_another_probe(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    for _ in range(3):
        cb.record_failure(Permit())
    time.sleep(0.35)
    cb.release(cb.acquire())
    assert cb.acquire().probe


def test_dead_service_opens_breaker_and_stops_connection_attempts(
    redis_client: redis.Redis, pool_factory: PoolFactory, renderer_factory: RendererFactory
) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    overrides = {"breaker_failure_threshold": 3, "breaker_cooldown": 1.5, "semantest_connect_attempts": 2}
    pools = [pool_factory(url, **overrides) for _ in range(2)]  # two "processes"
    outcomes: list[str] = []

    def hammer(pool_index: int) -> None:
        for _ in range(5):
            try:
                pools[pool_index].generate(request())
            except SemantestError as exc:
                outcomes.append(exc.code)

    threads = [threading.Thread(target=hammer, args=(i % 2,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    attempts = int(redis_client.hget(keys.counters(), CONNECT_ATTEMPTS_COUNTER) or 0)
    assert 3 <= attempts <= 3 + 8  # at most one attempt in flight per thread as it opened
    assert outcomes.count("circuit_open") >= 30
    state = pools[0].breaker.state()
    assert state["state"] == "open" and state["retry_after"] > 0

    with pytest.raises(CircuitOpen):
        pools[1].generate(request())
    assert int(redis_client.hget(keys.counters(), CONNECT_ATTEMPTS_COUNTER) or 0) == attempts

    renderer_factory(port=port)
    time.sleep(max(0.0, pools[0].breaker.state()["retry_after"]) + 0.05)
    image = pools[0].generate(request())  # the half-open probe
    assert image.mime_type == "image/png"
    assert pools[1].breaker.state()["state"] == "closed"
    assert int(redis_client.hget(keys.counters(), CONNECT_ATTEMPTS_COUNTER) or 0) == attempts + 1
    pools[1].generate(request())

