"""The fleet-wide breaker: Lua-backed state in Redis (fakeredis and a real server), and the pool obeying it.

Nothing here sleeps a fixed time: a test that needs the cool-down over waits until the
breaker itself, by Redis's clock, says a caller may pass.
"""

from __future__ import annotations

import threading

import pytest
import redis

from scene_weaver import keys
from scene_weaver.errors import CircuitOpen, ConfigurationError, SemantestError
from scene_weaver.semantest import CircuitBreaker, Permit
from scene_weaver.semantest.pool import CONNECT_ATTEMPTS_COUNTER
from scene_weaver.settings import Settings
from scene_weaver.stack import free_port
from tests.support.semantest import PoolFactory, RendererFactory
from tests.support.waiting import wait_until

from ...conftest import RedisBackend
from .helpers import request

DEADLINE = 20.0


def breaker(client: redis.Redis, cooldown: float = 0.3, **window: float) -> CircuitBreaker:
    shape = {"failure_rate": 0.5, "window": 10, "min_calls": 6, "connect_failures": 3, **window}
    return CircuitBreaker(client, cooldown=cooldown, probe_ttl=5.0, **shape)  # type: ignore[arg-type]


def calls(cb: CircuitBreaker, outcomes: str) -> None:
    """One request per letter through a closed breaker: F failed, S succeeded."""
    for outcome in outcomes:
        permit = cb.acquire()
        if outcome == "F":
            cb.record_failure(permit)
        else:
            cb.record_success(permit)


def open_breaker(cb: CircuitBreaker) -> None:
    for _ in range(cb.connect_failures):
        cb.record_connect_failure(Permit())
    assert cb.state()["state"] == "open"


def half_open_due(cb: CircuitBreaker) -> None:
    wait_until(lambda: cb.wait_time() == 0.0, DEADLINE, interval=0.02, what="the cool-down to pass (Redis clock)")


