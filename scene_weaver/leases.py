"""Slots leased from Redis: at most ``limit`` holders of a key, each until its lease ends.

Holders sit in a sorted set scored by the time their lease ends, so the slot of a process
that crashed while holding it comes back on its own. Expiry and acquire happen in one Lua
script; Redis ``TIME`` is the only clock. The key itself expires once every lease in it has
ended, so a key per receiver host does not outlive its last delivery.

A slot may name its holder (a worker process's runner id, the name of its heartbeat): then it
belongs to a live process, and :meth:`LeasedSlots.reap` frees the slots of the holders whose
heartbeat expired at once, without waiting for the lease to end (the lease stays the last resort).
"""

from __future__ import annotations

import uuid

import redis

__all__ = ["LEASE_FUNCTION", "LeaderLease", "LeasedSlots", "holder_of", "new_token"]

_HOLDER_SEP = "/"  # a token is "<holder>/<random>"; runner ids (host:pid:nonce) hold no "/"

# Take a slot of ``key`` for ``token`` when fewer than ``limit`` leases are live: 1, else 0. A
# function, so a worker's prepare step (scene_weaver.run_steps) takes a Semantest slot in its script.
LEASE_FUNCTION = """
local function lease_slot(key, limit, lease, token)
  local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) < tonumber(limit) then
    redis.call('ZADD', key, now + tonumber(lease), token)
    redis.call('EXPIRE', key, math.ceil(tonumber(lease)) + 1)
    return 1
  end
  return 0
end
"""

_ACQUIRE = LEASE_FUNCTION + "return lease_slot(KEYS[1], ARGV[1], ARGV[2], ARGV[3])\n"


class LeasedSlots:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = client.register_script(_ACQUIRE)

    def try_acquire(self, key: str, *, limit: int, lease: float, holder: str = "") -> str | None:
        """A holder token when ``key`` has fewer than ``limit`` live leases, else None (try later).

        ``holder``: the runner id of the process taking the slot ("" for none: only the lease frees it).
        """
        token = new_token(holder)
        if int(self._acquire(keys=[key], args=[limit, lease, token])):
            return token
        return None

    def reap(self, key: str, live_holders: set[str], limit: int = 10_000) -> int:
        """Free the slots whose named holder is not in ``live_holders``; how many were freed."""
        tokens = [t.decode() if isinstance(t, bytes) else str(t) for t in self.redis.zrange(key, 0, limit - 1)]
        dead = [t for t in tokens if (holder := holder_of(t)) and holder not in live_holders]
        if dead:
            self.redis.zrem(key, *dead)
        return len(dead)

    def release(self, key: str, token: str) -> None:
        self.redis.zrem(key, token)

    def holders(self, key: str) -> int:
        return int(self.redis.zcard(key))


def new_token(holder: str = "") -> str:
    """A slot's token, naming its holder when there is one."""
    return f"{holder}{_HOLDER_SEP}{uuid.uuid4().hex}" if holder else uuid.uuid4().hex


def holder_of(token: str) -> str:
    """The runner id a slot token names ("" for an anonymous slot)."""
    holder, sep, _ = token.rpartition(_HOLDER_SEP)
    return holder if sep else ""


# KEYS[1] the lease; ARGV[1] the holder, ARGV[2] its length (ms). Renew it if held, take it if free.
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""

_RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaderLease:
    """One process at a time does a periodic job (the reconciler's passes, the admission sweep):
    the holder of a Redis key that expires ``lease`` seconds after its last renewal, so a dead
    holder is replaced within one lease. Taking and renewing are one script, one round trip."""

    def __init__(self, client: redis.Redis, key: str, holder: str, lease: float) -> None:
        self.key = key
        self.holder = holder
        self.lease_ms = max(1, int(lease * 1000))
        self._lead = client.register_script(_LEAD)
        self._resign = client.register_script(_RESIGN)

    def lead(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        return bool(self._lead(keys=[self.key], args=[self.holder, self.lease_ms]))

    def resign(self) -> None:
        """Give the lease up now if this process holds it (else it expires on its own)."""
        self._resign(keys=[self.key], args=[self.holder])
