"""The fleet-wide circuit breaker: state in Redis, changed only by Lua scripts.

Every worker process shares one breaker. After ``threshold`` consecutive retryable
failures it opens for ``cooldown`` seconds, during which nobody sends or connects.
Then exactly one caller gets a probe token (``SET NX PX``): its success closes the
breaker, its failure re-opens it. Times come from Redis ``TIME`` so that the
processes' clocks never disagree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import redis

from .. import keys
from ..errors import CircuitOpen
from ..redis_text import decode, decode_hash

__all__ = ["CircuitBreaker", "Permit"]

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

_ACQUIRE = _NOW + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {1, '0', 0, tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')} end
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
local wait = opened + tonumber(ARGV[1]) - now
if state == 'open' and wait > 0 then return {0, tostring(wait), 0, 0} end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'half_open')
  return {1, '0', 1, 0}
end
local left = math.max(redis.call('PTTL', KEYS[2]), 0) / 1000
return {0, tostring(math.min(left, tonumber(ARGV[1]))), 0, 0}
"""

_FAILURE = _NOW + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' then
  if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now))
    redis.call('DEL', KEYS[2])
  end
elseif state == 'closed' and failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now))
end
return failures
"""

_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then
  if (redis.call('HGET', KEYS[1], 'failures') or '0') ~= '0' then
    redis.call('HSET', KEYS[1], 'failures', 0)
  end
  return 1
end
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
  redis.call('HDEL', KEYS[1], 'opened_at')
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Permit:
    """Leave to send one request; ``probe`` when it is the half-open probe.

    ``clean`` says the breaker was closed with no failures counted when the permit was
    given, so a success has nothing to reset and costs no round trip.
    """

    token: str = ""
    clean: bool = False

    @property
    def probe(self) -> bool:
        return bool(self.token)


class CircuitBreaker:
    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        threshold: int,
        cooldown: float,
        probe_ttl: float,
    ) -> None:
        self.redis = redis_client
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.probe_ttl_ms = max(1, int(probe_ttl * 1000))
        self._keys = [keys.breaker(), keys.breaker_probe()]
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._failure = redis_client.register_script(_FAILURE)
        self._success = redis_client.register_script(_SUCCESS)
        self._release = redis_client.register_script(_RELEASE)

    def acquire(self) -> Permit:
        """A permit to send, or ``CircuitOpen`` with how long to wait."""
        token = uuid.uuid4().hex
        allowed, retry_after, probe, failures = self._acquire(
            keys=self._keys, args=[self.cooldown, self.probe_ttl_ms, token]
        )
        if not int(allowed):
            wait = max(float(retry_after), 0.1)
            raise CircuitOpen(
                f"Semantest circuit breaker is open; retry in {wait:.1f}s", retry_after=wait
            )
        return Permit(token if int(probe) else "", clean=not int(probe) and not int(failures))

    def ensure_closed(self, permit: Permit) -> None:
        """Before each connection attempt: only a closed breaker, or the probe, may connect."""
        if permit.probe:
            return
        state = self.redis.hget(keys.breaker(), "state")
        if state is not None and decode(state) != "closed":
            raise CircuitOpen("Semantest circuit breaker is open", retry_after=self.cooldown)

    def record_failure(self, permit: Permit, client: redis.client.Pipeline | None = None) -> None:
        self._failure(keys=self._keys, args=[self.threshold, permit.token], client=client)

    def record_success(self, permit: Permit, client: redis.client.Pipeline | None = None) -> None:
        if permit.clean:
            return
        self._success(keys=self._keys, args=[permit.token], client=client)

    def release(self, permit: Permit) -> None:
        """Give the probe back without a verdict (the request was canceled or never sent)."""
        if permit.probe:
            self._release(keys=[keys.breaker_probe()], args=[permit.token])

    def state(self) -> dict[str, Any]:
        raw = decode_hash(self.redis.hgetall(keys.breaker()))
        seconds, micros = self.redis.time()
        now = seconds + micros / 1_000_000
        state = raw.get("state", "closed")
        opened_at = float(raw["opened_at"]) if raw.get("opened_at") else None
        retry_after = 0.0
        if state == "open" and opened_at is not None:
            retry_after = max(0.0, opened_at + self.cooldown - now)
            if retry_after == 0.0:
                state = "half_open"
        return {
            "state": state,
            "failures": int(raw.get("failures", 0)),
            "opened_at": opened_at,
            "retry_after": retry_after,
        }

    def reset(self) -> None:
        self.redis.delete(*self._keys)
