"""What ``/health`` says about Semantest: the fleet-wide breaker and the sessions
the worker processes report (each publishes its counts every few seconds)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from .. import keys
from ..settings import Settings
from .breaker import CircuitBreaker

__all__ = ["semantest_status", "STALE_AFTER"]

# A process that has not published for this long is gone (killed, or its host is).
STALE_AFTER = 30.0


def semantest_status(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    breaker = CircuitBreaker.from_settings(client, settings, probe_ttl=1.0).state()
    now = time.time()
    live: list[dict[str, Any]] = []
    for raw in client.hgetall(keys.semantest_sessions()).values():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and now - float(record.get("ts", 0)) <= STALE_AFTER:
            live.append(record)
    return {
        "dialect": settings.semantest_dialect,
        "url": settings.semantest_url,
        "breaker": breaker,
        "worker_processes": len(live),
        "sessions_connected": sum(int(r.get("connected", 0)) for r in live),
        "in_flight": sum(int(r.get("in_flight", 0)) for r in live),
    }