def test_a_steady_failure_rate_below_the_threshold_never_opens(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    calls(cb, "SSFFSSSFSF" * 5)  # 40% of any ten calls in a row, two failures in a row among them
    state = cb.state()
    assert state["state"] == "closed" and state["opens"] == 0
    assert state["calls"] == 10 and state["failures"] == 4  # the window holds the last ten


def test_the_rate_opens_only_once_the_window_holds_the_minimum_calls(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    calls(cb, "FFFFF")  # 100% failed, but five calls are fewer than six
    assert cb.state()["state"] == "closed"
    calls(cb, "S")  # six calls, five failed: the success completes the minimum and the rate opens it
    state = cb.state()
    assert state["state"] == "open" and state["opens"] == 1 and 0 < state["retry_after"] <= 0.3
    with pytest.raises(CircuitOpen) as caught:
        cb.acquire()
    assert 0 < caught.value.retry_after <= 0.3


def test_the_window_slides_old_failures_out(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client, window=4, min_calls=4, failure_rate=0.75)
    calls(cb, "FFSSSFF")  # the last four: S S F F, half failed
    state = cb.state()
    assert (state["state"], state["calls"], state["failures"]) == ("closed", 4, 2)
    calls(cb, "F")  # S F F F: three of four
    assert cb.state()["state"] == "open"


def test_connect_failures_in_a_row_open_it_and_a_connection_breaks_the_run(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    for _ in range(2):
        cb.record_connect_failure(cb.acquire())
    cb.record_connect_success(cb.acquire())  # a connection made: the service is up
    for _ in range(2):
        cb.record_connect_failure(cb.acquire())
    calls(cb, "F")  # a failed request is not a failure to connect
    state = cb.state()
    assert state["state"] == "closed" and state["connect_failures"] == 2 and state["calls"] == 1
    cb.record_connect_failure(cb.acquire())
    assert cb.state()["state"] == "open"


def test_outcomes_of_calls_let_through_before_it_opened_change_nothing(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    early = [cb.acquire() for _ in range(4)]
    open_breaker(cb)
    cb.record_failure(early[0])
    cb.record_success(early[1])
    cb.record_connect_failure(early[2])
    cb.record_connect_success(early[3])
    state = cb.state()
    assert state["state"] == "open" and state["opens"] == 1 and state["calls"] == 0


def test_exactly_one_half_open_probe_then_success_closes_with_an_empty_window(
    redis_client: redis.Redis, redis_backend: RedisBackend
) -> None:
    cb = breaker(redis_client)
    calls(cb, "SSFS")
    open_breaker(cb)
    half_open_due(cb)
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
    # Turned away while the probe is out: look again soon, not after a whole cool-down.
    assert all(0 < exc.retry_after <= cb.recheck for exc in refused)
    assert cb.state()["state"] == "half_open" and 0 < cb.wait_time() <= cb.recheck
    cb.record_connect_success(permits[0])  # the probe connected: not yet a verdict
    assert cb.state()["state"] == "half_open"
    cb.record_success(permits[0])
    state = cb.state()
    assert (state["state"], state["calls"], state["failures"], state["connect_failures"]) == ("closed", 0, 0, 0)
    assert (state["opens"], state["probes"], state["retry_after"]) == (1, 1, 0.0)
    assert cb.wait_time() == 0.0


def test_probe_failure_reopens(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    open_breaker(cb)
    assert cb.wait_time() > 0
    half_open_due(cb)
    probe = cb.acquire()
    assert probe.probe
    cb.record_connect_failure(probe)
    state = cb.state()
    assert state["state"] == "open" and state["opens"] == 2 and state["probes"] == 1
    with pytest.raises(CircuitOpen):
        cb.acquire()


def test_released_probe_lets_another_probe(redis_client: redis.Redis) -> None:
    cb = breaker(redis_client)
    open_breaker(cb)
    half_open_due(cb)
    cb.release(cb.acquire())
    assert cb.wait_time() == 0.0
    assert cb.acquire().probe


def test_dead_service_opens_breaker_and_stops_connection_attempts(
    redis_client: redis.Redis, pool_factory: PoolFactory, renderer_factory: RendererFactory
) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    overrides = {"breaker_connect_failures": 3, "breaker_cooldown": 1.5, "semantest_connect_attempts": 2}
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
    # Every call that tried no connection was turned away by the breaker.
    assert len(outcomes) == 40 and outcomes.count("circuit_open") >= 40 - attempts
    state = pools[0].breaker.state()
    assert state["state"] == "open" and state["retry_after"] > 0

    with pytest.raises(CircuitOpen):
        pools[1].generate(request())
    assert int(redis_client.hget(keys.counters(), CONNECT_ATTEMPTS_COUNTER) or 0) == attempts

    renderer_factory(port=port)
    half_open_due(pools[0].breaker)
    image = pools[0].generate(request())  # the half-open probe
    assert image.mime_type == "image/png"
    assert pools[1].breaker.state()["state"] == "closed"
    assert int(redis_client.hget(keys.counters(), CONNECT_ATTEMPTS_COUNTER) or 0) == attempts + 1
    pools[1].generate(request())


@pytest.mark.parametrize("environ", [
    {"BREAKER_MIN_CALLS": "30"},  # more than the window's 20: the rate could never open it
    {"BREAKER_FAILURE_RATE": "0"},
    {"BREAKER_FAILURE_RATE": "1.5"},
    {"BREAKER_WINDOW": "0"},
    {"JOB_RETRY_DEADLINE": "-1"},
])
def test_settings_refuse_a_breaker_or_budget_that_cannot_work(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(environ)
    assert next(iter(environ)) in str(caught.value)


def test_a_dropped_session_counts_once_however_many_requests_it_carried(
    renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    renderer = renderer_factory("--drop-rate", "1", latency=0.5)
    pool = pool_factory(renderer.url, semantest_pool_size=1)
    lost: list[str] = []

    def send() -> None:
        try:
            pool.generate(request())
        except SemantestError as exc:
            lost.append(exc.code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert lost == ["session_lost"] * 4
    stats, state = renderer.stats(), pool.breaker.state()
    assert stats["requests"] == 8  # each request, and its one retry on a fresh session
    assert state["failures"] == state["calls"] == stats["handshakes"] < 8  # one per session lost
