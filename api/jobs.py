"""``/process`` and ``/jobs``: submitting scenes (see ``submission``), reading, listing and canceling jobs."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_jwt_extended import jwt_required

from scene_weaver.errors import Conflict, NotFound
from scene_weaver.images import ImageStore
from scene_weaver.job_listing import list_jobs
from scene_weaver.jobs import Job
from scene_weaver.models import JobStatus
from scene_weaver.runtime_config import effective_config
from scene_weaver.users import User
from scene_weaver.weaving import weave_scene

from . import idempotency
from .auth import current_user, jwt_required_once
from .caching import DRY_RUN_TTL, cached_json, content_key
from .gallery_links import gallery_link
from .limits import rate_limited
from .openapi_meta import RawContent, documented
from .requests import json_body, parse_query
from .responses import DryRunResponse, JobAccepted, JobPage, JobView
from .schemas import JobListQuery, ProcessQuery, ProcessRequest
from .services import services
from .submission import submit_scene, validate_scene_request

__all__ = ["bp", "job_view", "accepted_view", "job_visible_to", "visible_job", "image_response"]

bp = Blueprint("jobs", __name__)

# What JobStore.new_id makes (uuid4 hex). Checked before any Redis call: "<id>:events" would
# otherwise read another key type (WRONGTYPE) and look like a Redis failure.
_JOB_ID = re.compile(r"[0-9a-f]{32}")

_IMAGE = RawContent("image/png", {"type": "string", "format": "binary"}, "the generated image")


def _url(endpoint: str, **values: Any) -> str:
    # Links point at the blueprint registration the caller used (/v1 or bare).
    prefix = "_bare" if request.blueprints and request.blueprints[0].endswith("_bare") else ""
    blueprint, view = endpoint.split(".", 1)
    return url_for(f"{blueprint}{prefix}.{view}", **values)


def job_links(job_id: str) -> dict[str, str]:
    return {"self": _url("jobs.get_job", job_id=job_id), "image": _url("jobs.job_image", job_id=job_id),
            "events": _url("events.job_events", job_id=job_id), "gallery": gallery_link("job", job_id)}


def job_view(job: Job) -> dict[str, Any]:
    result = None
    if job.result:
        result = {
            "image_url": _url("jobs.job_image", job_id=job.job_id),
            "mime_type": job.result.get("mime_type"),
            "width": job.result.get("width"),
            "height": job.result.get("height"),
            "sha256": job.result.get("sha256"),
            "deduplicated": bool(job.result.get("deduplicated", False)),
        }
    prompt = None
    if job.prompt:
        prompt = {"text": job.prompt.get("text"), "negative": job.prompt.get("negative"),
                  "style": job.prompt.get("style")}
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "progress": job.progress,
        "priority": job.priority.value,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "attempts": job.attempts,
        "retries": job.retries,
        "scene": job.scene,
        "prompt": prompt,
        "result": result,
        "error": job.error,
        "links": job_links(job.job_id),
        "batch_id": job.batch_id,
        "index": job.index,
    }


def accepted_view(job: Job) -> dict[str, Any]:
    return {"job_id": job.job_id, "status": job.status.value, "priority": job.priority.value,
            "created_at": job.created_at, "links": job_links(job.job_id)}


def job_visible_to(user: User, job_id: Any) -> Job:
    """The job if ``user`` may see it; another user's job is a 404, never a 403."""
    valid = isinstance(job_id, str) and _JOB_ID.fullmatch(job_id) is not None
    job = services().jobs.get(job_id) if valid else None
    if job is None or (job.owner != user.username and not user.is_admin):
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    return job


def visible_job(job_id: str) -> Job:
    """The job if the current caller may see it."""
    return job_visible_to(current_user(), job_id)


