"""Heartbeat records for tests that stand in for a worker process's own beats."""

from __future__ import annotations

from typing import Any

from scene_weaver.heartbeats import Heartbeat

__all__ = ["beat_of"]


def beat_of(runner_id: str, **extra: Any) -> Heartbeat:
    """A running worker process's heartbeat (8 threads, every scene queue), ``extra`` overriding."""
    fields: dict[str, Any] = {
        "runner_id": runner_id, "node": f"{runner_id}@host", "hostname": "host", "pid": 1,
        "queues": ("high", "default", "low"), "concurrency": 8, "in_flight": 0,
        "started_at": "2026-01-01T00:00:00.000Z", "beat_at": "2026-01-01T00:00:00.000Z",
    }
    return Heartbeat(**{**fields, **extra})
