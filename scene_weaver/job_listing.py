"""Paging through jobs newest first by creation time, by cursor or offset, filtered by status.

A cursor is the creation score of the last job returned, so pages stay stable while new
jobs arrive at the head. Filtering reads at most ``SCAN_BUDGET`` ids per request; when the
budget runs out the page comes back short with a cursor to go on from.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

from .errors import InvalidInput
from .jobs import Job, JobStore
from .models import JobStatus

__all__ = ["JobListPage", "list_jobs", "encode_cursor", "decode_cursor", "SCAN_BUDGET"]

SCAN_BUDGET = 2000
_CHUNK = 100


@dataclass(frozen=True)
class JobListPage:
    jobs: list[Job]
    total: int  # every job of the owner, whatever the filter
    next_cursor: str | None  # None on the last page


def encode_cursor(score: float) -> str:
    return base64.urlsafe_b64encode(repr(score).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> float:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        score = float(base64.urlsafe_b64decode(padded.encode()).decode())
        if not math.isfinite(score):  # "nan" is no score Redis accepts; "inf" none this API gives out
            raise ValueError(cursor)
        return score
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API gave out", code="invalid_cursor",
                           details={"field": "cursor"}) from None


def list_jobs(
    store: JobStore,
    owner: str | None,
    *,
    limit: int,
    status: JobStatus | None = None,
    cursor: str | None = None,
    offset: int | None = None,
) -> JobListPage:
    """One page of one owner's jobs, or of every job when owner is None.

    Start after ``cursor`` (a ``next_cursor`` given out earlier) or skip ``offset`` jobs,
    not both (``InvalidInput``); keep only jobs in ``status`` when given.
    """
    total = store.count(owner)
    if cursor is not None and offset is not None:
        raise InvalidInput("send cursor or offset, not both", code="invalid_paging", details={"field": "offset"})
    before = None if cursor is None else decode_cursor(cursor)
    skip = offset or 0
    found: list[Job] = []
    scanned = 0
    last_score: float | None = None
    while len(found) < limit and scanned < SCAN_BUDGET:
        rows = store.newest_ids(owner, before=before, skip=skip, limit=_CHUNK)
        skip = 0
        if not rows:
            return JobListPage(found, total, None)
        for job_id, score in rows:
            scanned += 1
            last_score = score
            job = store.get(job_id)
            if job is not None and (status is None or job.status == status):
                found.append(job)
                if len(found) == limit:
                    break
        before = last_score
        if len(rows) < _CHUNK and len(found) < limit:
            return JobListPage(found, total, None)
    return JobListPage(found, total, encode_cursor(last_score) if last_score is not None else None)
