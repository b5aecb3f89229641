"""The baseline: raw Celery no-op tasks, configured like our workers (threads, acks late,
prefetch 1, Redis broker) plus a Redis result backend."""

from __future__ import annotations

import os

from celery import Celery

app = Celery("noop", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop() -> None:
    return None
