"""Admission: moving batch items from waiting to the broker, a window at a time.

The window is ``ADMISSION_WINDOW_PER_SLOT`` × the worker slots of the live fleet (the
concurrency in the worker heartbeats). Batch items admitted and not yet finished fill it
(the set ``sw:admission:inflight``; the job state script takes an item out when it ends).
One Lua script fills the room that is left, one item at a time, round-robin over the
active batches of every user: high batches first, then normal, then low — except that a
low batch which has had nothing admitted for ``ADMISSION_AGING_SECONDS`` goes before the
normal ones for one item, which is then sent to the normal queue (aging: low work is never
starved forever). Single low jobs (``POST /process``) wait in the broker's ``low`` queue,
which workers reach only when ``default`` is empty: when that queue has not moved for
``ADMISSION_AGING_SECONDS``, admission holds back normal and low batch items (high ones
still go) until a worker has taken a low job, or for one more aging period at most, so the
``default`` queue drains and the oldest low job gets a slot. So the broker holds only what can start soon, strict priority between
the queues still holds, and a single job of anyone waits behind at most a window.

The caller sends what :meth:`Admission.take` returns to the broker (the workers and the
API do so through ``workers.dispatch.admit``). Nothing here grows with a batch's size.
"""

from __future__ import annotations

import threading
import time

import redis

from .. import keys
from ..constants import SCENE_QUEUES
from ..heartbeats import HeartbeatStore
from ..models import Priority
from ..redis_text import decode
from ..settings import Settings

# The broker's list of single low jobs (the Redis transport keeps each queue in a list of its name).
LOW_QUEUE = SCENE_QUEUES[-1]

__all__ = ["Admission"]

# KEYS[1] inflight set, KEYS[2..4] the rounds (high, normal, low), KEYS[5] the broker's low queue,
# KEYS[6] the low queue's aging state (hash: since, held, held_at)
# ARGV[1] window, ARGV[2] now (s), ARGV[3] aging (s), ARGV[4] batch key prefix, ARGV[5] most to admit,
# ARGV[6] job key prefix
# Returns job id, queue priority, job id, queue priority, ...
_TAKE = """
local room = tonumber(ARGV[1]) - redis.call('SCARD', KEYS[1])
local limit = math.min(room, tonumber(ARGV[5]))
local now, aging, prefix = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local hold = false
local low_len = redis.call('LLEN', KEYS[5])
if low_len == 0 then
  redis.call('DEL', KEYS[6])
else
  local since = tonumber(redis.call('HGET', KEYS[6], 'since') or '')
  if not since then
    since = now
    redis.call('HSET', KEYS[6], 'since', ARGV[2])
  end
  local held = tonumber(redis.call('HGET', KEYS[6], 'held') or '')
  if held then
    local held_at = tonumber(redis.call('HGET', KEYS[6], 'held_at'))
    if low_len < held or now - held_at >= aging then
      redis.call('HDEL', KEYS[6], 'held', 'held_at')
      redis.call('HSET', KEYS[6], 'since', ARGV[2])
    else
      hold = true
    end
  elseif now - since >= aging then
    redis.call('HSET', KEYS[6], 'held', low_len, 'held_at', ARGV[2])
    hold = true
  end
  redis.call('EXPIRE', KEYS[6], math.ceil(aging * 4) + 60)
end
local out = {}
local guard = 0
while #out / 2 < limit and guard < 10000 do
  guard = guard + 1
  local round, queue = nil, nil
  if redis.call('LLEN', KEYS[2]) > 0 then
    round, queue = KEYS[2], 'high'
  elseif hold then
    break
  else
    local low = redis.call('LINDEX', KEYS[4], 0)
    local aged = false
    if low then
      local last = tonumber(redis.call('HGET', prefix .. low, 'last_admit') or '0')
      aged = now - last >= aging
    end
    if aged then round, queue = KEYS[4], 'normal'
    elseif redis.call('LLEN', KEYS[3]) > 0 then round, queue = KEYS[3], 'normal'
    elseif low then round, queue = KEYS[4], 'low'
    else break end
  end
  local batch_id = redis.call('LPOP', round)
  local pending = prefix .. batch_id .. ':pending'
  local job_id = redis.call('LPOP', pending)
  local status = job_id and redis.call('HGET', ARGV[6] .. job_id, 'status')
  if status == 'succeeded' or status == 'failed' or status == 'canceled' or status == false then
    job_id = nil  -- canceled (or deleted) while it waited: nothing to send, no room taken
    if redis.call('LLEN', pending) > 0 then redis.call('RPUSH', round, batch_id) end
  end
  if job_id then
    redis.call('SADD', KEYS[1], job_id)
    redis.call('HSET', prefix .. batch_id, 'last_admit', ARGV[2])
    out[#out + 1] = job_id
    out[#out + 1] = queue
    if redis.call('LLEN', pending) > 0 then redis.call('RPUSH', round, batch_id) end
  end
end
return out
"""

