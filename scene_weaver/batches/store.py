"""Batch records (Redis hashes), their item lists, event streams and per-owner indexes.

A batch is written whole or not at all: the record, the item list, the pending list, every
item's job record and the batch's place in the admission round go in one MULTI/EXEC. Its
counts then change only in the job state script (:mod:`scene_weaver.batch_counts`).
"""

from __future__ import annotations

import enum
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis

from .. import keys
from ..batch_counts import BATCH_EVENT_STREAM_MAXLEN, COUNT_FIELDS
from ..clock import utc_now_iso
from ..jobs import JobStore
from ..models import Priority, Scene
from ..redis_text import decode, decode_hash

__all__ = ["Batch", "BatchEvent", "BatchItem", "BatchStatus", "BatchStore"]

# The batch's record is one hash; large values are JSON.
_JSON_FIELDS = ("warnings", "webhook_events")


class BatchStatus(enum.StrEnum):
    # The request's own phase: a batch is stored only once it validated (nothing half-made).
    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL_BATCH_STATUSES = frozenset({BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELED})


@dataclass(frozen=True)
class BatchItem:
    """One entry of the script, ready to become a job."""

    scene: Scene
    group: str
    seed: int


@dataclass(frozen=True)
class Batch:
    batch_id: str
    owner: str
    status: BatchStatus
    priority: Priority
    created_at: str
    completed_at: str | None
    style: str | None
    format: str
    warnings: list[dict[str, Any]]
    request_counts: dict[str, int]
    webhook_url: str | None = None
    webhook_events: list[str] = field(default_factory=list)
    force: bool = False
    cancel_requested: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_BATCH_STATUSES

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Batch:
        decoded = {name: json.loads(raw[name]) if raw.get(name) else None for name in _JSON_FIELDS}
        completed = raw.get("completed_at")
        return cls(
            batch_id=raw["batch_id"],
            owner=raw.get("owner", ""),
            status=BatchStatus(raw["status"]),
            priority=Priority(raw.get("priority", Priority.NORMAL.value)),
            created_at=raw["created_at"],
            completed_at=_iso(float(completed)) if completed else None,
            style=raw.get("style") or None,
            format=raw.get("format", ""),
            warnings=decoded["warnings"] or [],
            request_counts={name: int(raw.get(name) or 0) for name in COUNT_FIELDS},
            webhook_url=raw.get("webhook_url") or None,
            webhook_events=decoded["webhook_events"] or [],
            force=raw.get("force") == "1",
            cancel_requested=raw.get("cancel_requested") == "1",
        )


