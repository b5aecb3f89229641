"""The fleet-wide circuit breaker: state in Redis, changed only by Lua scripts.

Every worker process shares one breaker, shaped like resilience4j's count-based breaker
and Polly's advanced one. It opens on either of two verdicts:

- the failure rate: at least ``failure_rate`` of the fleet's last ``window`` requests
  failed, once the window holds ``min_calls`` requests (a service failing a third of
  its requests at random does not open it; one failing most of them does);
- the service is down: ``connect_failures`` failures to connect in a row, fleet-wide.

Open, nobody sends or connects for ``cooldown`` seconds. Then exactly one caller gets a
probe token (``SET NX PX``): its success closes the breaker with an empty window, its
failure re-opens it. Times come from Redis ``TIME``, so the processes' clocks never
disagree; each transition is one script, so no two processes see half a change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import redis

from .. import keys
from ..errors import CircuitOpen
from ..redis_text import decode, decode_hash
from ..settings import Settings

__all__ = ["CircuitBreaker", "Permit", "NOW", "WAIT_OF"]

# While the probe is out, callers look again after this share of the cool-down: a probe
# usually answers well within it, and a closed breaker should not keep jobs parked long.
PROBE_RECHECK_SHARE = 0.25

NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

_OPEN = """
local function open_breaker()
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now))
  redis.call('HINCRBY', KEYS[1], 'opens', 1)
end
"""

# Shared by acquire and wait (and the worker's first step, scene_weaver.run_steps): how long
# until a caller may pass, or 0 (and whether the probe is free). ``now`` comes from NOW.
WAIT_OF = """
local function wait_of(breaker_key, probe_key, cooldown, recheck)
  local state = redis.call('HGET', breaker_key, 'state') or 'closed'
  if state == 'closed' then return 0, false end
  local opened = tonumber(redis.call('HGET', breaker_key, 'opened_at') or '0')
  local wait = opened + cooldown - now
  if state == 'open' and wait > 0 then return wait, false end
  if redis.call('EXISTS', probe_key) == 0 then return 0, true end
  return math.min(math.max(redis.call('PTTL', probe_key), 0) / 1000, recheck), false
end
"""

# KEYS: breaker hash, probe. ARGV: cooldown, probe ttl (ms), token, recheck.
_ACQUIRE = NOW + WAIT_OF + """
local wait, probe = wait_of(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[4]))
if wait > 0 then return {0, tostring(wait), 0} end
if not probe then return {1, '0', 0} end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'half_open')
  redis.call('HINCRBY', KEYS[1], 'probes', 1)
  return {1, '0', 1}
