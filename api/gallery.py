"""The gallery: a job's or a batch's scenes as one HTML page, in script order, filling in live.

Opened through the signed ``links.gallery`` of a job or batch record (``api/gallery_links``):
no token, so a browser can open it. The page is rendered here (Jinja2, autoescaped: a
speaker named ``<script>`` is text) with a same-origin script and stylesheet (no CDN, no
build step; the HTML policy of ``api/headers`` allows nothing else). The script follows
``…/gallery/events``, an SSE stream of the scenes' states under the same signature: every
scene that is not queued at once (a reconnect gets them again, so it needs no event id),
then each change, then ``done``. Pictures come from ``…/gallery/image`` links signed with
the page's expiry. A stream counts against the live-connection caps of the owner and of the
client address, as ``/events`` does.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import redis
from flask import Blueprint, Response, render_template, request, stream_with_context
from pydantic import BaseModel, ConfigDict, Field

from scene_weaver.errors import NotFound
from scene_weaver.job_follow import MISSING, JobFollower, JobState, read_jobs
from scene_weaver.jobs import Job, JobStore
from scene_weaver.models import JobStatus

from .gallery_links import GalleryLinks, Grant, Kind, api_url
from .jobs import image_response
from .live_limits import LiveSlots
from .openapi_meta import RawContent, documented
from .services import services
from .streams import BLOCK_CEILING_MS, live_stream_slots, sse_response

__all__ = ["bp"]

bp = Blueprint("gallery", __name__, template_folder="templates", static_folder="static",
               static_url_path="/gallery/static")
log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_BATCH_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_DESCRIBED = frozenset({JobStatus.GENERATING.value, JobStatus.SUCCEEDED.value, JobStatus.FAILED.value,
                        JobStatus.CANCELED.value})

_FINISHED = frozenset({JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELED.value, MISSING})

_LABELS = {"queued": "queued", "waiting_for_semantest": "waiting for the image service", "started": "started",
           "weaving": "weaving the prompt", "generating": "drawing", "failed": "failed", "canceled": "canceled",
           MISSING: "gone (the job expired)"}

_HTML = RawContent("text/html", {"type": "string"}, "the gallery page")
_PNG = RawContent("image/png", {"type": "string", "format": "binary"}, "the scene's picture")
_SSE = RawContent("text/event-stream", {"type": "string"},
                  "`item` frames (job_id, index, status, progress; image_url, prompt, error once known), "
                  "then `done`")


class GalleryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    exp: str | None = Field(default=None, max_length=12, description="expiry of the link (Unix time)")
    sig: str | None = Field(default=None, max_length=100, description="the link's signature")


class BatchItems(Protocol):
    """What the gallery reads of a batch (``svc.batches``, a ``BatchStore``)."""

    def get(self, batch_id: str) -> Any: ...

    def item_ids(self, batch_id: str, start: int = 0, stop: int = -1) -> list[str]: ...


def _links() -> GalleryLinks:
    return GalleryLinks.from_settings(services().settings)


def _check(kind: Kind, ident: str) -> Grant:
    return _links().check(kind, ident, request.args.get("exp"), request.args.get("sig"))


def _signed(endpoint: str, grant: Grant, **values: str) -> str:
    return api_url(endpoint, **values, **grant.query(_links()))


def _job(job_id: str) -> Job:
    job = services().jobs.get(job_id) if _JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    return job


def _field(record: Any, name: str) -> Any:
    value = record.get(name) if isinstance(record, dict) else getattr(record, name, None)
    return getattr(value, "value", value)  # an enum's value


def _batch(batch_id: str) -> tuple[Any, list[str]]:
    store: BatchItems | None = getattr(services(), "batches", None)
    record = store.get(batch_id) if store is not None and _BATCH_ID.fullmatch(batch_id) else None
    if store is None or record is None:
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found")
    return record, store.item_ids(batch_id)


def _image_grant(grant: Grant, job_id: str) -> Grant:
    """A batch page's pictures are signed one by one, good for as long as the page's link."""
    return Grant("job", job_id, grant.expires)


def _scene(index: int, job_id: str, job: Job | None, grant: Grant) -> dict[str, Any]:
    scene = job.scene if job else {}
    result = (job.result or {}) if job else {}
    options = job.options if job else {}
    return {
        "index": index,
        "job_id": job_id,
        "status": job.status.value if job else MISSING,
        "progress": job.progress if job else 0,
        "entry_id": scene.get("entry_id") or "",
        "speaker": scene.get("speaker") or "",
        "dialogue": scene.get("dialogue") or [],
        "captions": scene.get("captions") or [],
        "narration": scene.get("narration") or "",
        "prompt": (job.prompt or {}).get("text") if job else None,
        "error": job.error if job else None,
        "image_url": _signed("gallery.job_image", _image_grant(grant, job_id), job_id=job_id),
        "width": result.get("width") or options.get("width"),
        "height": result.get("height") or options.get("height"),
    }


def _page(kind: Kind, ident: str, grant: Grant, job_ids: Sequence[str], *, title: str) -> Response:
    jobs = read_jobs(services().jobs, job_ids)
    scenes = [_scene(index, job_id, job, grant) for index, (job_id, job) in enumerate(zip(job_ids, jobs, strict=True))]
    live = any(scene["status"] not in _FINISHED for scene in scenes)
    events = _signed(f"gallery.{kind}_gallery_events", grant, **{f"{kind}_id": ident})
    finished = sum(scene["status"] in _FINISHED for scene in scenes)
    html = render_template(
        "gallery.html", title=title, scenes=scenes, labels=_LABELS,
        summary=f"{finished} of {len(scenes)} finished", events_url=events if live else "",
        expires_iso=datetime.fromtimestamp(grant.expires, UTC).isoformat(timespec="seconds"),
        static=lambda name: api_url("gallery.static", filename=name))
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/jobs/<job_id>/gallery")
@documented(summary="A job's gallery page (open the signed links.gallery; no token)", tag="gallery",
            auth=False, query=GalleryQuery, responses={200: _HTML}, errors=(403,))
def job_gallery(job_id: str) -> Response:
    grant = _check("job", job_id)
    job = _job(job_id)
    title = " ".join(part for part in (job.scene.get("entry_id"), job.scene.get("speaker")) if part) or job_id
    return _page("job", job_id, grant, [job_id], title=title)


@bp.get("/batches/<batch_id>/gallery")
@documented(summary="A batch's gallery page, every scene in script order (open the signed links.gallery)",
            tag="gallery", auth=False, query=GalleryQuery, responses={200: _HTML}, errors=(403,))
def batch_gallery(batch_id: str) -> Response:
    grant = _check("batch", batch_id)
    _, job_ids = _batch(batch_id)
    return _page("batch", batch_id, grant, job_ids, title=f"batch {batch_id}")


@bp.get("/jobs/<job_id>/gallery/image")
@documented(summary="A scene's picture for a gallery page (signed like the page)", tag="gallery", auth=False,
            query=GalleryQuery, responses={200: _PNG}, errors=(403,))
def job_image(job_id: str) -> Response:
    _check("job", job_id)
    return image_response(_job(job_id))


@bp.get("/jobs/<job_id>/gallery/events")
@documented(summary="A job's gallery updates as Server-Sent Events (signed like the page)", tag="gallery",
            auth=False, query=GalleryQuery, responses={200: _SSE}, errors=(403, 429))
def job_gallery_events(job_id: str) -> Response:
    grant = _check("job", job_id)
    return _follow([job_id], _job(job_id).owner, grant)


@bp.get("/batches/<batch_id>/gallery/events")
@documented(summary="A batch's gallery updates as Server-Sent Events (signed like the page)", tag="gallery",
            auth=False, query=GalleryQuery, responses={200: _SSE}, errors=(403, 429))
def batch_gallery_events(batch_id: str) -> Response:
    grant = _check("batch", batch_id)
    record, job_ids = _batch(batch_id)
    return _follow(job_ids, str(_field(record, "owner") or ""), grant)


def _follow(job_ids: Sequence[str], owner: str, grant: Grant) -> Response:
    svc = services()
    settings = svc.settings
    slots = live_stream_slots(owner)
    describe = _describer(svc.jobs, grant)
    stream = _stream(JobFollower(svc.jobs, job_ids), describe, keepalive=settings.stream_keepalive,
                     max_seconds=settings.stream_max_seconds, slots=slots)
    # The request context stays with the stream: picture links are built with url_for as scenes finish.
    return sse_response(stream_with_context(stream), slots)


def _describer(store: JobStore, grant: Grant) -> Callable[[JobState], dict[str, Any]]:
    links = _links()

    def describe(state: JobState) -> dict[str, Any]:
        item: dict[str, Any] = {"job_id": state.job_id, "index": state.index, "status": state.status,
                                "progress": state.progress}
        job = store.get(state.job_id) if state.status in _DESCRIBED else None
        if job is not None:
            item["prompt"] = (job.prompt or {}).get("text")
            item["error"] = job.error
            if job.status == JobStatus.SUCCEEDED:
                image = _image_grant(grant, state.job_id)
                item["image_url"] = api_url("gallery.job_image", job_id=state.job_id, **image.query(links))
        return item

    return describe


def _frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream(follower: JobFollower, describe: Callable[[JobState], dict[str, Any]], *, keepalive: float,
            max_seconds: float, slots: LiveSlots) -> Iterator[str]:
    try:
        yield "retry: 3000\n\n"
        yield from _frames(follower, describe, keepalive=keepalive, max_seconds=max_seconds, slots=slots)
    except redis.RedisError as exc:
        # Headers are gone already: end the stream; the page's EventSource reconnects by itself.
        log.warning("gallery stream ended: %s", exc)
        yield ": the job store is unavailable; reconnect shortly\n\n"
    finally:
        slots.release()


def _frames(follower: JobFollower, describe: Callable[[JobState], dict[str, Any]], *, keepalive: float,
            max_seconds: float, slots: LiveSlots) -> Iterator[str]:
    started = last_write = time.monotonic()
    for state in follower.snapshot():
        if state.status != JobStatus.QUEUED.value:  # the page was drawn with every scene queued or later
            yield _frame("item", describe(state))
    block_ms = int(min(keepalive * 1000, BLOCK_CEILING_MS))
    while not follower.finished:
        if time.monotonic() - started >= max_seconds:
            return  # the page's EventSource reconnects and gets the scenes' states again
        slots.renew_if_due()
        changes = follower.changes(block_ms)
        for state in changes:
            yield _frame("item", describe(state))
        if changes:
            last_write = time.monotonic()
        elif time.monotonic() - last_write >= keepalive:
            last_write = time.monotonic()
            yield ": keep-alive\n\n"
    counts: dict[str, int] = {}
    for state in follower.states():
        counts[state.status] = counts.get(state.status, 0) + 1
    yield _frame("done", {"counts": counts})
