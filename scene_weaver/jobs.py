"""Job records (Redis hashes), their event streams (Redis streams) and the indexes of
job ids by owner (sorted sets scored by creation time).

Every state change goes through one Lua script that refuses to touch a job in a
terminal state and appends the event in the same step, so the record and its
stream never disagree and a redelivered task can never undo a result.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from . import keys
from .batch_counts import batch_hook
from .clock import utc_now_iso
from .errors import NotFound
from .models import TERMINAL_STATUSES, JobStatus, Priority, Scene
from .redis_text import decode, decode_hash

__all__ = ["Job", "JobEvent", "JobStore", "EVENT_STREAM_MAXLEN", "SEMANTEST_DUPLICATES_COUNTER",
           "TRANSITION_FUNCTION", "json_field", "transition_args"]

EVENT_STREAM_MAXLEN = 2000
# Counter (hash ``sw:counters``): Semantest requests that may be duplicates (a run resumed mid-generation).
SEMANTEST_DUPLICATES_COUNTER = "semantest_possible_duplicate_requests"
_JSON_FIELDS = ("scene", "prompt", "result", "error", "retries", "options")
_TERMINAL_VALUES = frozenset(status.value for status in TERMINAL_STATUSES)

# The job state change as a Lua function, so the worker's combined steps (scene_weaver.run_steps)
# make the very same change inside their own scripts.
# job_key, events_key; inflight_key: the admission window's set of admitted batch items;
# dispatched_key: the dispatched-jobs index (a terminal job leaves both);
# new ('' keeps the status), event type, data (json), stream maxlen, delta: change of the attempts
# count (1 counts one, -1 gives one back), once_name/once_value: a field set only if absent
# ('' for none), fields: a flat list of field/value pairs.
# Returns {-1, ''} (no such job), {0, status} (terminal: nothing changed) or {1, event id}.
TRANSITION_FUNCTION = """
local function transition(job_key, events_key, inflight_key, dispatched_key, new, event, data, maxlen,
                          delta, once_name, once_value, fields)
  local status = redis.call('HGET', job_key, 'status')
  if not status then return {-1, ''} end
  if status == 'succeeded' or status == 'failed' or status == 'canceled' then
    return {0, status}
  end
  delta = tonumber(delta)
  if delta < 0 and tonumber(redis.call('HGET', job_key, 'attempts') or '0') + delta < 0 then delta = 0 end
  if delta ~= 0 then redis.call('HINCRBY', job_key, 'attempts', delta) end
  if once_name ~= '' then redis.call('HSETNX', job_key, once_name, once_value) end
  if #fields > 0 then redis.call('HSET', job_key, unpack(fields)) end
  local new_status = status
  if new ~= '' then
    redis.call('HSET', job_key, 'status', new)
    new_status = new
    if new_status == 'succeeded' or new_status == 'failed' or new_status == 'canceled' then
      redis.call('ZREM', dispatched_key, redis.call('HGET', job_key, 'job_id'))
    end
  end
  local progress = redis.call('HGET', job_key, 'progress') or '0'
  local id = redis.call('XADD', events_key, 'MAXLEN', '~', maxlen, '*',
    'type', event, 'status', new_status, 'progress', progress, 'data', data)
  if new_status ~= status then
    local batch_id = redis.call('HGET', job_key, 'batch_id')
    if batch_id then
__BATCH_HOOK__
    end
  end
  return {1, id}
end
"""

# A batch item's status change moves one unit between its batch's counts, in the same step
# (see scene_weaver.batch_counts); a job without ``batch_id`` skips it.
TRANSITION_FUNCTION = TRANSITION_FUNCTION.replace("__BATCH_HOOK__", batch_hook())

# KEYS: job hash, event stream, admission set, dispatched index; ARGV: as the function's, from ``new``
# on, the field/value pairs last (see :func:`transition_args`).
_TRANSITION = TRANSITION_FUNCTION + """
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
return transition(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
                  ARGV[6], ARGV[7], fields)
