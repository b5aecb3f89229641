"""gunicorn settings for the API: ``gunicorn -c python:api.gunicorn_conf api.wsgi:app``.

``scene-weaver up``, docker-compose and the Dockerfile all start gunicorn with this file.
Workers are gevent's (``worker_class``): a WebSocket or an SSE stream waits on its socket
or on a Redis XREAD as a greenlet, not as one of a few request threads, so hundreds of idle
live connections leave ordinary requests as fast as ever (``tests/e2e/test_long_lived.py``).
gunicorn's gevent worker monkey-patches the standard library before it loads the app, so
redis-py, kombu (Celery publishing), flask-sock's simple-websocket and every blocking read
yield to the other connections. ``worker_connections`` bounds the connections per worker.

It also covers what gunicorn answers or writes before the app sees a request:

- errors gunicorn answers itself (a request line over 4094 bytes, bad headers, a broken
  request) are the API's JSON error model with its security headers, not an HTML page;
- the ``Server`` header names no server software or version;
- tokens in URLs (``?token=`` on the WebSocket, ``?sig=`` of a gallery link) are redacted from the
  access and error logs.

gunicorn has no setting for the first two; they replace the two module attributes its
workers read (``gunicorn.util.write_error``, ``gunicorn.http.wsgi.SERVER``), and
``tests/api/test_security_gunicorn.py`` fails if an upgrade stops honouring them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import gunicorn.http.wsgi
import gunicorn.util
from gunicorn.glogging import Logger

from api.headers import BASE_HEADERS

__all__ = ["RedactingLogger", "redact", "write_json_error", "logger_class", "SERVER_NAME", "worker_class",
           "worker_connections", "on_starting", "child_exit"]

SERVER_NAME = "scene-weaver"
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 256 * 1024
# ?token= (the WebSocket) and ?sig= (a gallery link: it opens the page to whoever holds it).
_TOKEN_IN_URL = re.compile(r"((?:token|sig)=)[^&\s#\"']+", re.IGNORECASE)
_ERROR_CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
                431: "request_header_fields_too_large", 500: "internal_error", 501: "not_implemented"}


def redact(text: str) -> str:
    return _TOKEN_IN_URL.sub(r"\1[redacted]", text)


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answer, in the API's error model."""
    body = json.dumps({"error": {"code": _ERROR_CODES.get(status_int, "http_error"),
                                 "message": redact(mesg) or reason, "details": None}}).encode()
    head = [f"HTTP/1.1 {status_int} {reason}", f"Server: {SERVER_NAME}", "Connection: close",
            "Content-Type: application/json", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in BASE_HEADERS.items())]
    gunicorn.util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    _linger(sock)


def _linger(sock: socket.socket) -> None:
    """Read (bounded) what the client still sends before gunicorn closes the socket.

    Closing with unread bytes (the rest of a 10 KB request line) resets the connection, and
    the client may lose the answer before reading it; gevent workers read requests in small
    chunks, so they leave such bytes behind.
    """
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(_LINGER_SECONDS)
        deadline, drained = time.monotonic() + _LINGER_SECONDS, 0
        while drained < _LINGER_BYTES and time.monotonic() < deadline:
            chunk = sock.recv(8192)
            if not chunk:
                return
            drained += len(chunk)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's logger whose access and error lines never carry a token from a URL."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, _Redact) for existing in log.filters):
                log.addFilter(_Redact())


def on_starting(server: Any) -> None:
    """Before any worker forks: the directory where every worker keeps its Prometheus values.

    ``PROMETHEUS_MULTIPROC_DIR`` when the operator names one (emptied: values of a previous
    run would be summed with this one's), else a fresh temporary directory, removed on exit.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        made = tempfile.mkdtemp(prefix="scene-weaver-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
        atexit.register(shutil.rmtree, made, True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: its live gauges stop counting (its counters stay in the sums)."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - only after on_starting set the directory

    multiprocess.mark_process_dead(worker.pid)


worker_class = "gevent"
worker_connections = 2000

gunicorn.util.write_error = write_json_error
gunicorn.http.wsgi.SERVER = SERVER_NAME
logger_class = RedactingLogger
