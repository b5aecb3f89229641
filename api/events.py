"""``GET /jobs/<id>/events``: Server-Sent Events from the job's Redis stream.

Each event's ``id:`` is its stream id, so a client that reconnects with ``Last-Event-ID``
(or ``?last_event_id=``) gets exactly what it missed. The stream ends after the terminal
event; comments keep idle connections open through proxies.

A stream is a live connection: it counts against ``LIVE_MAX_PER_USER`` and
``LIVE_MAX_PER_ADDRESS`` (429 ``too_many_streams`` beyond them) while it is open.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import redis
from flask import Blueprint, Response
from flask_jwt_extended import jwt_required

from scene_weaver.jobs import JobEvent, JobStore

from .auth import current_user
from .jobs import visible_job
from .live_limits import LiveSlots
from .openapi_meta import RawContent, documented
from .requests import parse_query
from .schemas import EventsQuery
from .services import services
from .streams import BLOCK_CEILING_MS, live_stream_slots, replay_after, sse_response

__all__ = ["bp", "sse_frame"]

bp = Blueprint("events", __name__)
log = logging.getLogger(__name__)

_SSE = RawContent("text/event-stream", {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "the Redis stream id"},
        "event": {"type": "string", "description": "the event type"},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": {"$ref": "#/components/schemas/JobEventView"}},
    },
}, "one frame per event; the stream ends after the terminal event (STREAM_MAX_SECONDS at most)")


def sse_frame(event: JobEvent) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {json.dumps(event.to_dict(), separators=(',', ':'))}\n\n"


def _stream(store: JobStore, job_id: str, after: str, *, keepalive: float, max_seconds: float,
            slots: LiveSlots) -> Iterator[str]:
    try:
        yield "retry: 2000\n\n"
        yield from _frames(store, job_id, after, keepalive=keepalive, max_seconds=max_seconds, slots=slots)
    except redis.RedisError as exc:
        # Headers are gone already: end the stream cleanly; the client reconnects with Last-Event-ID.
        log.warning("event stream of job %s ended: %s", job_id, exc)
        yield ": the job store is unavailable; reconnect shortly\n\n"
    finally:
        slots.release()


def _frames(store: JobStore, job_id: str, after: str, *, keepalive: float, max_seconds: float,
            slots: LiveSlots) -> Iterator[str]:
    last, last_write, started = after, time.monotonic(), time.monotonic()
    for event in store.events(job_id, after=last):
        yield sse_frame(event)
        last = event.id
        if event.terminal:
            return
    block_ms = int(min(keepalive * 1000, BLOCK_CEILING_MS))
    while time.monotonic() - started < max_seconds:  # then the client reconnects with Last-Event-ID
        slots.renew_if_due()
        events = store.wait_events(job_id, last, block_ms)
        for event in events:
            yield sse_frame(event)
            last = event.id
            if event.terminal:
                return
        if events:
            last_write = time.monotonic()
            continue
        job = store.get(job_id)
        if job is None or job.terminal:  # replayed past the end, or the record expired
            return
        if time.monotonic() - last_write >= keepalive:
            last_write = time.monotonic()
            yield ": keep-alive\n\n"


@bp.get("/jobs/<job_id>/events")
@documented(summary="The job's events as Server-Sent Events, replayable after Last-Event-ID", tag="jobs",
            query=EventsQuery, headers=(("Last-Event-ID", "replay events after this stream id"),),
            responses={200: _SSE}, errors=(429,))
@jwt_required()
def job_events(job_id: str) -> Response:
    job = visible_job(job_id)
    after = replay_after(parse_query(EventsQuery).last_event_id)
    svc = services()
    settings = svc.settings
    slots = live_stream_slots(current_user().username)
    return sse_response(_stream(svc.jobs, job.job_id, after, keepalive=settings.stream_keepalive,
                                max_seconds=settings.stream_max_seconds, slots=slots), slots)
