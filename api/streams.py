"""Reading event streams for SSE and the WebSocket: the position to replay after, how long one
blocking read may wait, the live-connection leases a stream holds and the SSE response."""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Response, request

from scene_weaver.errors import InvalidInput

from .limits import client_address
from .live_limits import LiveSlots
from .services import services

__all__ = ["check_event_id", "replay_after", "live_stream_slots", "sse_response", "BLOCK_CEILING_MS"]

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


def replay_after(last_event_id: str | None) -> str:
    """Where an SSE stream resumes: the ``Last-Event-ID`` header, else the ``last_event_id`` query value."""
    header = request.headers.get("Last-Event-ID")
    return check_event_id(header, "Last-Event-ID") if header else check_event_id(last_event_id, "last_event_id")


def live_stream_slots(owner: str) -> LiveSlots:
    """The leases a live stream holds: one of ``owner``'s and one of the client address's
    (``LIVE_MAX_PER_USER``, ``LIVE_MAX_PER_ADDRESS``); a 429 ``too_many_streams`` past either."""
    svc = services()
    slots = LiveSlots(svc.redis)
    slots.acquire({f"user:{owner}": ("user", svc.settings.live_max_per_user),
                   client_address(): ("address", svc.settings.live_max_per_address)})
    return slots


def sse_response(frames: Iterable[str], slots: LiveSlots) -> Response:
    """A Server-Sent Events response of ``frames`` that gives back ``slots`` when it closes."""
    response = Response(frames, mimetype="text/event-stream")
    response.call_on_close(slots.release)  # also when the stream never started
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
