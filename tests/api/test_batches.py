"""POST /batch and /batches over a real Redis, no workers: validation, nothing half-made,
counts, items, results, cancel and visibility."""

from __future__ import annotations

import json

import pytest
import redis
import websocket
from flask.testing import FlaskClient

from api.app import create_app
from bench.bench_script import make_script
from scene_weaver import keys
from scene_weaver.settings import Settings

from .conftest import login

pytestmark = pytest.mark.redis_server


def _counts_add_up(body: dict) -> None:
    counts = body["request_counts"]
    assert sum(counts[name] for name in ("queued", "running", "succeeded", "failed", "canceled")) == counts["total"]


def _batch_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match=keys.batch("*")))


def test_a_script_becomes_a_batch_of_ordered_items(client: FlaskClient) -> None:
    headers = login(client)
    script = make_script(60)
    response = client.post("/v1/batch", json={"script": script, "priority": "low"}, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    accepted = response.get_json()
    assert response.headers["Location"] == accepted["links"]["self"]
    batch_id = accepted["batch_id"]
    batch = client.get(f"/v1/batches/{batch_id}", headers=headers).get_json()
    assert batch["status"] == "in_progress"
    assert batch["priority"] == "low"
    assert batch["warnings"] and {"line", "code", "message"} <= set(batch["warnings"][0])
    _counts_add_up(batch)
    total = batch["request_counts"]["total"]
    assert total >= 60
    lines = client.get(f"/v1/batches/{batch_id}/results", headers=headers).get_data(as_text=True).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["index"] for row in rows] == list(range(total))
    assert all(row["status"] == "queued" and row["image_url"] is None for row in rows)
    page = client.get(f"/v1/batches/{batch_id}/items?limit=7", headers=headers).get_json()
    assert [item["index"] for item in page["items"]] == list(range(7))
    assert page["items"][0]["batch_id"] == batch_id and page["items"][0]["group"]
    assert page["items"][0]["job_id"] == rows[0]["job_id"]
    job = client.get(f"/v1/jobs/{rows[3]['job_id']}", headers=headers).get_json()
    assert (job["batch_id"], job["index"]) == (batch_id, 3)
    following = client.get(f"/v1/batches/{batch_id}/items?limit=7&cursor={page['next_cursor']}",
                           headers=headers).get_json()
    assert [item["index"] for item in following["items"]] == list(range(7, 14))
    listing = client.get("/v1/batches", headers=headers).get_json()
    assert [b["batch_id"] for b in listing["batches"]] == [batch_id]


def test_cancel_without_workers_cancels_every_item(client: FlaskClient) -> None:
    headers = login(client)
    entries = [{"speaker": "Iris", "dialogue": f"line {i}"} for i in range(12)]
    batch_id = client.post("/v1/batch", json={"entries": entries}, headers=headers).get_json()["batch_id"]
    canceled = client.post(f"/v1/batches/{batch_id}/cancel", headers=headers)
    assert canceled.status_code == 200, canceled.get_data(as_text=True)
    body = canceled.get_json()
    assert body["status"] == "canceled" and body["completed_at"]
    assert body["request_counts"]["canceled"] == 12
    _counts_add_up(body)
    page = client.get(f"/v1/batches/{batch_id}/items?status=canceled&limit=5", headers=headers).get_json()
    assert [item["index"] for item in page["items"]] == [0, 1, 2, 3, 4] and page["next_cursor"] == "5"
    assert all(item["status"] == "canceled" for item in page["items"])
    none = client.get(f"/v1/batches/{batch_id}/items?status=succeeded", headers=headers).get_json()
    assert none == {"items": [], "next_cursor": None}
    assert client.post(f"/v1/batches/{batch_id}/cancel", headers=headers).get_json()["status"] == "canceled"
    events = client.get(f"/v1/batches/{batch_id}/events", headers=headers).get_data(as_text=True)
    assert "event: completed" in events and '"status":"canceled"' in events


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"script": "   \n"}, 422, "script_empty", "script"),
    ({"entries": []}, 422, "no_entries", "entries"),
    ({"script": "x", "entries": [{"speaker": "a", "dialogue": "b"}]}, 422, "validation_error", "script"),
    ({"entries": [{"speaker": "Iris", "dialogue": "ok"}] * 17 + [{"speaker": "", "dialogue": "x"}]},
     422, "validation_error", "entries[17].speaker"),
    ({"entries": [{"speaker": "Iris", "dialogue": "ok"}] * 21}, 422, "too_many_entries", "entries"),
    ({"script": make_script(50), "strict": True}, 422, "script_invalid", None),
    ({"script": "[1] Iris: <<hello>>", "priority": "urgent"}, 422, "validation_error", "priority"),
])
def test_refused_batches_leave_nothing(settings: Settings, redis_client: redis.Redis, body: dict, *, status: int,
                                       code: str, field: str | None) -> None:
    app = create_app(settings.model_copy(update={"max_batch_entries": 20}))
    client = app.test_client()
    headers = login(client)
    response = client.post("/v1/batch", json=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    if field is not None:
        assert error["details"]["field"] == field
    if code == "script_invalid":
        assert all("line" in problem for problem in error["details"])
    assert _batch_keys(redis_client) == []
    assert redis_client.zcard(keys.user_jobs("demo")) == 0


def test_body_limit_of_batch_is_its_own(settings: Settings, redis_client: redis.Redis) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 4096, "max_batch_bytes": 64 * 1024}))
    client = app.test_client()
    headers = login(client)
    script = make_script(20)
    assert 4096 < len(script) < 64 * 1024
    assert client.post("/v1/batch", json={"script": script}, headers=headers).status_code == 202
    huge = client.post("/v1/batch", json={"script": script * 8}, headers=headers)
    assert huge.status_code == 413
    assert huge.get_json()["error"]["code"] == "payload_too_large"
    assert client.post("/v1/parse", json={"script": script}, headers=headers).status_code == 413


