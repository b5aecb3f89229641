"""A fleet-wide cap on requests in flight to Semantest.

The slots are leases (``scene_weaver.leases``) named by the worker process holding them
(``owner``, its runner id): the reconciler frees the slots of a process whose heartbeat
expired (seconds after a crash), and the slot of any process comes back when its hold expires.
"""

from __future__ import annotations

import time
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
from ..leases import LeasedSlots

__all__ = ["GlobalSemaphore"]

# Pauses between tries double from 5 ms to 50 ms, each scaled by a random factor in
# [0.5, 1.5) (half the pause fixed plus up to a whole pause at random) so that waiting
# processes do not retry in step.
_BACKOFF = wait_exponential(multiplier=0.0025, max=0.025) + wait_random_exponential(
    multiplier=0.005, max=0.05
)


class GlobalSemaphore:
    def __init__(self, redis_client: redis.Redis, *, limit: int, hold_ttl: float, owner: str = "") -> None:
        self.redis = redis_client
        self.limit = limit
        self.hold_ttl = hold_ttl
        self.owner = owner
        self.key = keys.inflight()
        self._slots = LeasedSlots(redis_client)

    def try_acquire(self) -> str | None:
        return self._slots.try_acquire(self.key, limit=self.limit, lease=self.hold_ttl, holder=self.owner)

    def acquire(self, deadline: float, should_cancel: Callable[[], bool] = lambda: False) -> str:
        """A holder token, waiting until ``deadline`` (monotonic) at most: else ``slot_timeout``."""
        token = self.try_acquire()
        if token is not None:  # the usual case: a free slot at once, no retry machinery built
            return token

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

    def release(self, token: str) -> None:
        self._slots.release(self.key, token)

    def holders(self) -> int:
        return self._slots.holders(self.key)

    def reap(self, live_owners: set[str]) -> int:
        """Free the slots of owners whose heartbeat expired; how many were freed."""
        return self._slots.reap(self.key, live_owners)
