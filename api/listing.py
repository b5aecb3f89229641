"""``GET /jobs`` paging: newest first by creation time, by cursor or offset, filtered by status.

A cursor is the creation score of the last job returned, so pages stay stable while new
jobs arrive at the head. Filtering reads at most ``SCAN_BUDGET`` ids per request; when the
budget runs out the page comes back short with a cursor to go on from.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from scene_weaver import keys
from scene_weaver.errors import InvalidInput
from scene_weaver.jobs import Job

from .schemas import JobListQuery
from .services import services

__all__ = ["list_jobs", "encode_cursor", "decode_cursor", "SCAN_BUDGET"]

SCAN_BUDGET = 2000
_CHUNK = 100


def encode_cursor(score: float) -> str:
    return base64.urlsafe_b64encode(repr(score).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> float:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return float(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API gave out", code="invalid_cursor",
                           details={"field": "cursor"}) from None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def list_jobs(owner: str | None, query: JobListQuery) -> tuple[list[Job], int, str | None]:
    """(jobs, total, next_cursor) for one owner, or every job when owner is None."""
    svc = services()
    key = keys.user_jobs(owner) if owner is not None else keys.all_jobs()
    total = int(svc.redis.zcard(key))
    if query.cursor is not None and query.offset is not None:
        raise InvalidInput("send cursor or offset, not both", code="invalid_paging", details={"field": "offset"})
    max_score: str = "+inf" if query.cursor is None else f"({decode_cursor(query.cursor)!r}"
    skip = query.offset or 0
    found: list[Job] = []
    scanned = 0
    last_score: float | None = None
    while len(found) < query.limit and scanned < SCAN_BUDGET:
        rows = svc.redis.zrevrangebyscore(key, max_score, "-inf", start=skip, num=_CHUNK, withscores=True)
        skip = 0
        if not rows:
            return found, total, None
        for raw_id, score in rows:
            scanned += 1
            last_score = float(score)
            job = svc.jobs.get(_text(raw_id))
            if job is not None and (query.status is None or job.status == query.status):
                found.append(job)
                if len(found) == query.limit:
                    break
        max_score = f"({last_score!r}"
        if len(rows) < _CHUNK and len(found) < query.limit:
            return found, total, None
    return found, total, encode_cursor(last_score) if last_score is not None else None