"""

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] the dispatched-jobs index, KEYS[2] the job hash; ARGV[1] job id, ARGV[2] score.
# Only a job that exists and is not terminal is recorded (a late re-dispatch never resurrects one).
_RECORD_DISPATCH = """
local status = redis.call('HGET', KEYS[2], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class JobEvent:
    id: str
    type: str
    status: str
    progress: int
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        """The job's last event: nothing follows it."""
        return self.status in _TERMINAL_VALUES

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "status": self.status,
                "progress": self.progress, "data": self.data}


@dataclass(frozen=True)
class Job:
    job_id: str
    owner: str
    status: JobStatus
    priority: Priority
    progress: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int
    scene: dict[str, Any]
    prompt: dict[str, Any] | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    retries: list[dict[str, Any]]
    options: dict[str, Any]
    batch_id: str | None = None  # set on a batch's items, with their place in the script
    index: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Job:
        decoded = {name: json.loads(raw[name]) if raw.get(name) else None for name in _JSON_FIELDS}
        return cls(
            job_id=raw["job_id"],
            owner=raw.get("owner", ""),
            status=JobStatus(raw["status"]),
            priority=Priority(raw.get("priority", Priority.NORMAL.value)),
            progress=int(raw.get("progress") or 0),
            created_at=raw["created_at"],
            started_at=raw.get("started_at") or None,
            finished_at=raw.get("finished_at") or None,
            attempts=int(raw.get("attempts") or 0),
            scene=decoded["scene"] or {},
            prompt=decoded["prompt"],
            result=decoded["result"],
            error=decoded["error"],
            retries=decoded["retries"] or [],
            options=decoded["options"] or {},
            batch_id=raw.get("batch_id") or None,
            index=int(raw["index"]) if raw.get("index") else None,
        )


