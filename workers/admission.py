"""The worker side of batch admission: refill after each batch item ends, and a periodic sweep.

- After a batch item's task ends (whatever the outcome), the worker that ran it fills the
  window again (``workers.dispatch.admit``) and, if that item ended its batch, sends the
  batch's ``completed`` webhook (once per batch: a flag on the record is claimed first).
- Every ``ADMISSION_TICK_SECONDS`` one worker process — the holder of a Redis lease
  (``sw:admission:lease``), renewed each tick — prunes the window and fills it: this admits
  the first items once workers come up, when the fleet grows, and after a crash.

Nothing here holds a batch: each call reads a few keys and moves at most a window of ids.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from scene_weaver import keys, redis_urls
from scene_weaver.batches import Admission, BatchStore
from scene_weaver.constants import SCENE_QUEUES
from scene_weaver.jobs import Job
from scene_weaver.leases import LeaderLease
from scene_weaver.settings import Settings

from . import resources
from .dispatch import admit, batch_ended

__all__ = ["after_job", "Sweeper", "batch_completed"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_admission: Admission | None = None
_sweeper: Sweeper | None = None


# Window fills per call: items served from the result cache leave the window at once, so the
# sweep may fill it many times in one tick (a fully cached batch finishes in a few ticks).
AFTER_JOB_ROUNDS = 4
SWEEP_ROUNDS = 100


def _shared(client: redis.Redis, settings: Settings) -> Admission:
    global _admission
    with _lock:
        if _admission is None:
            _admission = Admission(client, settings)
        return _admission


def batch_completed(app: Celery, batches: BatchStore, batch_id: str) -> None:
    """Count the batch's end and send its ``completed`` webhook if it has ended (each at most once)."""
    batch_ended(app, batches, batch_id)


def after_job(app: Celery, job_id: str, job: Job | None = None) -> None:
    """A scene task ended: if its job is a batch item, refill the window and maybe send the batch's
    webhook. ``job``: its record as the run read it (None: read whether it is a batch item)."""
    try:
        ctx = resources.context()
        client = ctx.store.client
        if job is not None:
            batch_id = job.batch_id
        else:
            raw = client.hget(keys.job(job_id), "batch_id")
            batch_id = raw.decode() if isinstance(raw, bytes) else str(raw) if raw else None
        if not batch_id:
            return
        admit(app, _shared(client, ctx.settings), rounds=AFTER_JOB_ROUNDS)
        batch_completed(app, BatchStore(client), batch_id)
    except redis.RedisError as exc:  # the sweep admits what this missed
        log.warning("admission after job %s skipped: %s", job_id, exc)
    except Exception:
        log.exception("admission after job %s failed", job_id)


class Sweeper:
    """The periodic admission sweep; runs in every scene worker process, acts only under the lease."""

    def __init__(self, app: Celery, client: redis.Redis, settings: Settings, runner_id: str) -> None:
        self.app = app
        self.client = client
        self.admission = _shared(client, settings)
        self.interval = settings.admission_tick_seconds
        self._leader = LeaderLease(client, keys.admission_lease(), runner_id, max(self.interval * 3, 2.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="admission-sweep", daemon=True)

    def tick(self) -> int:
        if not self._leader.lead():
            return 0
        self.admission.prune()
        return admit(self.app, self.admission, rounds=SWEEP_ROUNDS)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except redis.RedisError as exc:
                log.warning("admission sweep skipped: %s", exc)
            except Exception:
                log.exception("admission sweep failed")


@worker_ready.connect
def _start(sender: Any, **_: object) -> None:
    global _sweeper
    app = sender.app
    if not set(app.amqp.queues.consume_from) & set(SCENE_QUEUES):
        return  # the webhook worker does not admit
    settings = resources.settings()
    client = redis_urls.client(settings.require_redis_url(), socket_connect_timeout=2, socket_timeout=5)
    sweeper = Sweeper(app, client, settings, resources.runner_id())
    with _lock:
        if _sweeper is not None:
            return
        _sweeper = sweeper
    sweeper.start()


@worker_shutdown.connect
def _stop(**_: object) -> None:
    global _sweeper
    with _lock:
        sweeper, _sweeper = _sweeper, None
    if sweeper is not None:
        sweeper.stop()
