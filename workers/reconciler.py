"""The reconciler: the job store is the source of truth, not the broker.

Every scene worker process runs a :class:`Reconciler` thread; the one holding the Redis lease
``sw:reconciler:leader`` (renewed each pass, it passes to another process within
``3 × RECONCILE_INTERVAL`` when its holder dies) makes a pass every ``RECONCILE_INTERVAL``:

1. **Dead runners' fleet resources.** A worker process is live while its heartbeat
   (``sw:worker:<runner id>``) exists. The Semantest in-flight slots named by a process whose
   heartbeat expired are freed.
2. **Dead runners' run locks.** A job's run lock names its runner: a lock of a dead runner is
   removed at once, a lock of a live runner that no longer lists the job as running (its
   release failed) after two passes.
3. **Unacknowledged deliveries nobody holds.** Kombu's Redis transport keeps each delivery in
   the ``unacked`` hash (scored by delivery time in ``unacked_index``) until it is acked, and
   restores it after the visibility timeout. Every live worker lists the delivery tags it holds
   in its heartbeat; a scene delivery older than ``RECONCILE_GRACE`` that no live worker holds
   is put back in its queue with kombu's own ``restore_by_tag``: at once when the process that
   held it in the last pass has died, after two passes otherwise.
4. **Lost jobs.** A job recorded as dispatched (``sw:jobs:dispatched``, written by
   :func:`workers.dispatch.enqueue_job`, removed by the state script when the job ends) for
   longer than the grace, not finished, and in no queue, not unacked and not running in a live
   worker in two passes in a row, is enqueued again.

A second delivery is harmless: the run lock keeps one runner per job and the state script never
changes a finished job, so the result stays exactly once. Redis restarting makes every heartbeat
look expired, so no runner is called dead until Redis has been up for one heartbeat TTL.
The visibility timeout stays as the broker's last resort.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery

from scene_weaver import keys, redis_urls
from scene_weaver.constants import SCENE_QUEUES
from scene_weaver.heartbeats import Heartbeat, HeartbeatStore
from scene_weaver.jobs import JobStore
from scene_weaver.leases import LeaderLease
from scene_weaver.models import Priority
from scene_weaver.redis_text import decode
from scene_weaver.semantest.semaphore import GlobalSemaphore
from scene_weaver.settings import Settings

from .dispatch import RECONCILER_COUNTERS, enqueue_job
from .queues import PROCESS_SCENE

__all__ = ["Reconciler", "PassReport", "COUNTERS"]

log = logging.getLogger(__name__)

# Fleet-wide counters (hash ``sw:counters``), shown in ``/stats``.
COUNTERS = RECONCILER_COUNTERS
REENQUEUED, RESTORED, LOCKS_BROKEN, SLOTS_FREED = RECONCILER_COUNTERS

MAX_SCAN = 50_000  # queue messages, unacked deliveries and dispatched jobs looked at per pass: a bound

@dataclass
class PassReport:
    """What one pass did (and saw), for logs and tests."""

    held_off: bool = False
    live_runners: int = 0
    slots_freed: int = 0
    locks_broken: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # delivery tags put back in a queue
    reenqueued: list[str] = field(default_factory=list)  # job ids sent again

    def did_something(self) -> bool:
        return bool(self.slots_freed or self.locks_broken or self.restored or self.reenqueued)


def _job_id_of(payload: dict[str, Any]) -> str | None:
    """The job id a scene task message carries (its first argument), else None."""
    headers = payload.get("headers") or {}
    if headers.get("task") != PROCESS_SCENE:
        return None
    try:
        raw = payload["body"]
        if (payload.get("properties") or {}).get("body_encoding") == "base64":
            raw = base64.b64decode(raw)
        args = json.loads(raw)[0]
        return str(args[0]) if args else None
    except (KeyError, IndexError, TypeError, ValueError):
        return None


class Reconciler:
    def __init__(self, app: Celery, client: redis.Redis, settings: Settings, runner_id: str) -> None:
        self.app = app
        self.redis = client
        self.settings = settings
        self.runner_id = runner_id
        self.interval = settings.reconcile_interval
        self.grace = settings.reconcile_grace
        self.store = JobStore(client)
        self.heartbeats = HeartbeatStore(client)
        self.slots = GlobalSemaphore(client, limit=settings.semantest_max_in_flight_global, hold_ttl=1.0)
        self._leader = LeaderLease(client, keys.reconciler_leader(), runner_id, self.interval * 3)
        # What the last pass saw: suspects are acted on when a second pass sees them too.
        self._lost_jobs: set[str] = set()
        self._orphan_tags: set[str] = set()
        self._stale_locks: set[tuple[str, str]] = set()
        self._tag_holders: dict[str, str] = {}
        self._redis_trouble_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    @classmethod
    def for_worker(cls, app: Celery, settings: Settings, runner_id: str) -> Reconciler:
        client = redis_urls.client(settings.require_redis_url(), socket_connect_timeout=2, socket_timeout=10)
        return cls(app, client, settings, runner_id)

    # --- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 10)
        with contextlib.suppress(redis.RedisError):  # else the lease expires on its own
            self._leader.resign()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.lead():
                    report = self.run_pass()
                    if report.did_something():
                        log.warning("reconciler: %s", report)
            except redis.RedisError as exc:
                self._redis_trouble_at = time.monotonic()
                log.warning("reconciler: Redis unavailable (%s); next pass in %.0fs", exc, self.interval)
            except Exception:
                log.exception("reconciler: pass failed")

    def lead(self) -> bool:
        """Take or renew the leader's lease; True while this process holds it."""
        return self._leader.lead()

    # --- one pass ----------------------------------------------------------------------------

    def held_off(self) -> bool:
        """True while heartbeats cannot be trusted: Redis (re)started less than one TTL ago, or
        this process could not reach it lately (the beats of every worker may have lapsed)."""
        settle = self.settings.worker_heartbeat_ttl + self.settings.worker_heartbeat_interval
        if time.monotonic() - self._redis_trouble_at < settle:
            return True
        uptime = int(self.redis.info("server").get("uptime_in_seconds", 0))
        return uptime < settle

    def run_pass(self) -> PassReport:
        report = PassReport()
        if self.held_off():
            report.held_off = True
            return report
        live = {h.runner_id: h for h in self.heartbeats.live()}
        report.live_runners = len(live)
        claimed = {tag: h.runner_id for h in live.values() for tag in h.delivery_tags}
        report.slots_freed = self.slots.reap(set(live))
        with self._channel() as channel:
            unacked_jobs = self._restore_orphans(channel, claimed, live, report)
            queued_jobs, complete = self._queued_job_ids(channel)
        self._tag_holders = claimed
        self._reconcile_jobs(live, unacked_jobs, queued_jobs if complete else None, report)
        if report.did_something():
            with self.redis.pipeline(transaction=False) as pipe:
                for name, count in ((REENQUEUED, len(report.reenqueued)), (RESTORED, len(report.restored)),
                                    (LOCKS_BROKEN, len(report.locks_broken)), (SLOTS_FREED, report.slots_freed)):
                    if count:
                        pipe.hincrby(keys.counters(), name, count)
                pipe.execute()
        return report

    @contextmanager
    def _channel(self) -> Iterator[Any]:
        with self.app.connection_for_write() as conn:
            yield conn.default_channel

    def _restore_orphans(self, channel: Any, claimed: dict[str, str], live: dict[str, Heartbeat],
                         report: PassReport) -> set[str]:
        """Put back the scene deliveries no live worker holds; the job ids of those left unacked."""
        unacked_key, index_key = channel.unacked_key, channel.unacked_index_key
        entries: list[tuple[str, str]] = []
        for tag, raw in self.redis.hscan_iter(unacked_key, count=500):
            entries.append((decode(tag), decode(raw)))
            if len(entries) >= MAX_SCAN:
                break
        if not entries:
            self._orphan_tags = set()
            return set()
        with self.redis.pipeline(transaction=False) as pipe:
            for tag, _ in entries:
                pipe.zscore(index_key, tag)
            delivered_at = pipe.execute()
        now = time.time()
        still_unacked: set[str] = set()
        suspects: set[str] = set()
        for (tag, raw), at in zip(entries, delivered_at, strict=True):
            try:
                payload = json.loads(raw)[0]
            except (ValueError, IndexError, TypeError):
                continue
            job_id = _job_id_of(payload)
            if job_id is None:
                continue  # not a scene job (webhook deliveries have their own worker)
            if tag in claimed or at is None or now - float(at) < self.grace:
                still_unacked.add(job_id)
                continue
            holder = self._tag_holders.get(tag)
            if (holder is not None and holder not in live) or tag in self._orphan_tags:
                channel.qos.restore_by_tag(tag)
                report.restored.append(tag)
            else:
                suspects.add(tag)
                still_unacked.add(job_id)
        self._orphan_tags = suspects
        return still_unacked

    def _queued_job_ids(self, channel: Any) -> tuple[set[str], bool]:
        """Job ids of the scene messages waiting in a queue; False when there were too many to read."""
        names = [channel._q_for_pri(queue, pri) for queue in SCENE_QUEUES for pri in channel.priority_steps]
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.lrange(name, 0, MAX_SCAN - 1)
            lists = pipe.execute()
        found: set[str] = set()
        complete = True
        for messages in lists:
            complete = complete and len(messages) < MAX_SCAN
            for raw in messages:
                try:
                    job_id = _job_id_of(json.loads(raw))
                except ValueError:
                    continue
                if job_id:
                    found.add(job_id)
        return found, complete

    def _reconcile_jobs(self, live: dict[str, Heartbeat], unacked: set[str], queued: set[str] | None,
                        report: PassReport) -> None:
        dispatched = self.store.dispatched_before(time.time() - self.grace, MAX_SCAN)
        if not dispatched:
            self._lost_jobs, self._stale_locks = set(), set()
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id, _ in dispatched:
                pipe.hmget(keys.job(job_id), ["status", "priority"])
                pipe.get(keys.job_lock(job_id))
            rows = pipe.execute()
        lost: set[str] = set()
        stale: set[tuple[str, str]] = set()
        for index, (job_id, _) in enumerate(dispatched):
            status_raw, priority_raw = rows[2 * index]
            owner = decode(rows[2 * index + 1]) if rows[2 * index + 1] is not None else None
            status = decode(status_raw) if status_raw is not None else None
            if status is None or status in ("succeeded", "failed", "canceled"):
                self.store.forget_dispatched(job_id)
                continue
            running = owner is not None and owner in live and job_id in live[owner].job_ids
            if owner is not None and not running:
                # A dead runner's lock goes at once; a live runner's stale lock after two passes.
                if owner not in live or (job_id, owner) in self._stale_locks:
                    if self.store.break_run_lock(job_id, owner):
                        report.locks_broken.append(job_id)
                    owner = None
                else:
                    stale.add((job_id, owner))
            if running or job_id in unacked or queued is None or job_id in queued:
                continue
            if job_id in self._lost_jobs:
                priority = Priority(decode(priority_raw)) if priority_raw is not None else Priority.NORMAL
                enqueue_job(self.app, job_id, priority)
                report.reenqueued.append(job_id)
            else:
                lost.add(job_id)
        self._lost_jobs, self._stale_locks = lost, stale
