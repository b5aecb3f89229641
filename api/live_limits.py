"""Bounds on live connections (WebSockets and SSE streams).

- ``MessageBudget``: how fast one WebSocket may send messages (a moving window from ``limits``);
- ``LiveSlots``: how many live connections one user or client address holds open at once,
  across every API process. Each open connection holds a lease in a Redis sorted set per
  owner, renewed while it lives and removed when it ends; a process that dies leaves leases
  that lapse after ``LEASE_SECONDS``. Counted and granted in one script, by Redis's clock.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import redis
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from scene_weaver import keys
from scene_weaver.errors import SceneWeaverError

__all__ = ["MessageBudget", "LiveSlots", "TooManyStreams", "LEASE_SECONDS"]

LEASE_SECONDS = 60.0
_RENEW_EVERY = LEASE_SECONDS / 3

# KEYS: one sorted set per owner; ARGV: connection id, lease (s), then each owner's cap.
# Returns 0 when granted, else the 1-based index of the owner that is full.
_ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lease = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  redis.call('EXPIRE', key, math.ceil(lease) + 1)
end
return 0
"""

_RENEW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[2])) + 1)
end
return 0
"""


class TooManyStreams(SceneWeaverError):
    """The owner already holds as many live connections as allowed (429, or WebSocket 1013)."""

    code = "too_many_streams"
    http_status = 429


# One in-process store for every socket of this API process (limits' MemoryStorage expires
# its keys by itself); each socket counts under its own random key.
_MESSAGES = MovingWindowRateLimiter(MemoryStorage())


class MessageBudget:
    """Client messages of one socket: at most ``burst`` in any window of ``burst / rate`` seconds.

    A moving window (the ``limits`` library flask-limiter is built on), so a socket may send
    ``burst`` messages at once and ``rate`` a second on average, never more.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._item = RateLimitItemPerSecond(burst, max(1, round(burst / rate)))
        self._key = uuid.uuid4().hex

    def take(self) -> bool:
        return _MESSAGES.hit(self._item, "ws-message", self._key)


class LiveSlots:
    """The leases one live connection holds; ``acquire`` more as it learns who it serves."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.id = uuid.uuid4().hex
        self.keys: list[str] = []
        self.renewed = time.monotonic()

    def acquire(self, owners: dict[str, tuple[str, int]]) -> None:
        """Take a lease for each ``owner key: (what it is, cap)``, all or none; ``TooManyStreams`` if one is full."""
        names = [keys.live_streams(owner) for owner in owners]
        caps = [cap for _, cap in owners.values()]
        full = int(self.client.eval(_ACQUIRE, len(names), *names, self.id, LEASE_SECONDS, *caps))
        if full:
            kind, cap = list(owners.values())[full - 1]
            raise TooManyStreams(f"at most {cap} live connections per {kind}; close one first",
                                 details={"per": kind, "max": cap})
        self.keys.extend(names)

    def renew_if_due(self) -> None:
        if self.keys and time.monotonic() - self.renewed >= _RENEW_EVERY:
            self.renewed = time.monotonic()
            self.client.eval(_RENEW, len(self.keys), *self.keys, self.id, LEASE_SECONDS)

    def release(self) -> None:
        names, self.keys = self.keys, []
        if names:
            pipe: Any = self.client.pipeline(transaction=False)
            for name in names:
                pipe.zrem(name, self.id)
            with contextlib.suppress(redis.RedisError):  # else the lease lapses by itself
                pipe.execute()
