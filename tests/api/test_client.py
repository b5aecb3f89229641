"""``SceneWeaverClient`` against the real app on a loopback server: tokens refreshed on expiry and
kept 0600, errors with the API's codes, and live events that resume after a dropped connection."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask, Response, request
from flask_jwt_extended import create_access_token
from werkzeug.serving import make_server

from scene_weaver.client import (
    ApiError,
    Credentials,
    NotLoggedIn,
    SceneWeaverClient,
    ServerUnavailable,
    TokenStore,
)
from scene_weaver.jobs import JobStore
from scene_weaver.stack import free_port
from tests.support.serving import serve_app

pytestmark = pytest.mark.redis_server


@pytest.fixture
def base(app: Flask) -> Iterator[str]:
    with serve_app(app) as ws_base:
        yield ws_base.replace("ws://", "http://")


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "config" / "scene-weaver" / "credentials.json")


def test_login_stores_tokens_readable_by_the_user_only(base: str, tokens: TokenStore) -> None:
    with SceneWeaverClient(base, tokens=tokens) as client:
        with pytest.raises(ApiError) as refused:
            client.login("demo", "wrong")
        assert refused.value.code == "invalid_credentials" and refused.value.http_status == 401
        credentials = client.login("demo", "demo-password")
    assert tokens.load(base) == credentials and tokens.last_url() == base
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(tokens.path.parent.stat().st_mode) == 0o700


def test_expired_access_token_is_refreshed(app: Flask, base: str, tokens: TokenStore) -> None:
    with SceneWeaverClient(base, tokens=tokens) as client:
        first = client.login("demo", "demo-password")
        job = client.process({"speaker": "Iris", "dialogue": "Is the lamp awake?", "entry_id": "0001"})
        # Near its expiry by the stored clock: refreshed before the request.
        tokens.save(replace(first, access_expires_at=0))
        assert client.job(job["job_id"])["status"] == "queued"
        second = tokens.load(base)
        assert second is not None and second.access_token != first.access_token
        # Expired by the server's clock although the stored time says otherwise: token_expired, refresh, again.
        with app.app_context():
            stale = create_access_token(identity="demo", expires_delta=timedelta(seconds=-30))
        tokens.save(replace(second, access_token=stale, access_expires_at=second.access_expires_at + 3600))
        assert client.job(job["job_id"])["job_id"] == job["job_id"]
        third = tokens.load(base)
        assert third is not None and third.access_token not in (stale, second.access_token)
        # A revoked refresh token: log in again.
        client.logout()
        assert tokens.load(base) is None
        with pytest.raises(NotLoggedIn):
            client.job(job["job_id"])


def test_errors_carry_the_api_code(base: str, tokens: TokenStore) -> None:
    with SceneWeaverClient(base, tokens=tokens) as client:
        client.login("demo", "demo-password")
        with pytest.raises(ApiError) as missing:
            client.job("0" * 32)
        assert missing.value.code == "job_not_found" and missing.value.http_status == 404
        with pytest.raises(ApiError) as invalid:
            client.process({"speaker": "Iris", "dialogue": "x", "panel_count": 99})
        assert invalid.value.code == "validation_error" and invalid.value.details["field"] == "panel_count"
        with pytest.raises(ApiError) as neither:
            client.status("f" * 32)
        assert neither.value.code == "not_found"
    with SceneWeaverClient(f"http://127.0.0.1:{free_port()}", tokens=tokens) as down:
        with pytest.raises(ServerUnavailable) as unreachable:
            down.login("demo", "demo-password")
        assert unreachable.value.code == "server_unavailable"


def test_events_follow_a_job_to_its_end(base: str, tokens: TokenStore, redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    with SceneWeaverClient(base, tokens=tokens) as client:
        client.login("demo", "demo-password")
        job_id = client.process({"speaker": "Iris", "dialogue": "Watch me."})["job_id"]
        store.mark_started(job_id)
        store.set_progress(job_id, 50)
        store.fail(job_id, "content_rejected", "no")
        events = list(client.events(job_id))
    assert [event.type for event in events] == ["queued", "started", "progress", "failed"]
    assert events[-1].data["status"] == "failed" and all(event.id for event in events)


class _DroppingServer:
    """An SSE server that drops the connection after two events, then serves the rest after Last-Event-ID."""

    EVENTS = [(f"{n}-0", "progress" if n < 4 else "completed", n * 25) for n in range(1, 5)]

    def __init__(self) -> None:
        self.last_event_ids: list[str | None] = []
        app = Flask(__name__)

        @app.get("/v1/jobs/<job_id>/events")
        def events(job_id: str) -> Response:
            last = request.headers.get("Last-Event-ID")
            self.last_event_ids.append(last)
            first = len(self.last_event_ids) == 1
            after = [event for event in self.EVENTS if last is None or event[0] > last]

            def frames() -> Iterator[str]:
                for number, (event_id, kind, progress) in enumerate(after):
                    status = "succeeded" if kind == "completed" else "generating"
                    yield f"id: {event_id}\nevent: {kind}\ndata: " + json.dumps(
                        {"status": status, "progress": progress}) + "\n\n"
                    if first and number == 1:
                        raise ConnectionAbortedError("dropped")  # werkzeug closes the socket mid-stream

            return Response(frames(), mimetype="text/event-stream")

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.thread.join(10)


def test_events_resume_after_a_dropped_connection(tokens: TokenStore) -> None:
    dropping = _DroppingServer()
    with dropping as url, SceneWeaverClient(url, tokens=tokens, sleep=lambda _s: None) as client:
        tokens.save(Credentials(url, "demo", "access", "refresh", access_expires_at=4102444800))
        seen = [(event.id, event.type, event.data["progress"]) for event in client.events("a" * 32)]
    assert seen == [("1-0", "progress", 25), ("2-0", "progress", 50), ("3-0", "progress", 75),
                    ("4-0", "completed", 100)]
    assert dropping.last_event_ids == [None, "2-0"]
