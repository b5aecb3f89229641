"""The rate limits' storage: a hit brings back its window, so the headers cost no second round trip."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.limit_storage import OneTripRedisSentinelStorage, OneTripRedisStorage, storage_uri

pytestmark = pytest.mark.redis_server

LIMIT = RateLimitItemPerMinute(3)


def _calls(client: redis.Redis) -> dict[str, int]:
    stats: Any = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()}


@pytest.fixture
def pair(redis_url: str) -> tuple[MovingWindowRateLimiter, MovingWindowRateLimiter]:
    redis.Redis.from_url(redis_url).flushdb()
    ours = storage_from_string(storage_uri(redis_url), key_prefix="t-ours")
    theirs = storage_from_string(redis_url, key_prefix="t-theirs")
    assert isinstance(ours, OneTripRedisStorage) and type(theirs) is RedisStorage
    return MovingWindowRateLimiter(ours), MovingWindowRateLimiter(theirs)


def test_hits_and_windows_match_limits_own_storage(pair: tuple[MovingWindowRateLimiter, ...]) -> None:
    ours, theirs = pair
    for _ in range(5):  # 3 allowed, then refused
        assert ours.hit(LIMIT, "alice") == theirs.hit(LIMIT, "alice")
        mine, reference = ours.get_window_stats(LIMIT, "alice"), theirs.get_window_stats(LIMIT, "alice")
        assert mine.remaining == reference.remaining
        assert abs(mine.reset_time - reference.reset_time) < 1
    assert ours.get_window_stats(LIMIT, "bob").remaining == LIMIT.amount


def test_the_window_after_a_hit_is_no_round_trip(pair: tuple[MovingWindowRateLimiter, ...], redis_url: str) -> None:
    ours, _ = pair
    admin = redis.Redis.from_url(redis_url)
    ours.hit(LIMIT, "alice")  # scripts loaded
    before = _calls(admin)
    ours.hit(LIMIT, "alice")
    assert ours.get_window_stats(LIMIT, "alice").remaining == LIMIT.amount - 2
    spent = {name: calls - before.get(name, 0) for name, calls in _calls(admin).items()}
    assert spent["evalsha"] == 2 and spent["info"] == 1  # both scripts in one pipeline, then nothing
    # A second read is not answered from the hit: it asks Redis.
    assert ours.get_window_stats(LIMIT, "alice").remaining == LIMIT.amount - 2
    assert _calls(admin)["evalsha"] == before["evalsha"] + 3


def test_a_redis_that_lost_its_scripts_still_counts(pair: tuple[MovingWindowRateLimiter, ...], redis_url: str) -> None:
    ours, _ = pair
    admin = redis.Redis.from_url(redis_url)
    assert ours.hit(LIMIT, "carol")
    admin.script_flush()
    assert ours.hit(LIMIT, "carol") and ours.hit(LIMIT, "carol")
    assert ours.get_window_stats(LIMIT, "carol").remaining == 0
    assert not ours.hit(LIMIT, "carol")


def test_sentinel_urls_get_the_sentinel_storage() -> None:
    storage = storage_from_string(storage_uri("redis+sentinel://127.0.0.1:1/mymaster"))
    assert isinstance(storage, OneTripRedisSentinelStorage) and storage.service_name == "mymaster"
