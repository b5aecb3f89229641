"""Reading job event streams for SSE and the WebSocket: the position to replay after, and
how long one blocking read may wait."""

from __future__ import annotations

import re

from scene_weaver.errors import InvalidInput

__all__ = ["check_event_id", "BLOCK_CEILING_MS"]

# The API's Redis client times out reads after 5 s; a blocking read must end well before.
BLOCK_CEILING_MS = 2000
_UINT64_MAX = 2**64 - 1
_LARGEST_ID = f"{_UINT64_MAX}-{_UINT64_MAX}"
_EVENT_ID_RE = re.compile(r"^(0|\d{1,20}-\d{1,20})$")


def check_event_id(value: str | None, field: str) -> str:
    """A stream id to replay after; "0" replays everything."""
    if value is None or value == "":
        return "0"
    # The largest id has no successor: Redis refuses an exclusive range starting there.
    if (not _EVENT_ID_RE.match(value) or any(int(part) > _UINT64_MAX for part in value.split("-"))
            or value == _LARGEST_ID):
        raise InvalidInput(f"{field} must be a stream id like 1700000000000-0", code="invalid_event_id",
                           details={"field": field})
    return value
