"""A worker's run of one job in three scripts: begin, prepare, finish.

A run used to take some thirty Redis round trips (a read of the job, its lock, the cancel
check, the breaker's verdict, one script per state change, the config, the caches' reads,
writes and counters, the flight, the lock's release). Each step below is one script that makes
the very same changes, atomically:

- :meth:`RunSteps.begin`: read the job; take its run lock; count a resumed generation; check
  the cancel marker and the breaker; mark it ``started`` (an attempt) and ``weaving``; read the
  runtime config (``PUT /config`` applies from the next job on, with no round trip of its own).
- :meth:`RunSteps.prepare`: store a newly woven prompt and count the prompt cache's hit or
  miss; check the cancel marker; mark it ``generating``; remember which generation the scene
  wove to; look the generation up in the result cache, else take its flight and, while the
  breaker is closed, the request's fleet-wide Semantest slot.
- :meth:`RunSteps.finish`: store the result in the result cache and count the miss; mark the
  job ``succeeded``; end the flight and release the run lock.

The state changes are the job store's own Lua function (:data:`scene_weaver.jobs.TRANSITION_FUNCTION`),
the breaker's wait the breaker's own (:data:`scene_weaver.semantest.breaker.WAIT_OF`), so no
rule is written twice. Every other path (retries, parking, failures, cancels, waiting on
another job's flight) keeps the stores' own methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from . import keys
from .jobs import (
    EVENT_STREAM_MAXLEN,
    SEMANTEST_DUPLICATES_COUNTER,
    TRANSITION_FUNCTION,
    Job,
    JobStore,
    json_field,
)
from .leases import LEASE_FUNCTION, new_token
from .redis_text import decode, decode_hash
from .semantest import ServiceTerms
from .semantest.breaker import NOW, WAIT_OF

__all__ = ["Begun", "Prepared", "RunSteps"]

# KEYS: job, events, admission set, dispatched index, run lock, cancel marker, breaker, breaker
# probe, config, counters. ARGV: runner id, lock ms, breaker cooldown, probe recheck, stream
# maxlen, now (ISO, for started_at), the resumed-generation counter's field.
_BEGIN = NOW + WAIT_OF + TRANSITION_FUNCTION + """
local raw = redis.call('HGETALL', KEYS[1])
if #raw == 0 then return {'missing'} end
local status = ''
for i = 1, #raw, 2 do if raw[i] == 'status' then status = raw[i + 1] end end
if status == 'succeeded' or status == 'failed' or status == 'canceled' then return {'terminal', raw} end
if not redis.call('SET', KEYS[5], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy', raw} end
-- Found generating: the last run was cut off after it may have sent its request.
if status == 'generating' then redis.call('HINCRBY', KEYS[10], ARGV[7], 1) end
if redis.call('EXISTS', KEYS[6]) == 1 then return {'cancel', raw} end
local wait = wait_of(KEYS[7], KEYS[8], tonumber(ARGV[3]), tonumber(ARGV[4]))
if wait > 0 then return {'wait', raw, tostring(wait)} end
local started = transition(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'started', 'started', '{}', ARGV[5], 1,
                           'started_at', ARGV[6], {'progress', '0'})
transition(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'weaving', 'weaving', '{}', ARGV[5], 0, '', '', {})
return {'run', raw, '0', tostring(started[1]), redis.call('HGETALL', KEYS[9])}
"""

# KEYS: job, events, admission set, dispatched index, cancel marker, prompt cache entry,
# counters, scene entry, result cache entry, flight, breaker, Semantest slots. ARGV: woven
# prompt ('' when it came from the cache), its ttl, the prompt counter's field, stream maxlen,
# the job's prompt field (json), generation key, result ttl, force ('1'), flight token, flight
# lease (ms), slot limit, slot lease (s), slot token.
_PREPARE = TRANSITION_FUNCTION + LEASE_FUNCTION + """
-- The job will draw: take its Semantest slot now if the breaker is closed (else the pool asks).
local function drawing(verdict)
  if (redis.call('HGET', KEYS[11], 'state') or 'closed') == 'closed'
      and lease_slot(KEYS[12], ARGV[11], ARGV[12], ARGV[13]) == 1 then
    return {verdict, '1'}
  end
  return {verdict, '0'}
end
if ARGV[1] ~= '' then redis.call('SET', KEYS[6], ARGV[1], 'EX', ARGV[2]) end
redis.call('HINCRBY', KEYS[7], ARGV[3], 1)
if redis.call('EXISTS', KEYS[5]) == 1 then return {'cancel'} end
local changed = transition(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'generating', 'generating', '{}', ARGV[4], 0,
                           '', '', {'prompt', ARGV[5]})
if changed[1] ~= 1 then return {'ended'} end
redis.call('SET', KEYS[8], ARGV[6], 'EX', ARGV[7])
if ARGV[8] ~= '1' then
  local cached = redis.call('GET', KEYS[9])
  if cached then return {'cached', cached} end
end
if redis.call('SET', KEYS[10], ARGV[9], 'NX', 'PX', ARGV[10]) then return drawing('flight') end
if ARGV[8] == '1' then return drawing('draw') end
return {'taken'}
"""

# KEYS: job, events, admission set, dispatched index, result cache entry, counters, flight, run
# lock. ARGV: cache entry (json), its ttl, the result counter's field, stream maxlen, the
# completed event's data (json), the job's result (json), finished_at, flight token ('' none),
# runner id.
_FINISH = TRANSITION_FUNCTION + """
redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[2])
redis.call('HINCRBY', KEYS[6], ARGV[3], 1)
local changed = transition(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'succeeded', 'completed', ARGV[5], ARGV[4],
                           0, '', '', {'result', ARGV[6], 'progress', '100', 'finished_at', ARGV[7]})
