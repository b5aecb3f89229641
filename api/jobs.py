"""Submitting scenes and reading jobs: validate, write the record, enqueue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_jwt_extended import jwt_required

from scene_weaver.errors import NotFound
from scene_weaver.images import ImageStore
from scene_weaver.jobs import Job
from scene_weaver.models import JobStatus
from workers.dispatch import enqueue_job

from .auth import current_user
from .requests import parse_body
from .schemas import ProcessRequest
from .services import services

__all__ = ["bp", "job_view", "visible_job"]

bp = Blueprint("jobs", __name__)


def _url(endpoint: str, **values: Any) -> str:
    # Links point at the blueprint registration the caller used (/v1 or bare).
    blueprint = request.blueprints[0] if request.blueprints else "jobs"
    return url_for(f"{blueprint}.{endpoint}", **values)


def job_view(job: Job) -> dict[str, Any]:
    result = None
    if job.result:
        result = {
            "image_url": _url("job_image", job_id=job.job_id),
            "mime_type": job.result.get("mime_type"),
            "width": job.result.get("width"),
            "height": job.result.get("height"),
            "sha256": job.result.get("sha256"),
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
        "links": {"self": _url("get_job", job_id=job.job_id), "image": _url("job_image", job_id=job.job_id)},
    }


def visible_job(job_id: str) -> Job:
    """The job if the caller may see it; another user's job is a 404, never a 403."""
    user = current_user()
    job = services().jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None or (job.owner != user.username and not user.is_admin):
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    return job


@bp.post("/process")
@jwt_required()
def process() -> tuple[Response, int]:
    body = parse_body(ProcessRequest)
    body.check_drawable()
    svc = services()
    job = svc.jobs.create(current_user().username, body.scene(), priority=body.priority,
                          options=body.job_options())
    enqueue_job(svc.celery, job.job_id, body.priority)
    view = job_view(job)
    return jsonify({"job_id": job.job_id, "status": job.status.value, "priority": job.priority.value,
                    "created_at": job.created_at, "links": view["links"]}), 202


@bp.get("/jobs/<job_id>")
@jwt_required()
def get_job(job_id: str) -> Response:
    return jsonify(job_view(visible_job(job_id)))


@bp.get("/jobs/<job_id>/image")
@jwt_required()
def job_image(job_id: str) -> Response:
    job = visible_job(job_id)
    if job.status != JobStatus.SUCCEEDED or not job.result:
        raise NotFound(f"job {job_id} has no image yet (status {job.status.value})", code="image_not_ready",
                       details={"status": job.status.value})
    mime = str(job.result["mime_type"])
    data = ImageStore(services().settings.image_store_dir).get(str(job.result["sha256"]), mime)
    if data is None:
        raise NotFound(f"the image of job {job_id} is missing from the image store", code="image_missing")
    response = Response(data, mimetype=mime)
    response.headers["ETag"] = f'"{job.result["sha256"]}"'
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
