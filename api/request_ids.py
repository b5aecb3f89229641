"""``X-Request-ID``: every answer carries one, and every log event of the request names it.

A caller's id is kept when it is plain and short (``scene_weaver.logs.sane_request_id``);
anything else is replaced by a fresh one. The id also travels with the job messages this
request enqueues, so the worker's events for that job name it too. Each request ends with
one ``request`` event: method, route template, status, duration and the job id it concerns.
"""

from __future__ import annotations

import contextlib
import logging
import time

from flask import Flask, Response, g, request

from scene_weaver import logs

__all__ = ["init_request_ids", "HEADER"]

HEADER = "X-Request-ID"
log = logging.getLogger("scene_weaver.requests")


def _begin() -> None:
    rid = logs.sane_request_id(request.headers.get(HEADER)) or logs.new_request_id()
    g.request_id = rid
    g.request_started = time.perf_counter()
    g.request_id_token = logs.request_id.set(rid)


def _answer(response: Response) -> Response:
    rid = g.get("request_id")
    if rid is None:
        return response
    response.headers[HEADER] = rid
    job = (request.view_args or {}).get("job_id")
    if job is None and response.status_code == 202 and response.is_json and not response.is_streamed:  # noqa: PLR2004
        body = response.get_json(silent=True)
        job = body.get("job_id") if isinstance(body, dict) else None
    rule = request.url_rule
    log.info("%s %s %s", request.method, rule.rule if rule else "unmatched", response.status_code, extra={
        "method": request.method, "route": rule.rule if rule else None, "status": response.status_code,
        "duration_ms": round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1),
        "job_id": job if isinstance(job, str) else None,
    })
    return response


def _end(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        with contextlib.suppress(ValueError):  # a context other than the one that set it: nothing to undo
            logs.request_id.reset(token)


def init_request_ids(app: Flask) -> None:
    """Register first: later hooks (auth, limits) and their log lines see the id."""
    app.before_request(_begin)
    app.after_request(_answer)
    app.teardown_request(_end)
