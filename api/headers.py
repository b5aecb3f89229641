"""Security headers on every response the app makes.

JSON, images and event streams get a policy that allows nothing (no page may frame them,
no browser may sniff them into HTML). An HTML page (``/docs``) gets a strict policy of its
own: its scripts and styles from this origin only, plus the hash of each inline script it
carries, so no injected script could run. gunicorn's own error answers carry the same
headers (``api/gunicorn_conf.py``).
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response

__all__ = ["init_security_headers", "BASE_HEADERS", "API_POLICY", "html_policy"]

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": API_POLICY,
}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def html_policy(page: bytes) -> str:
    """A policy for ``page``: this origin's scripts, styles, images and API, and its own inline scripts."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
                      for script in _INLINE_SCRIPT.findall(page))
    return (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
            f"font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            f"form-action 'none'")


def _secure(response: Response) -> Response:
    for name, value in BASE_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html" and not response.direct_passthrough and not response.is_streamed:
        response.headers["Content-Security-Policy"] = html_policy(response.get_data())
    return response


def init_security_headers(app: Flask) -> None:
    app.after_request(_secure)
