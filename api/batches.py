"""``/batch`` and ``/batches``: a whole script as one batch of jobs.

``POST /batch`` validates everything first (body size ``MAX_BATCH_BYTES``, the script or
the entries, ``MAX_BATCH_ENTRIES``), plans the whole script in order (continuity, visual
groups, seeds), then writes the batch and all its item jobs in one Redis transaction —
a refused request leaves nothing behind — and asks admission to fill the window. The API
keeps nothing of the batch once it has answered.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request
from flask_jwt_extended import jwt_required
from pydantic import ValidationError

from scene_weaver import keys, metrics
from scene_weaver.batch_counts import bucket_of
from scene_weaver.batches import Batch, BatchEvent, BatchItem, BatchStore
from scene_weaver.errors import Conflict, InvalidInput, NotFound
from scene_weaver.job_listing import decode_cursor, encode_cursor
from scene_weaver.jobs import Job
from scene_weaver.models import JobStatus, Priority, Scene
from scene_weaver.script import parse_script
from scene_weaver.users import User
from scene_weaver.weaving.continuity import plan_script
from scene_weaver.webhooks import check_url
from workers.dispatch import admit, batch_ended

from . import idempotency
from .auth import Forbidden, current_user, jwt_required_once
from .errors import validation_details
from .gallery_links import gallery_link
from .jobs import _url, job_view
from .limits import rate_limited
from .openapi_meta import RawContent, documented
from .requests import json_body, parse_query
from .responses import BatchAccepted, BatchItemsPage, BatchPage, BatchView
from .schemas import BatchEntry, BatchItemsQuery, BatchListQuery, BatchRequest, EventsQuery
from .services import Services, services
from .streams import BLOCK_CEILING_MS, live_stream_slots, replay_after, sse_response

__all__ = ["bp", "batch_view", "batch_visible_to", "submit_batch", "cancel_batch"]

bp = Blueprint("batches", __name__)

_BATCH_ID = re.compile(r"[0-9a-f]{32}")
_READ_CHUNK = 500
_ITEMS_SCAN_BUDGET = 2000
_CANCEL_WAIT_SECONDS = 30.0
_IDEMPOTENCY_WAIT_SECONDS = 5.0

_JSONL = RawContent("application/x-ndjson", {"type": "object", "properties": {
    "index": {"type": "integer"}, "entry_id": {"type": ["string", "null"]}, "job_id": {"type": "string"},
    "status": {"type": "string"}, "image_url": {"type": ["string", "null"]},
    "error": {"type": ["object", "null"]}}}, "one JSON object per line, one line per entry in script order")
_SSE = RawContent("text/event-stream", {"type": "object", "properties": {
    "id": {"type": "string"}, "event": {"type": "string", "enum": ["item", "counts", "completed"]},
    "data": {"type": "string", "contentMediaType": "application/json"}}},
    "item, counts and completed events; the stream ends after completed")


def batch_links(batch_id: str) -> dict[str, str]:
    return {"self": _url("batches.get_batch", batch_id=batch_id),
            "items": _url("batches.batch_items", batch_id=batch_id),
            "results": _url("batches.batch_results", batch_id=batch_id),
            "events": _url("batches.batch_events", batch_id=batch_id),
            "gallery": gallery_link("batch", batch_id)}


def batch_view(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "status": batch.status.value,
        "owner": batch.owner,
        "created_at": batch.created_at,
        "completed_at": batch.completed_at,
        "priority": batch.priority.value,
        "style": batch.style,
        "format": batch.format,
        "warnings": batch.warnings,
        "request_counts": batch.request_counts,
        "links": batch_links(batch.batch_id),
    }


def accepted_view(batch: Batch) -> dict[str, Any]:
    return {"batch_id": batch.batch_id, "status": batch.status.value, "request_counts": batch.request_counts,
            "links": batch_links(batch.batch_id)}


def batch_visible_to(user: User, batch_id: Any) -> Batch:
    """The batch if ``user`` may see it; another user's batch is a 404."""
    valid = isinstance(batch_id, str) and _BATCH_ID.fullmatch(batch_id) is not None
    batch = services().batches.get(batch_id) if valid else None
    if batch is None or (batch.owner != user.username and not user.is_admin):
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found")
    return batch


# --- submission ---------------------------------------------------------------------------


