"""``Idempotency-Key`` on job submission: the first request claims the key with SET NX.

Same key and same body give back the job the first request made; a different body is
a 409. The claim holds the job id before the job exists, so two racing requests can
never both create one.

The claim also says whether the job was enqueued: a first request that failed midway (Redis
or the broker down: a 503) leaves a claim without ``enqueued``, and a retry with the same
key and body finishes its work (creates the job if it is missing, enqueues it) instead of
answering with a job that was never queued.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import redis

from scene_weaver import keys
from scene_weaver.errors import Conflict, InvalidInput
from scene_weaver.jobs import Job, JobStore

__all__ = ["Claim", "claim", "release", "wait_for_job", "wait_for_enqueued", "mark_enqueued", "fingerprint",
           "HEADER", "TTL_SECONDS"]

HEADER = "Idempotency-Key"
TTL_SECONDS = 24 * 3600
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")
_WAIT_SECONDS = 3.0


@dataclass(frozen=True)
class Claim:
    key: str
    job_id: str
    fresh: bool
    enqueued: bool = False
    at: float = 0.0  # when the first request claimed the key (epoch s)
    body: str = ""  # the body's fingerprint, when this request wrote the claim (fresh)


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def claim(client: redis.Redis, username: str, key: str, body_hash: str, new_job_id: str) -> Claim:
    """Claim ``key`` for ``new_job_id``, or find the job an earlier request claimed it for."""
    if not _KEY_RE.match(key):
        raise InvalidInput("Idempotency-Key must be 1-200 visible ASCII characters",
                           code="invalid_idempotency_key", details={"field": HEADER})
    redis_key = keys.idempotency(username, key)
    now = time.time()
    record = json.dumps({"job_id": new_job_id, "body": body_hash, "at": now})
    if client.set(redis_key, record, nx=True, ex=TTL_SECONDS):
        return Claim(redis_key, new_job_id, fresh=True, at=now, body=body_hash)
    raw = client.get(redis_key)
    if raw is None:  # expired between the two calls: claim again
        return claim(client, username, key, body_hash, new_job_id)
    stored = json.loads(raw)
    if stored["body"] != body_hash:
        raise Conflict("this Idempotency-Key was used with a different body", code="idempotency_conflict",
                       details={"field": HEADER, "job_id": stored["job_id"]})
    # A claim written before ``enqueued`` was recorded (no "at") was enqueued by its request.
    return Claim(redis_key, str(stored["job_id"]), fresh=False,
                 enqueued=bool(stored.get("enqueued", "at" not in stored)), at=float(stored.get("at", 0.0)))


def mark_enqueued(client: redis.Redis, found: Claim) -> None:
    """The claimed job is in the queue (or recorded for the reconciler): a retry only replays it."""
    if found.fresh:  # this request wrote the claim, so it knows the record: one write, not a read and a write
        record = {"job_id": found.job_id, "body": found.body, "at": found.at, "enqueued": True}
        client.set(found.key, json.dumps(record), xx=True, keepttl=True)
        return
    raw = client.get(found.key)
    if raw is None:
        return
    stored = json.loads(raw)
    stored["enqueued"] = True
    client.set(found.key, json.dumps(stored), xx=True, keepttl=True)


def wait_for_enqueued(client: redis.Redis, found: Claim) -> Claim:
    """The claim once its first request has enqueued the job, or as it is when that request is
    over (it failed midway, or it is older than the wait): the caller then finishes the work."""
    deadline = found.at + _WAIT_SECONDS
    current = found
    while not current.enqueued and time.time() < deadline:
        time.sleep(0.05)
        raw = client.get(found.key)
        if raw is None:
            break
        stored = json.loads(raw)
        current = Claim(found.key, found.job_id, fresh=False, enqueued=bool(stored.get("enqueued")), at=found.at)
    return current


def release(client: redis.Redis, found: Claim) -> None:
    """Give the key back when the first request failed before creating its job."""
    client.delete(found.key)


def wait_for_job(store: JobStore, found: Claim) -> Job:
    """The claimed job; the first request may still be writing it."""
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        job = store.get(found.job_id)
        if job is not None:
            return job
        if time.monotonic() > deadline:
            raise Conflict("the first request with this Idempotency-Key is still in progress",
                           code="idempotency_in_progress", details={"field": HEADER})
        time.sleep(0.05)
