"""Response models: they document what each route answers in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from scene_weaver.models import JobStatus, Priority

__all__ = [
    "ErrorBody", "ErrorResponse", "TokenPair", "AccessToken", "LogoutResponse", "JobLinks",
    "JobAccepted", "JobView", "JobPage", "DryRunResponse", "ParseResponse", "StatsResponse",
    "HealthResponse", "LivenessResponse", "WorkerProcess", "CacheCleared", "JobEventView",
]


class ErrorBody(BaseModel):
    code: str = Field(description="stable, machine-readable error code")
    message: str
    details: Any = Field(default=None, description="the field at fault, every problem found, limits...")


class ErrorResponse(BaseModel):
    """The one error model every route answers with."""

    error: ErrorBody


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class AccessToken(BaseModel):
    access_token: str
    token_type: str
    expires_in: int


class LogoutResponse(BaseModel):
    revoked: str


class JobLinks(BaseModel):
    self: str
    image: str
    events: str
    gallery: str = Field(description="the job's gallery page, signed: opens without a token until it expires "
                                     "(GALLERY_LINK_EXPIRES)")


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    priority: Priority
    created_at: str
    links: JobLinks


class JobPrompt(BaseModel):
    text: str | None = None
    negative: str | None = None
    style: str | None = None


class JobResult(BaseModel):
    image_url: str
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    deduplicated: bool = Field(default=False, description="the picture an identical generation drew, reused "
                                                          "without a Semantest call")


class JobView(BaseModel):
    job_id: str
    status: JobStatus
    progress: int
    priority: Priority
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int
    retries: list[dict[str, Any]]
    scene: dict[str, Any]
    prompt: JobPrompt | None
    result: JobResult | None
    error: dict[str, Any] | None
    links: JobLinks
    batch_id: str | None = Field(default=None, description="the batch this job is an item of")
    index: int | None = Field(default=None, description="the item's place in its batch's script (0-based)")


class JobPage(BaseModel):
    jobs: list[JobView]
    total: int = Field(description="jobs of the caller (every job for admins), before the status filter")
    limit: int
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class DryRunResponse(BaseModel):
    prompt: str
    negative: str
    style: str
    content_hash: str
    analysis: dict[str, Any]


class ParseResponse(BaseModel):
    format: str
    entries: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    stats: dict[str, Any]


class PromptCacheStats(BaseModel):
    hits: int
    misses: int
    hit_rate: float | None


class ResultCacheStats(BaseModel):
    hits: int = Field(description="jobs served with a picture an identical generation drew (no Semantest call)")
    misses: int = Field(description="jobs that drew their picture")
    hit_rate: float | None


class WorkerProcess(BaseModel):
    """One live worker process, from its heartbeat."""

    runner_id: str = Field(description="the name its run locks carry: host, pid and a per-process nonce")
    node: str = Field(description="the Celery node name")
    queues: list[str]
    concurrency: int = Field(description="jobs it runs at once (pool threads)")
    in_flight: int = Field(description="jobs it is running now")
    sessions_connected: int = Field(description="Semantest sessions it holds open")
    state: str = Field(description="`running`, or `stopping` while it finishes its jobs before exiting")
    started_at: str
    beat_at: str = Field(description="its last heartbeat (its own clock)")


class StatsResponse(BaseModel):
    queues: dict[str, int]
    jobs: dict[str, int]
    jobs_counted: int
    prompt_cache: PromptCacheStats
    result_cache: ResultCacheStats
    workers: int = Field(description="worker processes with a live heartbeat that take jobs")
    workers_stopping: int = Field(description="worker processes finishing their jobs before they exit")
    jobs_in_flight: int = Field(description="jobs the live worker processes are running")
    worker_processes: list[WorkerProcess]
    breaker: dict[str, Any]
    reliability: dict[str, int] = Field(
        description="what the reconciler did (jobs re-enqueued, deliveries restored, run locks broken, "
                    "Semantest slots freed), Semantest requests that may have been sent twice, and jobs "
                    "dispatched and not finished")
    generated_at: str


class HealthResponse(BaseModel):
    """The public body is ``status`` and ``failing``; the other fields come with an admin's token."""

    status: str = Field(description="`ok` (200) or `unavailable` (503)")
    failing: list[str] | None = Field(None, description="what fails: `redis`, `workers`, `semantest`")
    redis: str | None = Field(None, description="admins only: `ok` or why Redis is unavailable")
    workers: int | None = Field(None, description="admins only: worker processes with a live heartbeat "
                                                  "that take jobs")
    workers_stopping: int | None = Field(None, description="admins only: worker processes finishing their "
                                                           "jobs before they exit")
    jobs_in_flight: int | None = Field(None, description="admins only: jobs the live worker processes are running")
    semantest: Any = Field(None, description="admins only: dialect, URL, breaker and sessions of Semantest")


class LivenessResponse(BaseModel):
    status: str = Field(description="always `ok`: the API process answers")


class CacheCleared(BaseModel):
    cleared: int


class JobEventView(BaseModel):
    """One event of a job's stream: ``id`` is the Redis stream id (monotonic per job)."""

    id: str
    type: str
    status: str
    progress: int
    data: dict[str, Any]


class BatchLinks(BaseModel):
    self: str
    items: str
    results: str
    events: str
    gallery: str = Field(description="the batch's gallery page, signed: opens without a token until it expires")


class RequestCounts(BaseModel):
    total: int
    queued: int = Field(description="waiting for admission or in the broker (or for Semantest)")
    running: int
    succeeded: int = Field(description="including the deduplicated ones")
    failed: int
    canceled: int
    deduplicated: int = Field(description="succeeded without a generation of their own (a sub-count of succeeded)")


class BatchWarning(BaseModel):
    line: int
    code: str
    message: str


class BatchAccepted(BaseModel):
    batch_id: str
    status: str
    request_counts: RequestCounts
    links: BatchLinks


class BatchView(BaseModel):
    batch_id: str
    status: str = Field(description="validating, in_progress, completed, failed or canceled")
    owner: str
    created_at: str
    completed_at: str | None
    priority: Priority
    style: str | None
    format: str
    warnings: list[BatchWarning]
    request_counts: RequestCounts
    links: BatchLinks


class BatchPage(BaseModel):
    batches: list[BatchView]
    total: int
    limit: int
    next_cursor: str | None


class BatchItemView(JobView):
    group: str | None = Field(default=None, description="the item's visual group")


class BatchItemsPage(BaseModel):
    items: list[BatchItemView]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")
