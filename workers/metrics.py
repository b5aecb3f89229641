"""A worker process's metrics, logs and job context, wired to Celery's signals.

- ``worker_init``: serve this process's Prometheus series on ``WORKER_METRICS_PORT``
  (0: a free port; the heartbeat names it as ``metrics_port``), including the Semantest
  session pool's gauges and the breaker's state, read at scrape time.
- ``setup_logging``: JSON events (``scene_weaver.logs``) instead of Celery's own format.
- ``task_prerun``: a scene job's queue wait (from ``enqueued_at`` in the message, put there
  by ``workers.dispatch``, to now; first deliveries only), redeliveries, and the job id and
  request id every log event of the run carries; ``task_postrun`` clears them.

Counters live in this process's default registry: each worker process is scraped on its
own (Prometheus sums them), never through the API's multiprocess directory.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from celery.signals import setup_logging, task_postrun, task_prerun, worker_init
from prometheus_client import REGISTRY, start_http_server

from scene_weaver import logs, metrics
from scene_weaver.constants import SCENE_QUEUES
from scene_weaver.settings import Settings

from . import resources
from .queues import PROCESS_SCENE

__all__ = ["port", "serve"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict[str, Any] = {"port": None, "server": None}
_tokens: dict[str, tuple[Any, ...]] = {}


def port() -> int | None:
    """The port this process serves its metrics on (None: not serving)."""
    return _state["port"]  # type: ignore[no-any-return]


def serve(settings: Settings) -> int | None:
    """Start this process's metrics server once; its port (None when ``WORKER_METRICS_PORT`` is -1)."""
    with _lock:
        if _state["server"] is not None or settings.worker_metrics_port < 0:
            return port()
        REGISTRY.register(metrics.PoolCollector(resources.pool))
        server, _thread = start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
        _state["server"] = server
        _state["port"] = int(server.server_port)
    log.info("metrics on http://%s:%d/metrics", settings.worker_metrics_host, _state["port"])
    return port()


def _role(argv: list[str]) -> str:
    """``webhooks`` for the process consuming only the webhook queue (``-Q webhooks``), else ``worker``."""
    for flag in ("-Q", "--queues"):
        if flag in argv[:-1]:
            queues = set(argv[argv.index(flag) + 1].split(","))
            return "worker" if queues & set(SCENE_QUEUES) else "webhooks"
    return "worker"


@setup_logging.connect
def _logging(loglevel: Any = None, **_: object) -> None:
    settings = resources.settings()
    level = loglevel if isinstance(loglevel, int) else logging.INFO
    logs.configure(_role(sys.argv), fmt=settings.log_format, level=level)


@worker_init.connect
def _serve(**_: object) -> None:
    serve(resources.settings())


@task_prerun.connect
def _task_started(task_id: str, task: Any, args: Any = (), **_: object) -> None:
    if task.name != PROCESS_SCENE or not args:
        return
    request = task.request
    delivery = request.delivery_info or {}
    redelivered = bool(delivery.get("redelivered"))
    if redelivered:
        metrics.REDELIVERIES.inc()
    queue = str(delivery.get("routing_key") or "")
    enqueued_at = request.get("enqueued_at") if hasattr(request, "get") else None
    waited = None
    if isinstance(enqueued_at, int | float) and not redelivered and not request.retries:
        waited = time.time() - float(enqueued_at)
        metrics.queue_waited(queue, waited)
    rid = request.get("request_id") if hasattr(request, "get") else None
    _tokens[task_id] = (logs.job_id.set(str(args[0])),
                        logs.request_id.set(rid if isinstance(rid, str) else None))
    log.info("job run begins", extra={"queue": queue, "retries": request.retries, "redelivered": redelivered,
                                      "queue_wait_s": None if waited is None else round(waited, 3)})


@task_postrun.connect
def _task_ended(task_id: str, retval: Any = None, state: str | None = None, **_: object) -> None:
    tokens = _tokens.pop(task_id, None)
    if tokens is None:
        return
    log.info("job run ends", extra={"task_state": state, "outcome": retval if isinstance(retval, str) else None})
    job_token, request_token = tokens
    try:
        logs.request_id.reset(request_token)
        logs.job_id.reset(job_token)
    except ValueError:  # set in another context: the thread's next task sets its own
        pass
