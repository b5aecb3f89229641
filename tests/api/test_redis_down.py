"""A stopped Redis gives 503 with Retry-After on every route, never a 500; liveness still answers."""

from __future__ import annotations

from pathlib import Path

from flask_jwt_extended import create_access_token

from api.app import create_app
from scene_weaver.settings import Settings
from scene_weaver.stack import free_port

from .conftest import SECRET


def test_redis_outage_is_503(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(Settings.from_env({"REDIS_URL": url, "SCENE_WEAVER_HOME": str(tmp_path),
                                        "JWT_SECRET_KEY": SECRET}))
    client = app.test_client()
    with app.app_context():
        auth = {"Authorization": f"Bearer {create_access_token('demo')}"}
    cases = [
        client.post("/v1/auth/login", json={"username": "demo", "password": "demo-password"}),
        client.get("/v1/jobs", headers=auth),
        client.post("/v1/parse", json={"script": "[1] A: b"}, headers=auth),
        client.post("/v1/process", json={"speaker": "A", "dialogue": "b"}, headers=auth),
        client.get("/v1/config", headers=auth),
        client.get("/v1/stats", headers=auth),
    ]
    for response in cases:
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.get_json()["error"]["code"] == "redis_unavailable"
        assert response.headers["Retry-After"]
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["failing"] == ["redis", "workers"]
    # The process itself is fine: an orchestrator must not restart it for Redis's sake.
    live = client.get("/health/live")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}
