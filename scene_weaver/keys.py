"""Every Redis key Scene Weaver uses, built in one place.

No other module writes a key string inline: add a function here instead.
"""

from __future__ import annotations

PREFIX = "sw:"


def job(job_id: str) -> str:
    """Hash: the job record."""
    return f"{PREFIX}job:{job_id}"


def job_events(job_id: str) -> str:
    """Stream: every state change and progress event of a job."""
    return f"{PREFIX}job:{job_id}:events"


def job_cancel(job_id: str) -> str:
    """String: present when the job was asked to cancel."""
    return f"{PREFIX}job:{job_id}:cancel"


def job_lock(job_id: str) -> str:
    """String: held by the worker running the job (expires with the job time limit)."""
    return f"{PREFIX}job:{job_id}:lock"


def user_jobs(username: str) -> str:
    """Sorted set: a user's job ids scored by creation time."""
    return f"{PREFIX}user:{username}:jobs"


def all_jobs() -> str:
    """Sorted set: every job id scored by creation time (admins, stats)."""
    return f"{PREFIX}jobs"


def user(username: str) -> str:
    """Hash: a user's record (password hash, role)."""
    return f"{PREFIX}user:{username}"


def users() -> str:
    """Set: every username."""
    return f"{PREFIX}users"


def prompt_cache(content_hash: str) -> str:
    """String: a woven prompt, keyed by the content hash of scene and settings."""
    return f"{PREFIX}cache:prompt:{content_hash}"


def result_cache(generation: str) -> str:
    """String (JSON, expires after ``RESULT_CACHE_TTL``): the picture an identical generation drew."""
    return f"{PREFIX}cache:result:{generation}"


def result_scene(scene: str) -> str:
    """String (expires after ``RESULT_CACHE_TTL``): the generation key a job's scene and settings wove to."""
    return f"{PREFIX}cache:scene:{scene}"


def result_flight(generation: str) -> str:
    """String (a redis-py lock, expires after ``RESULT_FLIGHT_LEASE`` unless renewed): held by the
    job drawing a generation while identical ones wait for its picture."""
    return f"{PREFIX}flight:{generation}"


def response_cache(name: str) -> str:
    """String: a cached API response."""
    return f"{PREFIX}cache:response:{name}"


def cache_pattern() -> str:
    """Glob over every cache key (for ``cache/clear``)."""
    return f"{PREFIX}cache:*"


def idempotency(username: str, key: str) -> str:
    """String (JSON, set with NX): the job a user's ``Idempotency-Key`` produced and the body's hash."""
    return f"{PREFIX}idem:{username}:{key}"


def webhook_throttle(job_id: str) -> str:
    """String (expires): present while a job's progress webhooks are held back."""
    return f"{PREFIX}job:{job_id}:webhook:throttle"


def webhook_host_slots(host: str) -> str:
    """Sorted set: deliveries in flight to one receiver host, scored by when their lease ends."""
    return f"{PREFIX}webhook:host:{host}:slots"


def webhook_host_failures(host: str) -> str:
    """String (expires): failures in a row of one receiver host; deleted by a success."""
    return f"{PREFIX}webhook:host:{host}:failures"


def token_blocklist(jti: str) -> str:
    """String: a revoked token id (expires with the token)."""
    return f"{PREFIX}jwt:revoked:{jti}"


def breaker() -> str:
    """Hash: the fleet-wide Semantest circuit breaker."""
    return f"{PREFIX}semantest:breaker"


def breaker_window() -> str:
    """List: outcomes of the fleet's last calls to Semantest, newest first ("1" failed, "0" succeeded)."""
    return f"{PREFIX}semantest:breaker:window"


def breaker_probe() -> str:
    """String: the token of the one half-open probe allowed through the breaker (expires)."""
    return f"{PREFIX}semantest:breaker:probe"


def inflight() -> str:
    """Sorted set: the fleet-wide Semantest request slots, scored by expiry."""
    return f"{PREFIX}semantest:inflight"


def semantest_sessions() -> str:
    """Hash: connected Semantest sessions per worker process (for /health)."""
    return f"{PREFIX}semantest:sessions"


def counters() -> str:
    """Hash: fleet-wide counters (cache hits, connection attempts, ...)."""
    return f"{PREFIX}counters"


def config() -> str:
    """Hash: settings changed at run time through ``PUT /config``."""
    return f"{PREFIX}config"


def rate_limit_prefix() -> str:
    """Prefix for flask-limiter's storage keys."""
    return f"{PREFIX}limits"


def worker_heartbeat(runner_id: str) -> str:
    """String (JSON, expires): a worker process's heartbeat, renewed every few seconds."""
    return f"{PREFIX}worker:{runner_id}"


def worker_heartbeats() -> str:
    """Sorted set: the runner id of every worker process, scored by its heartbeat's expiry (Redis time)."""
    return f"{PREFIX}workers"


def live_streams(owner: str) -> str:
    """Sorted set: open WebSockets and SSE streams of one user or client address (member: a
    connection id; score: when its lease ends, by Redis's clock)."""
    return f"{PREFIX}live:{owner}"


def batch(batch_id: str) -> str:
    """Hash: a batch record and its request counts (changed by the job state script)."""
    return f"{PREFIX}batch:{batch_id}"


def batch_prefix() -> str:
    """What every batch record's key starts with (the job state script builds batch keys from it)."""
    return f"{PREFIX}batch:"


def batch_items(batch_id: str) -> str:
    """List: a batch's item job ids in script order."""
    return f"{PREFIX}batch:{batch_id}:items"


def batch_pending(batch_id: str) -> str:
    """List: a batch's item job ids not yet admitted into the broker, in script order."""
    return f"{PREFIX}batch:{batch_id}:pending"


def batch_events(batch_id: str) -> str:
    """Stream: a batch's item state changes, count changes and its ``completed`` event."""
    return f"{PREFIX}batch:{batch_id}:events"


def user_batches(username: str) -> str:
    """Sorted set: a user's batch ids scored by creation time."""
    return f"{PREFIX}user:{username}:batches"


def all_batches() -> str:
    """Sorted set: every batch id scored by creation time (admins)."""
    return f"{PREFIX}batches"


def admission_round(priority: str) -> str:
    """List: the active batches of one priority with items waiting for admission (round-robin order)."""
    return f"{PREFIX}admission:round:{priority}"


def admission_inflight() -> str:
    """Set: batch items admitted into the broker and not yet finished (the admission window's fill)."""
    return f"{PREFIX}admission:inflight"


def admission_lease() -> str:
    """String (expires): held by the one worker process running the periodic admission sweep."""
    return f"{PREFIX}admission:lease"


def admission_low_aging() -> str:
    """Hash (expires): since when the broker's low queue waits, and whether admission holds back for it."""
    return f"{PREFIX}admission:low_aging"


def dispatched_jobs() -> str:
    """Sorted set: scene jobs handed to the broker and not yet finished, scored by when they were
    (last) dispatched; the reconciler's list of what must be in a queue, unacked or running."""
    return f"{PREFIX}jobs:dispatched"


def reconciler_leader() -> str:
    """String (expires): the runner id of the worker process that runs the reconciler now."""
    return f"{PREFIX}reconciler:leader"
