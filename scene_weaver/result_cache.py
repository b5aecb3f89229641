"""Identical generations drawn once: a result cache and single-flight across every worker process.

A generation is what Semantest is asked to draw: woven prompt, negative prompt, width,
height, steps, guidance, style and seed. Its key is the sha256 of those. Two things live in
Redis under it:

- the result cache (``keys.result_cache``): the stored picture's sha256, type and size, kept
  ``RESULT_CACHE_TTL`` seconds; a later identical generation reuses it without a Semantest
  call (the image store is content-addressed, so both jobs point at the same file);
- the flight (``keys.result_flight``): a redis-py lock held by the one job drawing the
  generation now. It expires ``RESULT_FLIGHT_LEASE`` seconds after its last renewal, and the
  drawer renews it while it waits on Semantest, so a drawer that crashed (SIGKILL, lost host)
  stops blocking the others within one lease: the first waiter to find the lock gone takes it
  and draws. A waiter waits at most ``RESULT_FLIGHT_WAIT`` (and never more than half the job
  time limit) before drawing the picture itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import LockError

from . import keys, metrics
from .errors import JobCanceled
from .images import ImageStore
from .jobs import Job, JobStore
from .models import Scene
from .redis_text import decode
from .runtime_config import RuntimeConfig
from .semantest import GenerationRequest
from .settings import Settings
from .weaving import WEAVER_VERSION

__all__ = ["Claim", "Flight", "ResultCache", "entry", "generation_key", "scene_key", "serve_cached", "HITS",
           "MISSES"]

log = logging.getLogger(__name__)

HITS, MISSES = "result_cache_hits", "result_cache_misses"
POLL_INTERVAL = 0.1  # how often a waiter looks for the picture in flight


def generation_key(request: GenerationRequest) -> str:
    """The sha256 of everything that decides the picture: never the request id or the job's ids,
    but the caption the picture is lettered with (a style without lettering leaves dialogue
    out of the prompt, yet the picture shows it)."""
    canonical = json.dumps(
        [request.prompt, request.negative_prompt, request.width, request.height, request.steps,
         float(request.guidance_scale), request.style, request.seed, request.metadata.get("caption", "")],
        ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def scene_key(scene: Mapping[str, Any], options: Mapping[str, Any], config: RuntimeConfig) -> str:
    """The sha256 of what decides a job's generation before it is woven: the weaver's version, the
    scene, and the settings weaving and drawing read. Equal keys weave to equal generations."""
    canonical = json.dumps(
        [WEAVER_VERSION, Scene.model_validate(scene).model_dump(mode="json"), config.default_style,
         config.prompt_max_length, int(options.get("width") or config.image_width),
         int(options.get("height") or config.image_height), config.image_steps, float(config.guidance_scale),
         int(options.get("seed", -1))],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Flight:
    """The lease of the job drawing a generation; renewing and ending it never raise."""

    def __init__(self, lock: redis.lock.Lock, lease: float) -> None:
        self._lock = lock
        self._renew_every = lease / 3
        self._renewed = time.monotonic()
        self.held = True

    @property
    def token(self) -> str:
        """The holder's token: the flight's key holds it while this drawer has the lease."""
        token = self._lock.local.token
        return token.decode() if isinstance(token, bytes) else str(token or "")

    def renew(self) -> None:
        """Push the lease's end out again, at most once a third of a lease."""
        now = time.monotonic()
        if not self.held or now - self._renewed < self._renew_every:
            return
        self._renewed = now
        try:
            self._lock.reacquire()
        except (LockError, redis.RedisError):  # lost it (a stall longer than the lease): someone else may draw
            self.held = False
            log.warning("lost the flight lease %s", self._lock.name)

    def end(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self._lock.release()
        except (LockError, redis.RedisError):
            log.info("flight lease %s had already expired", self._lock.name)


@dataclass(frozen=True)
class Claim:
    """What a job does about a generation: reuse ``shared`` (a result another job drew), or
    draw it, holding ``flight`` when it is the one the others wait for (None: force, or waited
    longest)."""

    shared: dict[str, Any] | None = None
    flight: Flight | None = None


class ResultCache:
    def __init__(self, client: redis.Redis, images: ImageStore, *, ttl: int, lease: float, wait: float,
                 poll: float = POLL_INTERVAL) -> None:
        self.client = client
        self.images = images
        self.ttl = ttl
        self.lease = lease
        self.wait = wait
        self.poll = poll

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings) -> ResultCache:
        """The cache as workers and admission use it: a waiter gives up well before its own run
        lock (``JOB_TIME_LIMIT``) could lapse."""
        return cls(client, ImageStore(settings.image_store_dir), ttl=settings.result_cache_ttl,
                   lease=settings.result_flight_lease,
                   wait=min(settings.result_flight_wait, settings.job_time_limit / 2))

    def lookup(self, generation: str) -> dict[str, Any] | None:
        """The result an identical generation stored, if its picture is still in the image store."""
        return self.served(generation, self.client.get(keys.result_cache(generation)))

    def _usable(self, generation: str, raw: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(result as a job shows it, prompt) from a stored entry, or None (absent, damaged, picture gone)."""
        if not raw:
            return None
        try:
            stored = json.loads(raw)
            result, prompt = stored["result"], stored["prompt"]
            present = self.images.path_for(result["sha256"], result["mime_type"]).exists()
        except (ValueError, KeyError, TypeError):
            present = False
        if not present:  # damaged, or the picture was removed from the store: draw it again
            self.client.delete(keys.result_cache(generation))
            return None
        # The drawer's job id stays in Redis: it may be another user's job.
        return {**result, "deduplicated": True}, prompt

    def served(self, generation: str, raw: Any) -> dict[str, Any] | None:
        """The result a stored entry ``raw`` (read by the caller) serves, if its picture is still there."""
        usable = self._usable(generation, raw)
        return usable[0] if usable else None

    def flight_taken(self, generation: str, token: str) -> Flight:
        """The flight a worker's script took for ``generation`` with ``token`` (``SET NX PX``, as
        redis-py's lock takes it): renewed and ended like one taken by :meth:`claim`."""
        lock = self.client.lock(keys.result_flight(generation), timeout=self.lease, blocking=False,
                                thread_local=False)
        lock.local.token = token.encode()
        return Flight(lock, self.lease)

    def lookup_scenes(self, scenes: Sequence[str]) -> list[tuple[dict[str, Any], dict[str, Any]] | None]:
        """For each scene key, (result, prompt) when its generation's picture is cached: two round trips."""
        generations = [decode(g) if g is not None else None
                       for g in self.client.mget([keys.result_scene(s) for s in scenes])] if scenes else []
        wanted = [g for g in generations if g]
        stored = dict(zip(wanted, self.client.mget([keys.result_cache(g) for g in wanted]), strict=True)) \
            if wanted else {}
        return [self._usable(g, stored.get(g)) if g else None for g in generations]

    def claim(self, generation: str, *, force: bool, canceled: Callable[[], bool]) -> Claim:
        """Reuse the cached or in-flight picture of ``generation``, or take the right to draw it.

        ``force``: never reuse; still take the flight when it is free, so identical jobs wait
        for this drawing. Raises :class:`JobCanceled` when ``canceled()`` turns true while waiting.
        """
        if not force:
            cached = self.lookup(generation)
            if cached is not None:
                return Claim(shared=cached)
        deadline = time.monotonic() + self.wait
        while True:
            lock = self.client.lock(keys.result_flight(generation), timeout=self.lease, blocking=False,
                                    thread_local=False)
            if lock.acquire():
                flight = Flight(lock, self.lease)
                if not force:  # the previous drawer may have finished between the lookup and now
                    cached = self.lookup(generation)
                    if cached is not None:
                        flight.end()
                        return Claim(shared=cached)
                return Claim(flight=flight)
            if force or time.monotonic() >= deadline:
                return Claim()
            if canceled():
                raise JobCanceled("canceled while waiting for an identical picture in flight")
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))
            cached = self.lookup(generation)
            if cached is not None:
                return Claim(shared=cached)

    def count(self, *, hit: bool, amount: int = 1) -> None:
        if amount:
            self.client.hincrby(keys.counters(), HITS if hit else MISSES, amount)
            metrics.result_cache(hit=hit, amount=amount)

    def hit_rate(self) -> dict[str, int | float | None]:
        """Jobs served without drawing (hits) and jobs that drew (misses) since the counters began."""
        return hit_rate(self.client)