@dataclass(frozen=True)
class BatchEvent:
    id: str
    type: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type == "completed"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "data": self.data}


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# KEYS[1] batch hash, KEYS[2] pending list, KEYS[3..5] the admission rounds (high, normal, low)
# Marks the cancel and takes the batch out of admission in one step: nothing is admitted after.
_BEGIN_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'in_progress' then return 0 end
redis.call('HSET', KEYS[1], 'cancel_requested', '1')
redis.call('DEL', KEYS[2])
local batch_id = redis.call('HGET', KEYS[1], 'batch_id')
for i = 3, 5 do redis.call('LREM', KEYS[i], 0, batch_id) end
return 1
"""

_CREATE_CHUNK = 1000


class BatchStore:
    """Reads and writes batch records; item job records are written with :meth:`JobStore.add_record`."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._begin_cancel = client.register_script(_BEGIN_CANCEL)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def create(
        self,
        owner: str,
        items: Sequence[BatchItem],
        *,
        batch_id: str | None = None,
        priority: Priority = Priority.NORMAL,
        style: str | None = None,
        format: str = "entries",
        warnings: Sequence[Mapping[str, Any]] = (),
        webhook_url: str | None = None,
        webhook_events: Sequence[str] = (),
        force: bool = False,
    ) -> Batch:
        """Write the batch and one ``queued`` job per item, all in one transaction; return the batch.

        The items wait for admission (they are in no broker queue yet): the batch joins the
        admission round of its priority.
        """
        batch_id = batch_id or self.new_id()
        job_ids = [uuid.uuid4().hex for _ in items]
        now = utc_now_iso()
        score = time.time()
        record: dict[str, str] = {
            "batch_id": batch_id, "owner": owner, "status": BatchStatus.IN_PROGRESS.value,
            "priority": priority.value, "created_at": now, "created_ts": f"{score:.6f}",
            "style": style or "", "format": format,
            "warnings": json.dumps(list(warnings), separators=(",", ":")),
            "webhook_url": webhook_url or "", "webhook_events": json.dumps(list(webhook_events)),
            "force": "1" if force else "0", "last_admit": f"{score:.6f}",
            "total": str(len(job_ids)), "queued": str(len(job_ids)),
            **{name: "0" for name in COUNT_FIELDS if name not in ("total", "queued")},
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.batch(batch_id), mapping=cast(Any, record))
        for start in range(0, len(job_ids), _CREATE_CHUNK):
            chunk = job_ids[start:start + _CREATE_CHUNK]
            pipe.rpush(keys.batch_items(batch_id), *chunk)
            pipe.rpush(keys.batch_pending(batch_id), *chunk)
        for index, (job_id, item) in enumerate(zip(job_ids, items, strict=True)):
            options: dict[str, Any] = {"group": item.group, "seed": item.seed}
            if force:
                options["force"] = True
            # Distinct scores (a microsecond apart) keep GET /jobs's score cursor exact across items.
            JobStore.add_record(pipe, job_id, owner, item.scene, priority=priority, options=options,
                                extra={"batch_id": batch_id, "index": str(index)}, score=score + index * 1e-6)
        pipe.xadd(keys.batch_events(batch_id),
                  {"type": "counts", "data": json.dumps({"request_counts": {
                      name: int(record[name]) for name in COUNT_FIELDS}})},
                  maxlen=BATCH_EVENT_STREAM_MAXLEN, approximate=True)
        pipe.zadd(keys.user_batches(owner), {batch_id: score})
        pipe.zadd(keys.all_batches(), {batch_id: score})
        pipe.rpush(keys.admission_round(priority.value), batch_id)
        pipe.execute()
        batch = self.get(batch_id)
        assert batch is not None
        return batch

    def get(self, batch_id: str) -> Batch | None:
        raw = self.client.hgetall(keys.batch(batch_id))
        if not raw:
            return None
        return Batch.from_hash(decode_hash(raw))

    def item_ids(self, batch_id: str, start: int = 0, stop: int = -1) -> list[str]:
        """The batch's item job ids in script order, ``start`` to ``stop`` inclusive (like LRANGE)."""
        return [decode(job_id) for job_id in self.client.lrange(keys.batch_items(batch_id), start, stop)]

    def items(self, batch_id: str, start: int, count: int, fields: Sequence[str]) -> list[tuple[int, str, list[str | None]]]:
        """(index, job id, the named fields of its record) for ``count`` items from ``start``."""
        ids = self.item_ids(batch_id, start, start + count - 1)
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(keys.job(job_id), list(fields))
        rows = pipe.execute() if ids else []
        return [(start + offset, job_id, [decode(value) if value is not None else None for value in row])
                for offset, (job_id, row) in enumerate(zip(ids, rows, strict=True))]

    def begin_cancel(self, batch_id: str) -> bool:
        """Mark the batch canceled-to-be and withdraw its unadmitted items from admission.

        False when the batch is no longer in progress.
        """
        done = self._begin_cancel(keys=[keys.batch(batch_id), keys.batch_pending(batch_id),
                                        *(keys.admission_round(p.value) for p in Priority)], args=[])
        return int(done) == 1

    def claim_end(self, batch_id: str) -> bool:
        """True once per batch: the caller, who saw it ended, counts its end (``scene_weaver_batches_total``)."""
        return bool(self.client.hsetnx(keys.batch(batch_id), "end_counted", "1"))

    def claim_webhook(self, batch_id: str) -> bool:
        """True once per batch: the caller sends its ``completed`` webhook."""
        return bool(self.client.hsetnx(keys.batch(batch_id), "webhook_sent", "1"))

    def completed_webhook(self, batch_id: str) -> tuple[str, str] | None:
        """(url, body) of the batch's ``completed`` webhook when it has ended and asked for one; given
        out once per batch (whoever sees the end first sends it)."""
        batch = self.get(batch_id)
        if batch is None or not batch.terminal or not batch.webhook_url:
            return None
        if "completed" not in (batch.webhook_events or ["completed"]) or not self.claim_webhook(batch_id):
            return None
        body = json.dumps({"event": "completed", "batch_id": batch_id, "status": batch.status.value,
                           "request_counts": batch.request_counts, "completed_at": batch.completed_at,
                           "sent_at": int(time.time())}, separators=(",", ":"), sort_keys=True)
        return batch.webhook_url, body

    def count(self, owner: str | None) -> int:
        return int(self.client.zcard(_index(owner)))

    def newest_ids(self, owner: str | None, *, before: float | None = None, skip: int = 0,
                   limit: int = 20) -> list[tuple[str, float]]:
        """(batch id, creation score) newest first; ``before`` keeps those created strictly before it."""
        newest = "+inf" if before is None else f"({before!r}"
        rows: Any = self.client.zrevrangebyscore(_index(owner), newest, "-inf", start=skip, num=limit,
                                                 withscores=True)
        return [(decode(batch_id), float(score)) for batch_id, score in rows]

    def events(self, batch_id: str, after: str = "0", count: int = 500) -> list[BatchEvent]:
        start = "(" + after if after not in ("0", "0-0", "") else "-"
        rows: Any = self.client.xrange(keys.batch_events(batch_id), min=start, max="+", count=count)
        return [_event(entry_id, fields) for entry_id, fields in rows]

    def wait_events_of(self, positions: Mapping[str, str], block_ms: int | None,
                       count: int = 200) -> list[tuple[str, BatchEvent]]:
        """(batch id, event) for several batches after their positions; ``block_ms`` None does not block."""
        if not positions:
            return []
        streams = {keys.batch_events(batch_id): after or "0" for batch_id, after in positions.items()}
        batch_of = {keys.batch_events(batch_id): batch_id for batch_id in positions}
        rows: Any = self.client.xread(cast(Any, streams), block=block_ms, count=count)
        return [(batch_of[decode(stream)], _event(entry_id, fields))
                for stream, entries in rows or [] for entry_id, fields in entries]


def _index(owner: str | None) -> str:
    return keys.user_batches(owner) if owner is not None else keys.all_batches()


def _event(entry_id: Any, fields: dict[Any, Any]) -> BatchEvent:
    f = decode_hash(fields)
    return BatchEvent(id=decode(entry_id), type=f.get("type", ""), data=json.loads(f.get("data") or "{}"))
