"""Structured logs: one JSON event a line, from the API and the workers alike.

Every event carries ``time``, ``level``, ``role`` (api, worker, webhooks, …), ``logger``,
``message`` and, where known, ``job_id``, ``batch_id`` and ``request_id``, so one job can be
followed from the request that made it to the worker that ran it (``grep`` its id, or
``jq 'select(.job_id == "…")'``). The ids live in context variables: the API sets the
request id per request, a worker sets the job's ids (and the id of the request that
submitted it) for the thread that runs it. ``LOG_FORMAT=text`` keeps plain lines.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["configure", "bind", "request_id", "job_id", "batch_id", "new_request_id", "sane_request_id",
           "current", "ContextFilter", "set_role"]

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
batch_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("batch_id", default=None)

_ROLE = {"value": ""}
# A caller's X-Request-ID is kept when it is this (what proxies and tracing tools send).
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
_RENAME = {"asctime": "time", "levelname": "level", "name": "logger"}


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(given: str | None) -> str | None:
    """The caller's id when it is short and plain (never logged raw otherwise), else None."""
    if given and _SANE_ID.fullmatch(given):
        return given
    return None


def current() -> dict[str, str | None]:
    return {"role": _ROLE["value"] or None, "job_id": job_id.get(), "batch_id": batch_id.get(),
            "request_id": request_id.get()}


@contextlib.contextmanager
def bind(**ids: str | None) -> Iterator[None]:
    """Set ``job_id``/``batch_id``/``request_id`` for the events logged inside the block."""
    tokens = [(var, var.set(ids[name])) for name, var in
              (("job_id", job_id), ("batch_id", batch_id), ("request_id", request_id)) if name in ids]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Adds the role and the ids of the current context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class _Json(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(_FIELDS, rename_fields=_RENAME, timestamp=False, datefmt="%Y-%m-%dT%H:%M:%S%z")

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in ("role", "job_id", "batch_id", "request_id"):
            log_data[name] = getattr(record, name, None)


def set_role(role: str) -> None:
    _ROLE["value"] = role


def configure(role: str, *, fmt: str = "json", level: int = logging.INFO) -> None:
    """Send the root logger's events to stderr, one per line (JSON unless ``fmt`` is ``text``)."""
    _ROLE["value"] = role
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(role)s] %(name)s: %(message)s"))
    else:
        handler.setFormatter(_Json())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_scene_weaver", False):
            root.removeHandler(existing)
    handler._scene_weaver = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # A job run logs one line as it begins and one as it ends (workers/metrics.py), with its job
    # id, queue wait and outcome; Celery's own "Task … received" and "… succeeded in …" lines
    # would double that for every job. Its warnings and errors (a failed task) still show.
    for name in _PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


_PER_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")