def serve_cached(store: JobStore, results: ResultCache, jobs: Sequence[Job], config: RuntimeConfig) -> set[str]:
    """Finish the queued ``jobs`` whose picture is already cached, without a worker; their ids.

    For admission (a batch's items, just created, not yet enqueued): each served job goes
    through the states a worker would take it through (started, weaving, generating with the
    cached prompt, succeeded with ``deduplicated``) and counts a hit. Jobs asking for ``force``
    or a webhook (a worker delivers those) are left for the workers, as is every other job.
    """
    eligible = [job for job in jobs if not job.options.get("force") and not job.options.get("webhook_url")]
    found = results.lookup_scenes([scene_key(job.scene, job.options, config) for job in eligible])
    hits = [(job.job_id, entry[1], entry[0]) for job, entry in zip(eligible, found, strict=True) if entry]
    if not hits:
        return set()
    served = {job_id for (job_id, _, _), done in zip(hits, store.succeed_cached(hits), strict=True) if done}
    results.count(hit=True, amount=len(served))
    return served


def entry(job_id: str, result: dict[str, Any], prompt: dict[str, Any]) -> str:
    """A result cache entry: the drawer's job, the result and the prompt it was drawn from."""
    return json.dumps({"job_id": job_id, "result": result, "prompt": prompt})


def hit_rate(client: redis.Redis) -> dict[str, int | float | None]:
    hits, misses = (int(decode(value)) if value is not None else 0
                    for value in client.hmget(keys.counters(), [HITS, MISSES]))
    total = hits + misses
    return {"hits": hits, "misses": misses, "hit_rate": round(hits / total, 4) if total else None}
