"""Fleet-wide limits per webhook receiver host: a semaphore and a failure count in Redis.

A host holds at most ``WEBHOOK_HOST_LIMIT`` deliveries in flight across every worker, as
leases (``scene_weaver.leases``) that end on their own (a crashed worker gives its slot back). A host that failed
``WEBHOOK_HOST_FAILURES`` times in a row is backed off: its deliveries wait, the longer the
more it failed, until one succeeds. Redis ``TIME`` is the only clock.
"""

from __future__ import annotations

import redis

from . import keys
from .leases import LeasedSlots
from .settings import Settings

__all__ = ["ReceiverHosts"]

# Longest a failure count is remembered without a new failure (s).
_FAILURE_MEMORY = 3600
# Backoff delays double from this first one (s).
_FIRST_DELAY = 2.0


class ReceiverHosts:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.limit = settings.webhook_host_limit
        # A lease outlives one delivery's connect and read timeouts.
        self.lease = settings.webhook_connect_timeout + settings.webhook_timeout + 5.0
        self.failures_before_backoff = settings.webhook_host_failures
        self.backoff_max = settings.webhook_backoff_max
        self._slots = LeasedSlots(client)

    def try_acquire(self, host: str) -> str | None:
        """A lease token when the host has a free slot, else None (try later)."""
        return self._slots.try_acquire(keys.webhook_host_slots(host), limit=self.limit, lease=self.lease)

    def release(self, host: str, token: str) -> None:
        self._slots.release(keys.webhook_host_slots(host), token)

    def failed(self, host: str) -> int:
        """Count one more failure in a row; the count."""
        key = keys.webhook_host_failures(host)
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, _FAILURE_MEMORY)
        count, _ = pipe.execute()
        return int(count)

    def succeeded(self, host: str) -> None:
        self.redis.delete(keys.webhook_host_failures(host))

    def backoff(self, host: str) -> float:
        """Seconds every delivery to this host waits now: 0 unless it keeps failing."""
        failures = int(self.redis.get(keys.webhook_host_failures(host)) or 0)
        return self.delay(failures - self.failures_before_backoff + 1) if failures >= self.failures_before_backoff else 0.0

    def delay(self, attempt: int) -> float:
        """Exponential delay of the ``attempt``-th try again (1, 2, ...), capped."""
        return float(min(self.backoff_max, _FIRST_DELAY * 2 ** max(0, min(attempt - 1, 30))))
