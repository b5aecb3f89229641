"""POST /parse, the SSE stream with replay, the OpenAPI document and /docs."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from .conftest import login, submit

SCRIPT = "[0001] Evan: <<What is a lighthouse without the sea?>>\n[0002] Iris: <<A candle that forgot.>>\n"


def test_parse_answers_entries(client: FlaskClient) -> None:
    response = client.post("/v1/parse", json={"script": SCRIPT}, headers=login(client))
    assert response.status_code == 200
    body = response.get_json()
    assert body["format"] == "bracketed" and body["stats"]["entries"] == 2
    assert [e["speaker"] for e in body["entries"]] == ["Evan", "Iris"]


def test_parse_strict_lists_every_warning(client: FlaskClient) -> None:
    headers = login(client)
    loose = client.post("/v1/parse", json={"script": "just some prose, no entries", "format": "bracketed"},
                        headers=headers)
    assert loose.status_code == 200 and loose.get_json()["warnings"]
    strict = client.post("/v1/parse", json={"script": "just some prose, no entries", "strict": True},
                         headers=headers)
    assert strict.status_code == 422
    error = strict.get_json()["error"]
    assert error["code"] == "script_invalid" and len(error["details"]) == len(loose.get_json()["warnings"])
    bad = client.post("/v1/parse", json={"script": "x", "format": "docx"}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["field"] == "format"


def _frames(text: str) -> list[dict[str, str]]:
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "id" in fields:
            frames.append(fields)
    return frames


def test_sse_streams_until_terminal_and_replays_after_last_event_id(client: FlaskClient, app: Flask) -> None:
    headers = login(client)
    job_id = submit(client, headers)
    store = app.extensions["scene_weaver"].jobs
    store.mark_started(job_id)
    store.set_progress(job_id, 40, "drawing")
    store.succeed(job_id, {"sha256": "0" * 64, "mime_type": "image/png", "width": 1, "height": 1})
    response = client.get(f"/v1/jobs/{job_id}/events", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    frames = _frames(response.get_data(as_text=True))
    assert [f["event"] for f in frames] == ["queued", "started", "progress", "completed"]
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))

    replay = client.get(f"/v1/jobs/{job_id}/events", headers={**headers, "Last-Event-ID": ids[1]})
    assert [f["id"] for f in _frames(replay.get_data(as_text=True))] == ids[2:]
    by_query = client.get(f"/v1/jobs/{job_id}/events?last_event_id={ids[2]}", headers=headers)
    assert [f["id"] for f in _frames(by_query.get_data(as_text=True))] == ids[3:]
    past_the_end = client.get(f"/v1/jobs/{job_id}/events", headers={**headers, "Last-Event-ID": ids[3]})
    assert _frames(past_the_end.get_data(as_text=True)) == []
    bad = client.get(f"/v1/jobs/{job_id}/events", headers={**headers, "Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_event_id"


def test_openapi_documents_every_route(client: FlaskClient, app: Flask) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        # Static files (the app's, /docs' and the gallery page's script and stylesheet) are no API.
        if (endpoint.startswith(("static", "openapi.docs_static")) or endpoint.endswith(".static")
                or "_bare" in endpoint or "ws." in endpoint):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)
    process = spec["paths"]["/v1/process"]["post"]
    assert process["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProcessRequest"}
    assert {"202", "200", "401", "409", "413", "415", "422", "429", "503"} <= set(process["responses"])
    assert "webhook_url" in spec["components"]["schemas"]["ProcessRequest"]["properties"]
    listing = {p["name"] for p in spec["paths"]["/v1/jobs"]["get"]["parameters"]}
    assert {"limit", "cursor", "offset", "status"} <= listing
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert set(spec["paths"]["/health"]["get"]["responses"]) == {"200", "503"}
    # Liveness never consults Redis, so it has no 503 to document.
    assert set(spec["paths"]["/health/live"]["get"]["responses"]) == {"200"}
    # Retry-After is documented where it is sent: on refusals, not on the 202.
    assert "Retry-After" not in process["responses"]["202"]["headers"]
    assert "X-RateLimit-Remaining" in process["responses"]["202"]["headers"]
    assert "Retry-After" in process["responses"]["429"]["headers"]
    assert "Retry-After" in process["responses"]["503"]["headers"]


def test_docs_page_is_self_contained(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.get_data(as_text=True)
    assert "//" not in page.get_data(as_text=True).split("<script src=\"")[1].split("\"")[0]
    bundle = client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.data) > 100_000
    bundle.close()
    assert client.get("/docs/static/../../etc/passwd").status_code == 404