def _dry_run(raw: dict[str, Any]) -> Response:
    body = validate_scene_request(raw)
    svc = services()
    config = effective_config(svc.redis, svc.settings)
    scene = body.scene()

    def weave() -> dict[str, Any]:
        woven = weave_scene(scene, style=config.default_style, max_length=config.prompt_max_length)
        return {"prompt": woven.text, "negative": woven.negative, "style": woven.style,
                "content_hash": woven.content_hash, "analysis": woven.analysis}

    # Per user: a shared entry's X-Cache: HIT would tell one user what another wove.
    name = content_key("dryrun", [current_user().username, scene.model_dump(mode="json"), config.default_style,
                                  config.prompt_max_length])
    return cached_json(name, DRY_RUN_TTL, weave)


@bp.post("/process")
@documented(summary="Submit one scene as a job (or weave it now with ?dry_run=true)", tag="jobs",
            body=ProcessRequest, query=ProcessQuery,
            headers=(("Idempotency-Key", "repeat a submission safely: same key and body give the same job"),),
            responses={202: JobAccepted, 200: (JobAccepted, DryRunResponse)},
            errors=(403, 409), rate_limit="process",
            description="200 answers a dry run, or a repeated Idempotency-Key with the job it made.")
@rate_limited("process")
@jwt_required_once
def process() -> tuple[Response, int] | Response:
    raw = json_body()
    if parse_query(ProcessQuery).dry_run:
        return _dry_run(raw)
    submission = submit_scene(services(), current_user(), raw,
                              idempotency_key=request.headers.get(idempotency.HEADER))
    response = jsonify(accepted_view(submission.job))
    if not submission.created:
        response.headers["Idempotent-Replayed"] = "true"
        return response, 200
    response.headers["Location"] = job_links(submission.job.job_id)["self"]
    return response, 202


@bp.get("/jobs")
@documented(summary="The caller's jobs, newest first (admins: every job)", tag="jobs", query=JobListQuery,
            responses={200: JobPage})
@jwt_required()
def get_jobs() -> Response:
    query = parse_query(JobListQuery)
    user = current_user()
    page = list_jobs(services().jobs, None if user.is_admin else user.username, limit=query.limit,
                     status=query.status, cursor=query.cursor, offset=query.offset)
    return jsonify({"jobs": [job_view(job) for job in page.jobs], "total": page.total, "limit": query.limit,
                    "next_cursor": page.next_cursor})


@bp.get("/jobs/<job_id>")
@documented(summary="One job", tag="jobs", responses={200: JobView})
@jwt_required()
def get_job(job_id: str) -> Response:
    return jsonify(job_view(visible_job(job_id)))


@bp.post("/jobs/<job_id>/cancel")
@documented(summary="Cancel a job (at once when queued, at the next step when running)", tag="jobs",
            responses={200: JobView}, errors=(409,))
@jwt_required()
def cancel_job(job_id: str) -> Response:
    job = visible_job(job_id)
    if job.terminal and job.status != JobStatus.CANCELED:
        raise Conflict(f"job {job_id} already {job.status.value}", code="job_finished",
                       details={"status": job.status.value})
    return jsonify(job_view(services().jobs.request_cancel(job_id)))


@bp.get("/jobs/<job_id>/image")
@documented(summary="The job's image once it succeeded", tag="jobs", responses={200: _IMAGE})
@jwt_required()
def job_image(job_id: str) -> Response:
    return image_response(visible_job(job_id))


def image_response(job: Job) -> Response:
    """The job's picture (404 ``image_not_ready`` until it succeeded), cached by the browser for good."""
    if job.status != JobStatus.SUCCEEDED or not job.result:
        raise NotFound(f"job {job.job_id} has no image yet (status {job.status.value})", code="image_not_ready",
                       details={"status": job.status.value})
    mime = str(job.result["mime_type"])
    data = ImageStore(services().settings.image_store_dir).get(str(job.result["sha256"]), mime)
    if data is None:
        raise NotFound(f"the image of job {job.job_id} is missing from the image store", code="image_missing")
    response = Response(data, mimetype=mime)
    response.headers["ETag"] = f'"{job.result["sha256"]}"'
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