if ARGV[8] ~= '' and redis.call('GET', KEYS[7]) == ARGV[8] then redis.call('DEL', KEYS[7]) end
if redis.call('GET', KEYS[8]) == ARGV[9] then redis.call('DEL', KEYS[8]) end
return changed[1]
"""


@dataclass(frozen=True)
class Begun:
    """How :meth:`RunSteps.begin` went.

    ``verdict``: ``missing`` (no such job), ``terminal`` (already ended), ``busy`` (another
    runner holds its lock), ``cancel`` (a cancel was asked for; this run holds the lock),
    ``wait`` (the breaker turns it away for ``wait`` s; lock held, nothing changed) or ``run``
    (lock held, now ``weaving``; ``started``: the ``started`` event was written).
    ``job``: the record as it was before this step.
    """

    verdict: str
    job: Job | None = None
    wait: float = 0.0
    started: bool = False
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """How :meth:`RunSteps.prepare` went.

    ``verdict``: ``cancel`` (a cancel was asked for), ``ended`` (the job ended meanwhile),
    ``cached`` (``cached`` holds the result cache's raw entry), ``flight`` (this run holds the
    generation's flight), ``draw`` (forced, the flight is someone else's: draw without it) or
    ``taken`` (another job is drawing the same generation). ``slot``: with ``flight`` and
    ``draw``, the Semantest slot taken for the request (None: the breaker was not closed or no
    slot was free, and the pool asks itself).
    """

    verdict: str
    cached: bytes | str | None = None
    slot: str | None = None


class RunSteps:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._begin = client.register_script(_BEGIN)
        self._prepare = client.register_script(_PREPARE)
        self._finish = client.register_script(_FINISH)

    def begin(self, job_id: str, runner_id: str, *, lock_ttl: float, cooldown: float, recheck: float,
              now_iso: str) -> Begun:
        reply: Any = self._begin(
            keys=[*JobStore.transition_keys(job_id), keys.job_lock(job_id), keys.job_cancel(job_id), keys.breaker(),
                  keys.breaker_probe(), keys.config(), keys.counters()],
            args=[runner_id, int(lock_ttl * 1000), cooldown, recheck, EVENT_STREAM_MAXLEN, now_iso,
                  SEMANTEST_DUPLICATES_COUNTER])
        verdict = decode(reply[0])
        if verdict == "missing":
            return Begun(verdict)
        job = Job.from_hash(_pairs(reply[1]))
        if verdict == "wait":
            return Begun(verdict, job, wait=float(decode(reply[2])))
        if verdict != "run":
            return Begun(verdict, job)
        return Begun(verdict, job, started=decode(reply[3]) == "1", config=_pairs(reply[4]))

    def prepare(self, job_id: str, *, prompt_key: str, woven: str | None, prompt_ttl: int, prompt_counter: str,
                prompt: dict[str, Any], scene_key: str, generation: str, result_ttl: int, force: bool,
                flight_token: str, flight_lease: float, terms: ServiceTerms) -> Prepared:
        """``woven``: the prompt to store in the prompt cache (None: it came from there)."""
        slot = new_token(terms.slot_holder)
        reply: Any = self._prepare(
            keys=[*JobStore.transition_keys(job_id), keys.job_cancel(job_id), prompt_key, keys.counters(),
                  keys.result_scene(scene_key), keys.result_cache(generation), keys.result_flight(generation),
                  keys.breaker(), terms.slot_key],
            args=[woven or "", prompt_ttl, prompt_counter, EVENT_STREAM_MAXLEN, json_field(prompt), generation,
                  result_ttl, "1" if force else "0", flight_token, max(1, int(flight_lease * 1000)),
                  terms.slot_limit, terms.slot_lease, slot])
        verdict = decode(reply[0])
        if verdict == "cached":
            return Prepared(verdict, cached=reply[1])
        return Prepared(verdict, slot=slot if len(reply) > 1 and decode(reply[1]) == "1" else None)

    def finish(self, job_id: str, runner_id: str, *, generation: str, entry: str, result_ttl: int,
               result_counter: str, result: dict[str, Any], finished_at: str, flight_token: str) -> bool:
        """True when the job succeeded by this step (False: it had ended meanwhile)."""
        applied = self._finish(
            keys=[*JobStore.transition_keys(job_id), keys.result_cache(generation), keys.counters(),
                  keys.result_flight(generation), keys.job_lock(job_id)],
            args=[entry, result_ttl, result_counter, EVENT_STREAM_MAXLEN, json_field({"result": result}),
                  json_field(result), finished_at, flight_token, runner_id])
        return int(applied) == 1


def _pairs(flat: list[Any]) -> dict[str, str]:
    """A flat [name, value, ...] reply as a dict of text."""
    return decode_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
