"""A batch's request counts, kept exact by the job state script itself.

Each item job's record carries ``batch_id`` and ``index``. When the job state script
(:mod:`scene_weaver.jobs`) changes such a job's status, the Lua below runs in the same
script, so the item's status and its batch's counts can never disagree:

- the item moves one unit between the buckets ``queued`` (queued, waiting_for_semantest),
  ``running`` (started, weaving, generating) and the terminal ``succeeded``, ``failed``,
  ``canceled``; a success whose result says ``"deduplicated":true`` also counts one
  ``deduplicated`` (a sub-count of ``succeeded``);
- the batch's event stream gets an ``item`` event for every status change and a ``counts``
  event whenever the counts moved;
- an item that ends leaves the admission window (``sw:admission:inflight``);
- when no item is queued or running any more, the batch ends: ``canceled`` if a cancel was
  asked for, ``failed`` if no item succeeded and some failed, else ``completed``; the time
  is Redis's, and a ``completed`` event closes the batch's stream.

It is plain Lua text with no imports of its own, so both the job store and the batch store
can use it without importing each other.
"""

from __future__ import annotations

from . import keys

__all__ = ["batch_hook", "BATCH_EVENT_STREAM_MAXLEN", "COUNT_FIELDS", "bucket_of"]

# Up to six events per item (four status changes, two count changes) of a 5,000-item batch.
BATCH_EVENT_STREAM_MAXLEN = 40000
COUNT_FIELDS = ("total", "queued", "running", "succeeded", "failed", "canceled", "deduplicated")

_BUCKETS = {"queued": "queued", "waiting_for_semantest": "queued", "started": "running",
            "weaving": "running", "generating": "running", "succeeded": "succeeded", "failed": "failed",
            "canceled": "canceled"}


def bucket_of(status: str) -> str:
    """The count a job status falls under."""
    return _BUCKETS[status]


# Runs inside the job state script: `status` is the old status, `new_status` the new one
# (they differ), `batch_id` the item's batch, `job_key` the job hash, `inflight_key` the admission set.
_HOOK = """
local function bucket(s)
  if s == 'queued' or s == 'waiting_for_semantest' then return 'queued' end
  if s == 'started' or s == 'weaving' or s == 'generating' then return 'running' end
  return s
end
local bkey = '__PREFIX__' .. batch_id
if redis.call('EXISTS', bkey) == 1 then
  local ekey = bkey .. ':events'
  local job_id = redis.call('HGET', job_key, 'job_id')
  local index = tonumber(redis.call('HGET', job_key, 'index') or '-1')
  local item = cjson.encode({job_id = job_id, index = index, status = new_status, progress = tonumber(progress)})
  redis.call('XADD', ekey, 'MAXLEN', '~', '__MAXLEN__', '*', 'type', 'item', 'data', item)
  local old_b, new_b = bucket(status), bucket(new_status)
  if old_b ~= new_b then
    redis.call('HINCRBY', bkey, old_b, -1)
    redis.call('HINCRBY', bkey, new_b, 1)
    if new_b == 'succeeded' then
      local result = redis.call('HGET', job_key, 'result') or ''
      if string.find(result, '"deduplicated":true', 1, true) then redis.call('HINCRBY', bkey, 'deduplicated', 1) end
    end
    local c = redis.call('HMGET', bkey, 'total', 'queued', 'running', 'succeeded', 'failed', 'canceled',
      'deduplicated', 'status', 'cancel_requested')
    local counts = {total = tonumber(c[1]), queued = tonumber(c[2]), running = tonumber(c[3]),
      succeeded = tonumber(c[4]), failed = tonumber(c[5]), canceled = tonumber(c[6]), deduplicated = tonumber(c[7])}
    redis.call('XADD', ekey, 'MAXLEN', '~', '__MAXLEN__', '*', 'type', 'counts',
      'data', cjson.encode({request_counts = counts}))
    if new_b ~= 'queued' and new_b ~= 'running' then
      redis.call('SREM', inflight_key, job_id)
      if counts.queued + counts.running == 0 and c[8] == 'in_progress' then
        local final = 'completed'
        if c[9] == '1' then final = 'canceled'
        elseif counts.succeeded == 0 and counts.failed > 0 then final = 'failed' end
        local now = redis.call('TIME')
        local stamp = tonumber(now[1]) + tonumber(now[2]) / 1000000
        redis.call('HSET', bkey, 'status', final, 'completed_at', string.format('%.6f', stamp))
        redis.call('XADD', ekey, 'MAXLEN', '~', '__MAXLEN__', '*', 'type', 'completed',
          'data', cjson.encode({status = final, request_counts = counts}))
      end
    end
  end
end
"""


def batch_hook() -> str:
    return (_HOOK.replace("__PREFIX__", keys.batch_prefix())
            .replace("__MAXLEN__", str(BATCH_EVENT_STREAM_MAXLEN)))