def _scenes_of(body: BatchRequest, max_entries: int) -> tuple[list[Scene], str, list[dict[str, Any]]]:
    """The batch's scenes in order, the script's format and its warnings; refused when there is nothing to draw."""
    if (body.script is None) == (body.entries is None):
        raise InvalidInput("send a script or a list of entries (one of them)", details={"field": "script"})
    if body.entries is not None:
        if not body.entries:
            raise InvalidInput("the batch has no entries", code="no_entries", details={"field": "entries"})
        _check_count(len(body.entries), max_entries, "entries")
        scenes = [_entry_scene(index, raw, body.style) for index, raw in enumerate(body.entries)]
        return scenes, "entries", []
    if not body.script or not body.script.strip():
        raise InvalidInput("the script is empty", code="script_empty", details={"field": "script"})
    result = parse_script(body.script, format=body.format, strict=body.strict)
    if not result.entries:
        raise InvalidInput("no entries found in the script", code="no_entries",
                           details={"field": "script", "warnings": [w.to_dict() for w in result.warnings]})
    _check_count(len(result.entries), max_entries, "script")
    warnings = [{"line": w.line, "code": w.code, "message": w.message} for w in result.warnings]
    return [entry.to_scene(style=body.style) for entry in result.entries], result.format, warnings


def _check_count(count: int, max_entries: int, field: str) -> None:
    if count > max_entries:
        raise InvalidInput(f"the batch has {count} entries; at most {max_entries} (MAX_BATCH_ENTRIES)",
                           code="too_many_entries", details={"field": field, "count": count, "max": max_entries})


def _entry_scene(index: int, raw: Any, style: str | None) -> Scene:
    where = f"entries[{index}]"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be a scene object", details={"field": where})
    try:
        entry = BatchEntry.model_validate(raw)
        entry.check_drawable()
    except ValidationError as exc:
        details = validation_details(exc)
        errors = [{**error, "field": f"{where}.{error['field']}"} for error in details["errors"]]
        raise InvalidInput(f"invalid value for {errors[0]['field']}",
                           details={"field": errors[0]["field"], "errors": errors}) from None
    except InvalidInput as exc:
        field = f"{where}.{(exc.details or {}).get('field', '')}".rstrip(".")
        raise InvalidInput(f"{where}: {exc.message}", details={"field": field}) from None
    scene = Scene.model_validate(entry.model_dump(include=set(Scene.model_fields)))
    if style and not scene.style:
        scene = scene.model_copy(update={"style": style})
    return scene


def submit_batch(svc: Services, user: User, raw: dict[str, Any], *,
                 idempotency_key: str | None = None) -> tuple[Batch, bool]:
    """Make a batch of ``raw`` for ``user``: (batch, created). Nothing is written when it is refused."""
    body = BatchRequest.model_validate(raw)
    if body.priority == Priority.HIGH and not svc.settings.may_submit_high_priority(user.username, user.role):
        raise Forbidden("you may not submit high-priority batches (HIGH_PRIORITY_ALLOWED)",
                        code="priority_not_allowed", details={"field": "priority"})
    if body.webhook_events and not body.webhook_url:
        raise InvalidInput("webhook_events needs a webhook_url", details={"field": "webhook_url"})
    if body.webhook_url:
        check_url(body.webhook_url, svc.settings)
    scenes, script_format, warnings = _scenes_of(body, svc.settings.max_batch_entries)
    planned = plan_script(scenes, style=body.style)
    items = [BatchItem(scene=plan.scene, group=plan.group, seed=plan.seed) for plan in planned]
    batch_id = svc.batches.new_id()
    claim = None
    if idempotency_key is not None:
        claim = idempotency.claim(svc.redis, user.username, idempotency_key,
                                  idempotency.fingerprint({"batch": raw}), batch_id)
        if not claim.fresh:
            return _claimed_batch(svc.batches, claim.job_id), False
    try:
        batch = svc.batches.create(user.username, items, batch_id=batch_id, priority=body.priority,
                                   style=body.style, format=script_format, warnings=warnings,
                                   webhook_url=body.webhook_url,
                                   webhook_events=body.webhook_events or (["completed"] if body.webhook_url else []),
                                   force=body.force)
    except Exception:
        if claim is not None:
            idempotency.release(svc.redis, claim)
        raise
    metrics.batch_reached(batch.status.value)
    # Accepted is accepted: if this first fill fails, the workers' sweep admits the items.
    with contextlib.suppress(Exception):
        admit(svc.celery, svc.admission)
    return batch, True


def _claimed_batch(batches: BatchStore, batch_id: str) -> Batch:
    deadline = time.monotonic() + _IDEMPOTENCY_WAIT_SECONDS
    while True:
        batch = batches.get(batch_id)
        if batch is not None:
            return batch
        if time.monotonic() > deadline:
            raise Conflict("the first request with this Idempotency-Key is still in progress",
                           code="idempotency_in_progress", details={"field": idempotency.HEADER})
        time.sleep(0.05)


