"""The API as served: gunicorn with the project's config (``api/gunicorn_conf.py``), as
``scene-weaver up`` and compose start it. Security headers on every answer, gunicorn's own
errors in the JSON error model, no server banner, no token in the access log."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
import websocket

from scene_weaver.stack import free_port
from scene_weaver.stack.supervisor import GUNICORN_CONFIG
from tests.e2e.processes import PYTHON, ROOT, Proc, http_answers, wait_until

pytestmark = pytest.mark.e2e

SECRET = "gunicorn-test-secret-gunicorn-test-secret-0123"


class Served:
    def __init__(self, proc: Proc, port: int) -> None:
        self.proc, self.port = proc, port
        self.base = f"http://127.0.0.1:{port}"

    def raw(self, request: bytes) -> tuple[str, dict[str, str], bytes]:
        """Send bytes as they are; the status line, headers and body of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
        return status, headers, body

    def login(self) -> str:
        response = requests.post(self.base + "/v1/auth/login", json={"username": "demo", "password": "demo-password"},
                                 timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def served(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    redis.Redis.from_url(redis_url).flushdb()
    home: Path = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "SCENE_WEAVER_ENV": "development", "SCENE_WEAVER_HOME": str(home),
           "JWT_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1"}
    # The command line of scene-weaver up (scene_weaver/stack/supervisor.py).
    proc = Proc("api", [PYTHON, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "--bind", f"127.0.0.1:{port}",
                        "--workers", "1", "--access-logfile", "-", "api.wsgi:app"],
                env, cwd=ROOT).start()
    try:
        def answering() -> bool:
            if not proc.alive:
                raise RuntimeError(f"gunicorn exited:\n{proc.tail()}")
            return http_answers(f"http://127.0.0.1:{port}/openapi.json")

        wait_until(answering, 60, what="gunicorn")
        yield Served(proc, port)
    finally:
        proc.stop()


def _assert_secure(headers: dict[str, str], where: str) -> None:
    lowered = {name.lower(): value for name, value in headers.items()}
    assert lowered.get("x-content-type-options") == "nosniff", where
    assert "frame-ancestors 'none'" in lowered.get("content-security-policy", ""), where
    assert lowered.get("referrer-policy") == "no-referrer", where
    assert "gunicorn" not in lowered.get("server", "").lower(), where


def test_every_answer_carries_security_headers_and_no_server_banner(served: Served) -> None:
    token = served.login()
    answers = {
        "openapi": requests.get(served.base + "/openapi.json", timeout=10),
        "docs": requests.get(served.base + "/docs", timeout=10),
        "health": requests.get(served.base + "/health", timeout=30),
        "unauthorized": requests.get(served.base + "/v1/jobs", timeout=10),
        "not found": requests.get(served.base + "/nowhere", timeout=10),
        "jobs": requests.get(served.base + "/v1/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=10),
        "bad json": requests.post(served.base + "/v1/auth/login", data=b"[" * 100_000,
                                  headers={"Content-Type": "application/json"}, timeout=10),
    }
    for where, response in answers.items():
        _assert_secure(dict(response.headers), where)
    assert answers["bad json"].status_code == 400
    assert answers["bad json"].json()["error"]["code"] == "invalid_json"


def test_docs_get_a_strict_policy_that_allows_only_their_own_inline_script(served: Served) -> None:
    policy = requests.get(served.base + "/docs", timeout=10).headers["Content-Security-Policy"]
    scripts = re.search(r"script-src ([^;]*)", policy)
    assert scripts is not None
    sources = scripts.group(1).split()
    assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources and "*" not in sources
    assert "'self'" in sources and any(source.startswith("'sha256-") for source in sources)
    assert "default-src 'none'" in policy


@pytest.mark.parametrize("request_bytes, status, code", [
    (b"GET /v1/jobs?" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"NOT A REQUEST\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 10_000 + b"\r\n\r\n", 431,
     "request_header_fields_too_large"),
], ids=["uri-too-long", "garbage", "bad-header", "huge-header"])
def test_gunicorns_own_errors_are_json_with_security_headers(served: Served, request_bytes: bytes, status: int,
                                                            code: str) -> None:
    status_line, headers, body = served.raw(request_bytes)
    assert status_line.split()[1] == str(status), status_line
    assert headers.get("content-type") == "application/json"
    assert json.loads(body)["error"]["code"] == code
    _assert_secure(headers, status_line)


def test_tokens_in_urls_never_reach_the_access_log(served: Served) -> None:
    token = served.login()
    ws = websocket.create_connection(f"ws://127.0.0.1:{served.port}/v1/ws?token={token}", timeout=20)
    try:
        assert json.loads(ws.recv())["type"] == "welcome"
    finally:
        ws.close()
    refused = requests.get(f"{served.base}/v1/jobs?token={token}&limit=5", timeout=10)
    assert refused.status_code == 401  # HTTP routes take no query token at all
    served.raw(f"GET /v1/jobs?token={token} HTTP/1.1 extra\r\n\r\n".encode())  # an invalid request line
    served.proc.wait_for_line("/v1/jobs?token=[redacted]&limit=5", timeout=30)
    gallery = requests.get(f"{served.base}/v1/jobs/{'0' * 32}/gallery?exp=1&sig=SECRETSIGNATURE", timeout=10)
    assert gallery.status_code == 403
    served.proc.wait_for_line("/gallery?exp=1&sig=[redacted]", timeout=30)
    assert not any("SECRETSIGNATURE" in line for line in served.proc.output)
    served.proc.wait_for_line("Invalid HTTP Version", timeout=30)
    assert not any(token in line for line in served.proc.output), "a token reached gunicorn's log"
    signature = token.rsplit(".", 1)[1]
    assert not any(signature in line for line in served.proc.output)