def json_field(value: Any) -> str:
    """A hash field or script argument: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class JobStore:
    """Reads and changes job records, events and indexes; the only user of their keys."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._transition = client.register_script(_TRANSITION)
        self._release_lock = client.register_script(_RELEASE_LOCK)
        self._record_dispatch = client.register_script(_RECORD_DISPATCH)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def create(
        self,
        owner: str,
        scene: Scene,
        *,
        priority: Priority = Priority.NORMAL,
        options: dict[str, Any] | None = None,
        job_id: str | None = None,
        dispatched: bool = False,
    ) -> Job:
        """Write a new ``queued`` job in one round trip and return it (as written: it is not read back).

        ``dispatched``: also record it in the dispatched-jobs index in the same step (what
        :meth:`record_dispatched` does), for a caller that publishes its task next; the
        reconciler then sends it again if that publish fails or its message is lost.
        """
        job_id = job_id or self.new_id()
        created_at = utc_now_iso()
        score = time.time()
        pipe = self.client.pipeline(transaction=True)
        self.add_record(pipe, job_id, owner, scene, priority=priority, options=options,
                        extra={"created_at": created_at}, score=score)
        if dispatched:
            pipe.zadd(keys.dispatched_jobs(), {job_id: score})
        pipe.execute()
        return Job(job_id=job_id, owner=owner, status=JobStatus.QUEUED, priority=priority, progress=0,
                   created_at=created_at, started_at=None, finished_at=None, attempts=0,
                   scene=scene.model_dump(mode="json"), prompt=None, result=None, error=None, retries=[],
                   options=json.loads(json_field(options or {})))  # as a read gives it back

    @staticmethod
    def add_record(
        pipe: redis.client.Pipeline,
        job_id: str,
        owner: str,
        scene: Scene,
        *,
        priority: Priority = Priority.NORMAL,
        options: dict[str, Any] | None = None,
        extra: Mapping[str, str] | None = None,
        score: float | None = None,
    ) -> None:
        """Queue the writes of a new ``queued`` job on ``pipe`` (the batch store writes many in one step).

        ``extra``: more fields of the record (a batch item's ``batch_id`` and ``index``).
        """
        record = {
            "job_id": job_id,
            "owner": owner,
            "status": JobStatus.QUEUED.value,
            "priority": priority.value,
            "progress": "0",
            "created_at": utc_now_iso(),
            "attempts": "0",
            "scene": json_field(scene.model_dump(mode="json")),
            "options": json_field(options or {}),
            **(extra or {}),
        }
        score = time.time() if score is None else score
        pipe.hset(keys.job(job_id), mapping=cast(Any, record))
        pipe.zadd(keys.user_jobs(owner), {job_id: score})
        pipe.zadd(keys.all_jobs(), {job_id: score})
        pipe.xadd(
            keys.job_events(job_id),
            {"type": "queued", "status": "queued", "progress": "0", "data": "{}"},
            maxlen=EVENT_STREAM_MAXLEN,
            approximate=True,
        )

    def get(self, job_id: str) -> Job | None:
        raw = self.client.hgetall(keys.job(job_id))
        if not raw:
            return None
        return Job.from_hash(decode_hash(raw))

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found", code="job_not_found")
        return job

    def _apply(
        self,
        job_id: str,
        *,
        status: JobStatus | None,
        event: str,
        data: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
        attempts: int = 0,
        set_once: tuple[str, str] | None = None,
    ) -> bool:
        """Apply a change unless the job is terminal; True when it was applied.

        ``attempts`` is added to the attempts count (never below 0); ``set_once`` is a
        (field, value) written only when the field is absent.
        """
        args = transition_args(status, event, data, fields, attempts=attempts, set_once=set_once)
        applied, _ = self._transition(keys=self.transition_keys(job_id),
                                      args=args)
        if int(applied) < 0:
            raise NotFound(f"job {job_id} not found", code="job_not_found")
        return int(applied) == 1

    @staticmethod
    def transition_keys(job_id: str) -> list[str]:
        """The keys the state change touches (TRANSITION_FUNCTION's first four arguments)."""
        return [keys.job(job_id), keys.job_events(job_id), keys.admission_inflight(), keys.dispatched_jobs()]

    def mark_started(self, job_id: str) -> bool:
        """A real attempt begins: counted. ``started_at`` keeps the job's first start."""
        return self._apply(job_id, status=JobStatus.STARTED, event="started", fields={"progress": "0"},
                           attempts=1, set_once=("started_at", utc_now_iso()))

    def park(self, job_id: str, delay: float, reason: str, *, give_back_attempt: bool = False) -> bool:
        """The open breaker turned the job away: ``waiting_for_semantest`` until it runs again in ``delay`` s.

        Not an attempt: with ``give_back_attempt`` the attempt this run counted when it
        started is given back in the same step. The first time a worker takes the job up
        starts its retry deadline, so ``started_at`` is set here too if it is not yet.
        """
        delay = round(delay, 3)
        return self._apply(job_id, status=JobStatus.WAITING_FOR_SEMANTEST, event="waiting_for_semantest",
                           data={"retry_after": delay, "reason": reason}, fields={"progress": "0"},
                           attempts=-1 if give_back_attempt else 0, set_once=("started_at", utc_now_iso()))

    def mark_weaving(self, job_id: str) -> bool:
        return self._apply(job_id, status=JobStatus.WEAVING, event="weaving")

    def mark_generating(self, job_id: str, prompt: dict[str, Any]) -> bool:
        return self._apply(job_id, status=JobStatus.GENERATING, event="generating",
                           fields={"prompt": prompt})

    def set_progress(self, job_id: str, progress: int, stage: str = "") -> bool:
        progress = max(0, min(100, int(progress)))
        return self._apply(job_id, status=None, event="progress",
                           data={"progress": progress, "stage": stage}, fields={"progress": str(progress)})

    def note_retry(self, job_id: str, code: str, message: str, delay: float) -> bool:
        job = self.require(job_id)
        retries = job.retries + [{"at": utc_now_iso(), "code": code, "message": message,
                                  "delay": round(delay, 3)}]
        return self._apply(job_id, status=JobStatus.QUEUED, event="retry",
                           data={"code": code, "message": message, "delay": round(delay, 3)},
                           fields={"retries": retries[-50:], "progress": "0"})

    def succeed(self, job_id: str, result: dict[str, Any]) -> bool:
        return self._apply(job_id, status=JobStatus.SUCCEEDED, event="completed",
                           data={"result": result},
                           fields={"result": result, "progress": "100", "finished_at": utc_now_iso()})

    def succeed_cached(self, served: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[bool]:
        """Run queued jobs, each ``(job_id, prompt, result)``, to success with a picture drawn before,
        in one round trip: the steps and events of a worker's run (started, weaving, generating,
        completed). Per job, True when it succeeded (False: it had ended meanwhile)."""
        pipe = self.client.pipeline(transaction=False)
        now = utc_now_iso()
        for job_id, prompt, result in served:
            names = self.transition_keys(job_id)
            for args in (
                transition_args(JobStatus.STARTED, "started", None, {"progress": "0"}, attempts=1,
                                 set_once=("started_at", now)),
                transition_args(JobStatus.WEAVING, "weaving"),
                transition_args(JobStatus.GENERATING, "generating", None, {"prompt": prompt}),
                transition_args(JobStatus.SUCCEEDED, "completed", {"result": result},
                                 {"result": result, "progress": "100", "finished_at": now}),
            ):
                self._transition(keys=names, args=args, client=pipe)
        replies = pipe.execute()
        return [int(replies[4 * i + 3][0]) == 1 for i in range(len(served))]

    def fail(self, job_id: str, code: str, message: str, *, give_back_attempt: bool = False) -> bool:
        """``give_back_attempt``: the run that fails counted an attempt it never made (see :meth:`park`)."""
        error = {"code": code, "message": message}
        return self._apply(job_id, status=JobStatus.FAILED, event="failed", data={"error": error},
                           fields={"error": error, "finished_at": utc_now_iso()},
                           attempts=-1 if give_back_attempt else 0)

    def cancel(self, job_id: str, reason: str = "canceled by request") -> bool:
        return self._apply(job_id, status=JobStatus.CANCELED, event="canceled",
                           data={"reason": reason}, fields={"finished_at": utc_now_iso()})

    def request_cancel(self, job_id: str) -> Job:
        """Durable cancel: a marker every step checks; a job not yet started ends at once."""
        job = self.require(job_id)
        if job.terminal:
            return job
        self.client.set(keys.job_cancel(job_id), "1", ex=7 * 24 * 3600)
        if job.status in (JobStatus.QUEUED, JobStatus.WAITING_FOR_SEMANTEST):
            self.cancel(job_id)  # not running: nothing else would end it before its next run
        return self.require(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.client.exists(keys.job_cancel(job_id)))

    def acquire_run_lock(self, job_id: str, owner: str, ttl: float) -> bool:
        """One runner per job: a redelivered task finds the lock and leaves the job alone."""
        return bool(self.client.set(keys.job_lock(job_id), owner, nx=True, px=int(ttl * 1000)))

    def release_run_lock(self, job_id: str, owner: str) -> None:
        self._release_lock(keys=[keys.job_lock(job_id)], args=[owner])

    def run_lock_owner(self, job_id: str) -> str | None:
        raw = self.client.get(keys.job_lock(job_id))
        return decode(raw) if raw is not None else None

    def break_run_lock(self, job_id: str, owner: str) -> bool:
        """Remove the run lock if ``owner`` still holds it (its runner is gone): True when removed."""
        return bool(self._release_lock(keys=[keys.job_lock(job_id)], args=[owner]))

    # --- what the reconciler follows: jobs handed to the broker and not finished -------------

    def record_dispatched(self, job_id: str) -> bool:
        """Note that ``job_id`` is being handed to the broker (scored by this host's clock), so the
        reconciler sends it again if its message is ever lost. A terminal or missing job is not
        recorded: False then."""
        return bool(self._record_dispatch(keys=[keys.dispatched_jobs(), keys.job(job_id)],
                                          args=[job_id, repr(time.time())]))

    def is_dispatched(self, job_id: str) -> bool:
        return self.client.zscore(keys.dispatched_jobs(), job_id) is not None

    def dispatched_before(self, before: float, limit: int) -> list[tuple[str, float]]:
        """(job id, dispatch time) of the jobs dispatched before ``before`` (epoch s), oldest first."""
        rows: Any = self.client.zrangebyscore(keys.dispatched_jobs(), "-inf", repr(before), start=0, num=limit,
                                              withscores=True)
        return [(decode(job_id), float(score)) for job_id, score in rows]

    def forget_dispatched(self, job_id: str) -> None:
        self.client.zrem(keys.dispatched_jobs(), job_id)

    def dispatched_count(self) -> int:
        return int(self.client.zcard(keys.dispatched_jobs()))

    def events(self, job_id: str, after: str = "0", count: int = 500) -> list[JobEvent]:
        """The job's events after stream id ``after`` ("0" replays them all)."""
        start = "(" + after if after not in ("0", "0-0", "") else "-"
        rows: Any = self.client.xrange(keys.job_events(job_id), min=start, max="+", count=count)
        return [_event(entry_id, fields) for entry_id, fields in rows]

    def wait_events(self, job_id: str, after: str, block_ms: int) -> list[JobEvent]:
        """The job's next events after ``after``, blocking up to ``block_ms`` for the first."""
        return [event for _, event in self.wait_events_of({job_id: after or "0"}, block_ms, count=500)]

    def wait_events_of(
        self, positions: Mapping[str, str], block_ms: int, count: int = 200
    ) -> list[tuple[str, JobEvent]]:
        """(job id, event) for several jobs after their positions, blocking up to ``block_ms``."""
        if not positions:
            return []
        streams = {keys.job_events(job_id): after for job_id, after in positions.items()}
        job_of = {keys.job_events(job_id): job_id for job_id in positions}
        rows: Any = self.client.xread(cast(Any, streams), block=block_ms, count=count)
        return [(job_of[decode(stream)], _event(entry_id, fields))
                for stream, entries in rows or [] for entry_id, fields in entries]

    def count(self, owner: str | None) -> int:
        """How many jobs one owner has, or every job when owner is None."""
        return int(self.client.zcard(_index(owner)))

    def newest_ids(
        self, owner: str | None, *, before: float | None = None, skip: int = 0, limit: int = 50
    ) -> list[tuple[str, float]]:
        """(job id, creation score) newest first: one owner's, or every job's when owner is None.

        ``before`` keeps only the jobs created strictly before that score (a paging cursor).
        """
        newest = "+inf" if before is None else f"({before!r}"
        rows: Any = self.client.zrevrangebyscore(_index(owner), newest, "-inf", start=skip, num=limit,
                                                 withscores=True)
        return [(decode(job_id), float(score)) for job_id, score in rows]

    def count_by_status(self, sample: int) -> tuple[dict[str, int], int]:
        """Jobs per status among the newest ``sample`` jobs; (counts, how many were counted)."""
        ids = [job_id for job_id, _ in self.newest_ids(None, limit=sample)]
        counts = {status.value: 0 for status in JobStatus}
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(keys.job(job_id), "status")
        for raw in pipe.execute() if ids else []:
            status = decode(raw) if raw is not None else None
            if status in counts:
                counts[status] += 1
        return counts, len(ids)


def transition_args(status: JobStatus | None, event: str, data: dict[str, Any] | None = None,
                     fields: dict[str, Any] | None = None, *, attempts: int = 0,
                     set_once: tuple[str, str] | None = None) -> list[str]:
    """The state script's arguments for one change (see :meth:`JobStore._apply`)."""
    once_name, once_value = set_once or ("", "")
    args: list[str] = [
        status.value if status else "",
        event,
        json_field(data or {}),
        str(EVENT_STREAM_MAXLEN),
        str(attempts),
        once_name,
        once_value,
    ]
    for name, value in (fields or {}).items():
        args += [name, json_field(value)]
    return args


def _index(owner: str | None) -> str:
    """The sorted set of one owner's job ids, or of every job's when owner is None."""
    return keys.user_jobs(owner) if owner is not None else keys.all_jobs()


def _event(entry_id: Any, fields: dict[Any, Any]) -> JobEvent:
    f = decode_hash(fields)
    return JobEvent(id=decode(entry_id), type=f.get("type", ""), status=f.get("status", ""),
                    progress=int(f.get("progress") or 0), data=json.loads(f.get("data") or "{}"))