@bp.post("/batch")
@documented(summary="Submit a whole script (or a list of scenes) as one batch", tag="batches", body=BatchRequest,
            headers=(("Idempotency-Key", "repeat a submission safely: same key and body give the same batch"),),
            responses={202: BatchAccepted, 200: BatchAccepted}, errors=(403, 409, 413), rate_limit="batch",
            description="Body limit MAX_BATCH_BYTES; at most MAX_BATCH_ENTRIES entries. Strict mode with parse "
                        "warnings is a 422 `script_invalid` listing each with its line.")
@rate_limited("batch")
@jwt_required_once
def create_batch() -> tuple[Response, int] | Response:
    request.max_content_length = services().settings.max_batch_bytes
    raw = json_body()
    batch, created = submit_batch(services(), current_user(), raw,
                                  idempotency_key=request.headers.get(idempotency.HEADER))
    response = jsonify(accepted_view(batch))
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
        return response, 200
    response.headers["Location"] = batch_links(batch.batch_id)["self"]
    return response, 202


# --- reading ------------------------------------------------------------------------------


@bp.get("/batches")
@documented(summary="The caller's batches, newest first (admins: every batch)", tag="batches",
            query=BatchListQuery, responses={200: BatchPage})
@jwt_required()
def list_batches() -> Response:
    query = parse_query(BatchListQuery)
    user = current_user()
    owner = None if user.is_admin else user.username
    store = services().batches
    before = decode_cursor(query.cursor) if query.cursor else None
    rows = store.newest_ids(owner, before=before, limit=query.limit)
    found = [batch for batch in (store.get(batch_id) for batch_id, _ in rows) if batch is not None]
    next_cursor = encode_cursor(rows[-1][1]) if len(rows) == query.limit else None
    return jsonify({"batches": [batch_view(batch) for batch in found], "total": store.count(owner),
                    "limit": query.limit, "next_cursor": next_cursor})


@bp.get("/batches/<batch_id>")
@documented(summary="One batch: status, counts, warnings", tag="batches", responses={200: BatchView})
@jwt_required()
def get_batch(batch_id: str) -> Response:
    return jsonify(batch_view(batch_visible_to(current_user(), batch_id)))


@bp.get("/batches/<batch_id>/items")
@documented(summary="The batch's items (jobs) in script order", tag="batches", query=BatchItemsQuery,
            responses={200: BatchItemsPage})
@jwt_required()
def batch_items(batch_id: str) -> Response:
    batch = batch_visible_to(current_user(), batch_id)
    query = parse_query(BatchItemsQuery)
    store, jobs = services().batches, services().jobs
    start = int(query.cursor or 0)
    total = batch.request_counts["total"]
    found: list[dict[str, Any]] = []
    position = start
    while position < total and len(found) < query.limit and position - start < _ITEMS_SCAN_BUDGET:
        chunk = store.item_ids(batch_id, position, position + _READ_CHUNK - 1)
        if not chunk:
            break
        for offset, job_id in enumerate(chunk):
            job = jobs.get(job_id)
            position_of = position + offset
            if job is not None and (query.status is None or job.status == query.status):
                found.append(_item_view(job))
                if len(found) == query.limit:
                    position = position_of + 1
                    break
        else:
            position += len(chunk)
    next_cursor = str(position) if position < total else None
    return jsonify({"items": found, "next_cursor": next_cursor})


def _item_view(job: Job) -> dict[str, Any]:
    return {**job_view(job), "batch_id": job.batch_id, "index": job.index, "group": job.options.get("group")}


@bp.get("/batches/<batch_id>/results")
@documented(summary="One JSON line per entry, in script order: status and image link or error", tag="batches",
            responses={200: _JSONL})
@jwt_required()
def batch_results(batch_id: str) -> Response:
    batch = batch_visible_to(current_user(), batch_id)
    store = services().batches
    image_url = _url("jobs.job_image", job_id="JOBID")
    total = batch.request_counts["total"]

    def lines() -> Iterator[str]:
        for start in range(0, total, _READ_CHUNK):
            for index, job_id, (status, scene, error) in store.items(batch_id, start, _READ_CHUNK,
                                                                      ("status", "scene", "error")):
                entry_id = json.loads(scene).get("entry_id") if scene else None
                yield json.dumps({
                    "index": index, "entry_id": entry_id, "job_id": job_id, "status": status,
                    "image_url": image_url.replace("JOBID", job_id) if status == JobStatus.SUCCEEDED.value else None,
                    "error": json.loads(error) if error else None,
                }, separators=(",", ":")) + "\n"

    response = Response(lines(), mimetype="application/x-ndjson")
    response.headers["Cache-Control"] = "no-store"
    return response


# --- cancel -------------------------------------------------------------------------------


