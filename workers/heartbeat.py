"""This worker process's heartbeat: a daemon thread renews it in Redis every few seconds.

It starts when the worker is ready to consume (``worker_ready``: the pool is threads, so
the worker is one process and the signal fires in it; ``worker_process_init`` never does),
says ``stopping`` once a warm shutdown begins, and is withdrawn when the worker has finished
its jobs (``worker_shutdown``). A killed process's heartbeat expires after
``WORKER_HEARTBEAT_TTL``. Jobs in flight are counted here from ``task_prerun`` and
``task_postrun``, which Celery sends in the thread that runs the task.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown, worker_shutting_down
from celery.worker import state as worker_state

from scene_weaver import redis_urls
from scene_weaver.clock import utc_now_iso
from scene_weaver.constants import SCENE_QUEUES
from scene_weaver.heartbeats import RUNNING, STOPPING, Heartbeat, HeartbeatStore, WorkerState
from scene_weaver.settings import Settings

from . import metrics as worker_metrics
from . import resources
from .queues import PROCESS_SCENE
from .reconciler import Reconciler

__all__ = ["Heartbeater", "InFlight", "in_flight"]

log = logging.getLogger(__name__)


class InFlight:
    """The scene jobs this process is running now (task id → job id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, str] = {}

    def started(self, task_id: str, job_id: str) -> None:
        with self._lock:
            self._jobs[task_id] = job_id

    def ended(self, task_id: str) -> None:
        with self._lock:
            self._jobs.pop(task_id, None)

    def job_ids(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._jobs.values())


in_flight = InFlight()


class Heartbeater:
    """Renews one process's heartbeat from a daemon thread until :meth:`stop`."""

    def __init__(self, store: HeartbeatStore, settings: Settings, *, node: str, queues: tuple[str, ...],
                 concurrency: int, jobs: InFlight, sessions: Callable[[], int]) -> None:
        self.store = store
        self.interval = settings.worker_heartbeat_interval
        self.ttl = settings.worker_heartbeat_ttl
        self.runner_id = resources.runner_id()
        self.node = node
        self.queues = queues
        self.concurrency = concurrency
        self.jobs = jobs
        self.sessions = sessions
        self.started_at = utc_now_iso()
        self.state: WorkerState = RUNNING
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def heartbeat(self) -> Heartbeat:
        job_ids = self.jobs.job_ids()
        return Heartbeat(
            runner_id=self.runner_id, node=self.node, hostname=socket.gethostname(), pid=os.getpid(),
            queues=self.queues, concurrency=self.concurrency, in_flight=len(job_ids), job_ids=job_ids,
            delivery_tags=delivery_tags(),
            sessions_connected=self.sessions(), state=self.state, started_at=self.started_at,
            beat_at=utc_now_iso(), metrics_port=worker_metrics.port(),
        )

    def beat(self) -> None:
        try:
            self.store.beat(self.heartbeat(), self.ttl)
        except redis.RedisError as exc:
            # The next beat tries again; a Redis gone longer than the TTL makes this worker
            # look dead to /health, which is then true enough: it cannot take jobs either.
            log.warning("worker heartbeat not renewed: %s", exc)

    def start(self) -> None:
        self.beat()  # counted as soon as the worker says it is ready
        self._thread.start()

    def stopping(self) -> None:
        self.state = STOPPING

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
        try:
            self.store.withdraw(self.runner_id)
        except redis.RedisError as exc:
            log.warning("worker heartbeat not withdrawn (it expires in %.0fs): %s", self.ttl, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()


def delivery_tags() -> tuple[str, ...]:
    """The broker delivery tags of every request this worker holds: reserved, scheduled (a
    countdown) or running. Celery keeps them in ``worker.state.requests`` until the task is done."""
    tags = []
    for request in list(worker_state.requests.values()):
        info = getattr(request, "delivery_info", None) or {}
        tag = info.get("delivery_tag")
        if tag:
            tags.append(str(tag))
    return tuple(tags)


_lock = threading.Lock()
_heartbeater: Heartbeater | None = None
_reconciler: Reconciler | None = None


@worker_ready.connect
def _start(sender: Any, **_: object) -> None:
    global _heartbeater, _reconciler
    if _heartbeater is not None:
        return
    app = sender.app
    queues = tuple(app.amqp.queues.consume_from)
    if not set(queues) & set(SCENE_QUEUES):
        return  # the webhook worker takes no jobs: /health counts only processes that do
    settings = resources.settings()
    # Its own client with short timeouts: a slow Redis delays a beat, never blocks it for good.
    client = redis_urls.client(settings.require_redis_url(), socket_connect_timeout=2,
                                  socket_timeout=max(1.0, settings.worker_heartbeat_interval))
    heartbeater = Heartbeater(
        HeartbeatStore(client), settings, node=str(sender.hostname),
        queues=queues, concurrency=int(sender.controller.concurrency),
        jobs=in_flight, sessions=resources.sessions_connected,
    )
    # Every scene worker runs a reconciler thread; the one holding the Redis lease does the passes.
    reconciler = Reconciler.for_worker(app, settings, heartbeater.runner_id)
    with _lock:
        if _heartbeater is not None:
            return
        _heartbeater = heartbeater
        _reconciler = reconciler
    heartbeater.start()
    reconciler.start()


@worker_shutting_down.connect
def _stopping(**_: object) -> None:
    # Sent from the signal handler: only a flag here, the next beat carries it.
    if _heartbeater is not None:
        _heartbeater.stopping()


@worker_shutdown.connect
def _stop(**_: object) -> None:
    global _heartbeater, _reconciler
    with _lock:
        heartbeater, _heartbeater = _heartbeater, None
        reconciler, _reconciler = _reconciler, None
    if reconciler is not None:
        reconciler.stop()
    if heartbeater is not None:
        heartbeater.stop()


@task_prerun.connect
def _task_started(task_id: str, task: Any, args: Any = (), **_: object) -> None:
    if task.name == PROCESS_SCENE and args:
        in_flight.started(task_id, str(args[0]))


@task_postrun.connect
def _task_ended(task_id: str, **_: object) -> None:
    in_flight.ended(task_id)
