"""Security headers from the app itself, on answers of every kind (gunicorn's own answers:
``test_security_gunicorn.py``)."""

from __future__ import annotations

import base64
import hashlib
import re

from flask.testing import FlaskClient

from .conftest import login, submit


def _secure(response: object, where: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), where


def test_json_errors_streams_and_specs_carry_security_headers(client: FlaskClient) -> None:
    headers = login(client)
    job_id = submit(client, headers)
    answers = {
        "accepted": client.post("/v1/process", json={"speaker": "E", "dialogue": "x"}, headers=headers),
        "job": client.get(f"/v1/jobs/{job_id}", headers=headers),
        "401": client.get("/v1/jobs"),
        "404": client.get("/v1/nowhere"),
        "405": client.delete("/v1/jobs"),
        "413": client.post("/v1/parse", data=b"x" * (2 * 1024 * 1024), headers={**headers,
                                                                               "Content-Type": "application/json"}),
        "422": client.post("/v1/process", json={"speaker": "E"}, headers=headers),
        "openapi": client.get("/openapi.json"),
        "docs asset": client.get("/docs/static/swagger-ui.css"),
    }
    for where, response in answers.items():
        _secure(response, where)
        assert "default-src 'none'" in response.headers["Content-Security-Policy"], where


def test_the_docs_page_may_run_only_its_own_scripts(client: FlaskClient) -> None:
    docs = client.get("/docs")
    _secure(docs, "docs")
    policy = docs.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy)
    assert script_src is not None and "'unsafe-inline'" not in script_src.group(1)
    inline = re.findall(rb"<script>(.*?)</script>", docs.get_data(), re.DOTALL)
    assert inline, "the docs page has its inline start-up script"
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in script_src.group(1)
    assert "'sha256-" + base64.b64encode(hashlib.sha256(b"alert(1)").digest()).decode() not in policy