def test_another_users_batch_is_a_404_and_idempotency_gives_the_same_batch(client: FlaskClient) -> None:
    demo = login(client)
    body = {"entries": [{"speaker": "Iris", "dialogue": "hello"}]}
    first = client.post("/v1/batch", json=body, headers={**demo, "Idempotency-Key": "k1"})
    again = client.post("/v1/batch", json=body, headers={**demo, "Idempotency-Key": "k1"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    batch_id = first.get_json()["batch_id"]
    assert again.get_json()["batch_id"] == batch_id
    other = client.post("/v1/batch", json={"entries": body["entries"] * 2}, headers={**demo, "Idempotency-Key": "k1"})
    assert other.status_code == 409
    mallory = login(client, "mallory", "mallory-password")
    for path in ("", "/items", "/results", "/events"):
        response = client.get(f"/v1/batches/{batch_id}{path}", headers=mallory)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "batch_not_found"
    assert client.post(f"/v1/batches/{batch_id}/cancel", headers=mallory).status_code == 404
    assert client.get("/v1/batches", headers=mallory).get_json()["batches"] == []
    assert client.get(f"/batches/{batch_id}", headers=demo).status_code == 200


def _sse_events(text: str) -> list[dict]:
    events = []
    for frame in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append({"id": fields["id"], "type": fields["event"], "data": json.loads(fields["data"])})
    return events


def test_batch_events_over_sse_replay_from_an_id_and_over_the_websocket(client: FlaskClient, served: str) -> None:
    headers = login(client)
    entries = [{"speaker": "Iris", "dialogue": f"line {i}"} for i in range(5)]
    batch_id = client.post("/v1/batch", json={"entries": entries}, headers=headers).get_json()["batch_id"]
    token = headers["Authorization"].split()[1]
    ws = websocket.create_connection(f"{served}/v1/ws?token={token}", timeout=20)
    try:
        assert json.loads(ws.recv())["type"] == "welcome"
        ws.send(json.dumps({"type": "subscribe", "batch_id": batch_id}))
        assert json.loads(ws.recv()) == {"type": "subscribed", "batch_id": batch_id, "after": "0"}
        first = json.loads(ws.recv())
        assert first["type"] == "batch_event" and first["event"]["type"] == "counts"
        assert client.post(f"/v1/batches/{batch_id}/cancel", headers=headers).status_code == 200
        live = [first["event"]]
        while live[-1]["type"] != "completed":
            message = json.loads(ws.recv())
            if message["type"] == "batch_event":
                live.append(message["event"])
    finally:
        ws.close()
    assert live[-1]["data"]["status"] == "canceled" and live[-1]["data"]["batch_id"] == batch_id
    items = [event["data"] for event in live if event["type"] == "item"]
    assert sorted(item["index"] for item in items) == list(range(5))
    assert all(item["status"] == "canceled" for item in items)
    for event in live:
        if event["type"] == "counts":
            counts = event["data"]["request_counts"]
            assert sum(counts[n] for n in ("queued", "running", "succeeded", "failed", "canceled")) == 5
    replay = _sse_events(client.get(f"/v1/batches/{batch_id}/events", headers=headers).get_data(as_text=True))
    assert [e["id"] for e in replay] == [e["id"] for e in live]
    assert replay[-1]["type"] == "completed" and replay[-1]["data"]["links"]["self"].endswith(batch_id)
    middle = replay[4]["id"]
    rest = _sse_events(client.get(f"/v1/batches/{batch_id}/events", headers={**headers, "Last-Event-ID": middle})
                       .get_data(as_text=True))
    assert [e["id"] for e in rest] == [e["id"] for e in replay[5:]]