end
return {0, tostring(math.min(tonumber(ARGV[4]), tonumber(ARGV[1]))), 0}
"""

# KEYS: breaker hash, probe. ARGV: cooldown, recheck.
_WAIT = NOW + WAIT_OF + """
local wait = wait_of(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
return tostring(wait)
"""

# Drop the oldest outcomes beyond the window's size, keeping the failure count true.
_TRIM = """
local function trim(size)
  while redis.call('LLEN', KEYS[3]) > size do
    if redis.call('RPOP', KEYS[3]) == '1' then redis.call('HINCRBY', KEYS[1], 'failures', -1) end
  end
end
"""

# Record one request's outcome in the window; open the breaker if its failure rate says so.
_RECORD = """
local function record(outcome, size, min_calls, rate)
  redis.call('LPUSH', KEYS[3], outcome)
  if outcome == '1' then redis.call('HINCRBY', KEYS[1], 'failures', 1) end
  trim(size)
  local calls = redis.call('LLEN', KEYS[3])
  local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
  if calls >= min_calls and failures > 0 and failures >= rate * calls then
    open_breaker()
    return 1
  end
  return 0
end
"""

# With a fourth key (an in-flight slot set) and the slot's token as the last argument, the
# verdict also gives the request's slot back: one round trip for both.
_RELEASE_SLOT = """
if #KEYS >= 4 then redis.call('ZREM', KEYS[4], ARGV[#ARGV]) end
"""

# KEYS: breaker hash, probe, window[, slot set]. ARGV: token, kind (request|connect), window size,
# min calls, failure rate, connect failures in a row that open it[, slot token].
_FAILURE = NOW + _OPEN + _TRIM + _RECORD + _RELEASE_SLOT + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state ~= 'closed' then
  -- Only the probe's verdict counts now; late failures of calls let through before it opened do not.
  if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then
    open_breaker()
    redis.call('DEL', KEYS[2])
    return 1
  end
  return 0
end
if ARGV[2] == 'connect' then
  if redis.call('HINCRBY', KEYS[1], 'connect_failures', 1) >= tonumber(ARGV[6]) then
    open_breaker()
    return 1
  end
  return 0
end
return record('1', tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
"""

# KEYS: breaker hash, probe, window[, slot set]. ARGV: token, kind (request|connect), window size,
# min calls, failure rate[, slot token]. A success can complete the minimum number of calls, so it too
# may find the rate over the threshold (as resilience4j judges after every call).
_SUCCESS = NOW + _OPEN + _TRIM + _RECORD + _RELEASE_SLOT + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then
  if ARGV[2] == 'connect' then
    if (redis.call('HGET', KEYS[1], 'connect_failures') or '0') ~= '0' then
      redis.call('HSET', KEYS[1], 'connect_failures', 0)
    end
    return 1
  end
  record('0', tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
  return 1
end
-- The probe's connection is not its verdict: the request it then sends is.
if ARGV[2] == 'connect' or ARGV[1] == '' or redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'connect_failures', 0)
redis.call('HDEL', KEYS[1], 'opened_at')
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

REQUEST = "request"
CONNECT = "connect"


@dataclass(frozen=True)
class Permit:
    """Leave to send one request; ``probe`` when it is the half-open probe."""

    token: str = ""

    @property
    def probe(self) -> bool:
        return bool(self.token)


class CircuitBreaker:
    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        cooldown: float,
        probe_ttl: float,
        failure_rate: float = 0.5,
        window: int = 20,
        min_calls: int = 10,
        connect_failures: int = 3,
    ) -> None:
        self.redis = redis_client
        self.cooldown = cooldown
        self.probe_ttl_ms = max(1, int(probe_ttl * 1000))
        self.failure_rate = failure_rate
        self.window = max(1, window)
        self.min_calls = max(1, min_calls)
        self.connect_failures = max(1, connect_failures)
        self.recheck = max(0.1, cooldown * PROBE_RECHECK_SHARE)
        self._keys = [keys.breaker(), keys.breaker_probe(), keys.breaker_window()]
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._wait = redis_client.register_script(_WAIT)
        self._failure = redis_client.register_script(_FAILURE)
        self._success = redis_client.register_script(_SUCCESS)
        self._release = redis_client.register_script(_RELEASE)

    @classmethod
    def from_settings(cls, redis_client: redis.Redis, settings: Settings, *, probe_ttl: float) -> CircuitBreaker:
        return cls(redis_client, cooldown=settings.breaker_cooldown, probe_ttl=probe_ttl,
                   failure_rate=settings.breaker_failure_rate, window=settings.breaker_window,
                   min_calls=settings.breaker_min_calls, connect_failures=settings.breaker_connect_failures)

    def acquire(self) -> Permit:
        """A permit to send, or ``CircuitOpen`` with how long to wait."""
        token = uuid.uuid4().hex
        allowed, retry_after, probe = self._acquire(
            keys=self._keys[:2], args=[self.cooldown, self.probe_ttl_ms, token, self.recheck]
        )
        if not int(allowed):
            wait = max(float(retry_after), 0.1)
            raise CircuitOpen(
                f"Semantest circuit breaker is open; retry in {wait:.1f}s", retry_after=wait
            )
        return Permit(token if int(probe) else "")

    def wait_time(self) -> float:
        """Seconds until a caller would be let through (0: now, as a call or as the probe). Changes nothing."""
        return max(0.0, float(self._wait(keys=self._keys[:2], args=[self.cooldown, self.recheck])))

    def ensure_closed(self, permit: Permit) -> None:
        """Before each connection attempt: only a closed breaker, or the probe, may connect."""
        if permit.probe:
            return
        state = self.redis.hget(keys.breaker(), "state")
        if state is not None and decode(state) != "closed":
            raise CircuitOpen("Semantest circuit breaker is open", retry_after=self.cooldown)

    def record_failure(self, permit: Permit, slot: tuple[str, str] | None = None) -> None:
        """A request failed in a way worth retrying: it counts against the window's failure rate.

        ``slot``: (slot set, token) of the request's in-flight slot, given back in the same step.
        """
        extra_keys, extra_args = _slot_parts(slot)
        self._failure(keys=self._keys + extra_keys, args=[
            permit.token, REQUEST, self.window, self.min_calls, self.failure_rate, self.connect_failures,
            *extra_args])

    def record_success(self, permit: Permit, slot: tuple[str, str] | None = None) -> None:
        """Semantest answered the request (an image, or a refusal that is no fault of its own);
        ``slot`` as for :meth:`record_failure`."""
        extra_keys, extra_args = _slot_parts(slot)
        self._success(keys=self._keys + extra_keys,
                      args=[permit.token, REQUEST, self.window, self.min_calls, self.failure_rate, *extra_args])

    def record_connect_failure(self, permit: Permit) -> None:
        self._failure(keys=self._keys, args=[
            permit.token, CONNECT, self.window, self.min_calls, self.failure_rate, self.connect_failures])

    def record_connect_success(self, permit: Permit) -> None:
        self._success(keys=self._keys, args=[permit.token, CONNECT, self.window, self.min_calls,
                                             self.failure_rate])

    def release(self, permit: Permit) -> None:
        """Give the probe back without a verdict (the request was canceled or never sent)."""
        if permit.probe:
            self._release(keys=[keys.breaker_probe()], args=[permit.token])

    def state(self) -> dict[str, Any]:
        """The breaker as it stands: ``closed``, ``open`` or ``half_open`` (due, or probing), and why."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.breaker())
            pipe.llen(keys.breaker_window())
            pipe.time()
            raw_hash, calls, (seconds, micros) = pipe.execute()
        raw = decode_hash(raw_hash)
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
            "calls": int(calls),
            "connect_failures": int(raw.get("connect_failures", 0)),
            "opened_at": opened_at,
            "retry_after": retry_after,
            "opens": int(raw.get("opens", 0)),
            "probes": int(raw.get("probes", 0)),
        }

    def reset(self) -> None:
        self.redis.delete(*self._keys)


def _slot_parts(slot: tuple[str, str] | None) -> tuple[list[str], list[str]]:
    """The extra key and argument that give an in-flight slot back with a verdict."""
    if slot is None:
        return [], []
    key, token = slot
    return [key], [token]
