"""A Flask app on a real loopback HTTP server, for WebSocket clients (the test client has none)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server

__all__ = ["serve_app"]


@contextmanager
def serve_app(app: Flask) -> Iterator[str]:
    """Serve ``app`` (werkzeug, threaded) on a free loopback port; yields its ws:// base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
