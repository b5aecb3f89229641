"""A fleet-wide cap on requests in flight to Semantest.

Holders sit in a sorted set scored by the time their hold expires, so the slot of a
process that crashed mid-request comes back on its own. Acquire and expiry happen in
one Lua script; Redis ``TIME`` is the only clock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import redis
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_random_exponential,
)

from .. import keys
from ..errors import JobCanceled, SemantestError

__all__ = ["GlobalSemaphore"]

_ACQUIRE = """
local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return 1
end
return 0
"""

# Pauses between tries double from 5 ms to 50 ms, each scaled by a random factor in
# [0.5, 1.5) (half the pause fixed plus up to a whole pause at random) so that waiting
# processes do not retry in step.
_BACKOFF = wait_exponential(multiplier=0.0025, max=0.025) + wait_random_exponential(
    multiplier=0.005, max=0.05
)


class GlobalSemaphore:
    def __init__(self, redis_client: redis.Redis, *, limit: int, hold_ttl: float) -> None:
        self.redis = redis_client
        self.limit = limit
        self.hold_ttl = hold_ttl
        self.key = keys.inflight()
        self._acquire = redis_client.register_script(_ACQUIRE)

    def try_acquire(self) -> str | None:
        token = uuid.uuid4().hex
        if int(self._acquire(keys=[self.key], args=[self.limit, self.hold_ttl, token])):
            return token
        return None

    def acquire(self, deadline: float, should_cancel: Callable[[], bool] = lambda: False) -> str:
        """A holder token, waiting until ``deadline`` (monotonic) at most: else ``slot_timeout``."""

        def attempt() -> str | None:
            token = self.try_acquire()
            if token is None and should_cancel():
                raise JobCanceled("canceled while waiting for a Semantest slot")
            return token

        def pause(state: RetryCallState) -> float:
            return max(0.0, min(deadline - time.monotonic(), _BACKOFF(state)))

        def timed_out(state: RetryCallState) -> str:
            raise SemantestError(
                f"no fleet-wide Semantest slot free (limit {self.limit})",
                code="slot_timeout",
                retryable=True,
            )

        retrying = Retrying(
            retry=retry_if_result(lambda token: token is None),
            stop=stop_after_delay(deadline - time.monotonic()),
            wait=pause,
            retry_error_callback=timed_out,
        )
        token = retrying(attempt)
        assert token is not None  # tried again while None; the deadline raised instead
        return token

    def release(self, token: str, client: redis.client.Pipeline | None = None) -> None:
        (client or self.redis).zrem(self.key, token)

    def holders(self) -> int:
        return int(self.redis.zcard(self.key))