def cancel_batch(svc: Services, batch: Batch, *, wait_seconds: float = _CANCEL_WAIT_SECONDS) -> Batch:
    """Cancel a batch: nothing more is admitted, queued items end at once, running ones are
    interrupted (their Semantest request canceled); finished items keep their results.

    Returns once every item has ended (at most ``wait_seconds``), so nothing is drawn for the
    batch after it returns.
    """
    batch_id = batch.batch_id
    svc.batches.begin_cancel(batch_id)
    ending: list[str] = []
    total = batch.request_counts["total"]
    for start in range(0, total, _READ_CHUNK):
        for _, job_id, (status,) in svc.batches.items(batch_id, start, _READ_CHUNK, ("status",)):
            if status is None or bucket_of(status) not in ("queued", "running"):
                continue
            with contextlib.suppress(NotFound):
                svc.jobs.request_cancel(job_id)
                ending.append(job_id)
    # Done when every item is over and no runner still holds one (its run lock goes when the
    # run has ended, after any Semantest request of it was canceled).
    deadline = time.monotonic() + wait_seconds
    while ending and time.monotonic() < deadline:
        pipe = svc.redis.pipeline(transaction=False)
        for job_id in ending:
            pipe.hget(keys.job(job_id), "status")
            pipe.exists(keys.job_lock(job_id))
        answers = pipe.execute()
        ending = [job_id for job_id, status, locked in zip(ending, answers[::2], answers[1::2], strict=True)
                  if locked or (status is not None and bucket_of(_text(status)) in ("queued", "running"))]
        if ending:
            time.sleep(0.05)
    batch_ended(svc.celery, svc.batches, batch_id)
    found = svc.batches.get(batch_id)
    assert found is not None
    return found


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@bp.post("/batches/<batch_id>/cancel")
@documented(summary="Cancel a batch: queued items at once, running ones interrupted, results kept",
            tag="batches", responses={200: BatchView}, errors=(409,))
@jwt_required()
def cancel(batch_id: str) -> Response:
    batch = batch_visible_to(current_user(), batch_id)
    if batch.terminal and batch.status.value != "canceled":
        raise Conflict(f"batch {batch_id} already {batch.status.value}", code="batch_finished",
                       details={"status": batch.status.value})
    if not batch.terminal:
        batch = cancel_batch(services(), batch)
    return jsonify(batch_view(batch))


# --- events -------------------------------------------------------------------------------


def event_payload(store: BatchStore, batch_id: str, event: BatchEvent) -> dict[str, Any]:
    """What a client is sent for a batch event: ``completed`` carries the whole batch record."""
    if event.type == "completed":
        batch = store.get(batch_id)
        if batch is not None:
            return batch_view(batch)
    return event.data


def _sse(event_id: str, kind: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@bp.get("/batches/<batch_id>/events")
@documented(summary="The batch's events as Server-Sent Events, replayable after Last-Event-ID", tag="batches",
            query=EventsQuery, headers=(("Last-Event-ID", "replay events after this stream id"),),
            responses={200: _SSE}, errors=(429,))
@jwt_required()
def batch_events(batch_id: str) -> Response:
    batch = batch_visible_to(current_user(), batch_id)
    after = replay_after(parse_query(EventsQuery).last_event_id)
    svc = services()
    settings = svc.settings
    slots = live_stream_slots(current_user().username)
    # Built here, in the request: the stream runs after the view has returned.
    completed_view = batch_view(batch)
    links = completed_view["links"]

    def frames() -> Iterator[str]:
        store = svc.batches
        last, started, last_write = after, time.monotonic(), time.monotonic()
        block_ms = int(min(settings.stream_keepalive * 1000, BLOCK_CEILING_MS))
        try:
            yield "retry: 2000\n\n"
            while time.monotonic() - started < settings.stream_max_seconds:
                slots.renew_if_due()
                events = [event for _, event in store.wait_events_of({batch_id: last}, block_ms, count=500)]
                for event in events:
                    data = event.data
                    if event.type == "completed":
                        found = store.get(batch_id)
                        data = {**completed_view, **(batch_view_data(found) if found else {}), "links": links}
                    yield _sse(event.id, event.type, data)
                    last = event.id
                    if event.terminal:
                        return
                if events:
                    last_write = time.monotonic()
                elif time.monotonic() - last_write >= settings.stream_keepalive:
                    last_write = time.monotonic()
                    yield ": keep-alive\n\n"
        except redis.RedisError:
            yield ": the job store is unavailable; reconnect shortly\n\n"
        finally:
            slots.release()

    return sse_response(frames(), slots)


def batch_view_data(batch: Batch) -> dict[str, Any]:
    """The batch record without its links (which need a request to build)."""
    return {"batch_id": batch.batch_id, "status": batch.status.value, "owner": batch.owner,
            "created_at": batch.created_at, "completed_at": batch.completed_at, "priority": batch.priority.value,
            "style": batch.style, "format": batch.format, "warnings": batch.warnings,
            "request_counts": batch.request_counts}

