"""The submit-latency baseline: a bare Flask endpoint that answers like ``POST /v1/process``
(a 202 with a small JSON body) and does nothing else, served by the same gunicorn config."""

from __future__ import annotations

import uuid

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/v1/process")
def process():  # type: ignore[no-untyped-def]
    body = request.get_json(silent=True) or {}
    job_id = uuid.uuid4().hex
    return jsonify({"job_id": job_id, "status": "queued", "echo": len(body)}), 202


@app.get("/health/live")
def health():  # type: ignore[no-untyped-def]
    return jsonify({"status": "ok"})