# KEYS[1] inflight set; ARGV job ids found ended or gone: removed from the window.
_PRUNE = """
local n = 0
for i = 1, #ARGV do n = n + redis.call('SREM', KEYS[1], ARGV[i]) end
return n
"""

_TERMINAL = ("succeeded", "failed", "canceled")


class Admission:
    """Computes the window and takes the next items to admit (one per process; thread-safe)."""

    def __init__(self, client: redis.Redis, settings: Settings, *, capacity_ttl: float = 1.0) -> None:
        self.client = client
        self.settings = settings
        self.heartbeats = HeartbeatStore(client)
        self._take = client.register_script(_TAKE)
        self._prune = client.register_script(_PRUNE)
        self._capacity_ttl = capacity_ttl
        self._capacity: tuple[float, int] = (float("-inf"), 0)
        self._lock = threading.Lock()

    def capacity(self) -> int:
        """Worker slots of the live fleet (processes taking jobs), read at most once a ``capacity_ttl``."""
        with self._lock:
            at, slots = self._capacity
            if time.monotonic() - at < self._capacity_ttl:
                return slots
        slots = sum(beat.concurrency for beat in self.heartbeats.live() if beat.accepting)
        with self._lock:
            self._capacity = (time.monotonic(), slots)
        return slots

    def window(self) -> int:
        return self.settings.admission_window_per_slot * self.capacity()

    def take(self, limit: int = 1000) -> list[tuple[str, Priority]]:
        """Admit up to the room left in the window (at most ``limit``): (job id, queue priority) to enqueue."""
        window = self.window()
        if window <= 0:
            return []
        raw = self._take(keys=[keys.admission_inflight(), *(keys.admission_round(p.value) for p in Priority),
                               LOW_QUEUE, keys.admission_low_aging()],
                         args=[window, f"{time.time():.6f}", self.settings.admission_aging_seconds,
                               keys.batch_prefix(), limit, keys.job("")])
        values = [decode(value) for value in raw]
        return [(values[i], Priority(values[i + 1])) for i in range(0, len(values), 2)]

    def admitted(self, job_id: str) -> bool:
        """True while a batch item is admitted (sent to the broker) and not finished."""
        return bool(self.client.sismember(keys.admission_inflight(), job_id))

    def inflight(self) -> int:
        return int(self.client.scard(keys.admission_inflight()))

    def prune(self) -> int:
        """Take ended or deleted items out of the window (the job script does so as they end; this
        catches a record deleted by hand). Returns how many were removed."""
        members = [decode(m) for m in self.client.smembers(keys.admission_inflight())]
        if not members:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for job_id in members:
            pipe.hget(keys.job(job_id), "status")
        gone = [job_id for job_id, status in zip(members, pipe.execute(), strict=True)
                if status is None or decode(status) in _TERMINAL]
        return int(self._prune(keys=[keys.admission_inflight()], args=gone)) if gone else 0
