"""Reading job event streams for SSE and the WebSocket: replay, then block for new ones."""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from scene_weaver import keys
from scene_weaver.errors import InvalidInput
from scene_weaver.jobs import JobEvent
from scene_weaver.models import TERMINAL_STATUSES

__all__ = ["is_terminal", "check_event_id", "read_many", "BLOCK_CEILING_MS"]

# The API's Redis client times out reads after 5 s; a blocking read must end well before.
BLOCK_CEILING_MS = 2000
_UINT64_MAX = 2**64 - 1
_EVENT_ID_RE = re.compile(r"^(0|\d{1,20}-\d{1,20})$")
_TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)


def is_terminal(event: JobEvent) -> bool:
    return event.status in _TERMINAL


def check_event_id(value: str | None, field: str) -> str:
    """A stream id to replay after; "0" replays everything."""
    if value is None or value == "":
        return "0"
    if not _EVENT_ID_RE.match(value) or any(int(part) > _UINT64_MAX for part in value.split("-")):
        raise InvalidInput(f"{field} must be a stream id like 1700000000000-0", code="invalid_event_id",
                           details={"field": field})
    return value


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_many(client: redis.Redis, positions: dict[str, str], block_ms: int) -> list[tuple[str, JobEvent]]:
    """New events of several jobs after their positions, blocking up to ``block_ms``."""
    if not positions:
        return []
    streams = {keys.job_events(job_id): after for job_id, after in positions.items()}
    by_key = {keys.job_events(job_id): job_id for job_id in positions}
    rows: Any = client.xread(streams, block=min(block_ms, BLOCK_CEILING_MS), count=200)  # type: ignore[arg-type]
    out: list[tuple[str, JobEvent]] = []
    for stream, entries in rows or []:
        job_id = by_key[_s(stream)]
        for entry_id, fields in entries:
            f = {_s(k): _s(v) for k, v in fields.items()}
            out.append((job_id, JobEvent(id=_s(entry_id), type=f.get("type", ""), status=f.get("status", ""),
                                         progress=int(f.get("progress") or 0),
                                         data=json.loads(f.get("data") or "{}"))))
    return out
