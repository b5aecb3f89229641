"""Worker heartbeats: each worker process renews one record in Redis; readers count the live ones.

A heartbeat is a JSON record under :func:`keys.worker_heartbeat` (one per worker process,
named by its runner id, the name its run locks carry) that expires ``ttl`` seconds after
its last renewal, plus an entry in the index :func:`keys.worker_heartbeats` scored by that
expiry on Redis's clock. A worker is live while its record exists, so readers need no
clock and no broadcast; the index lists workers without SCAN and keeps the runners whose
heartbeat expired (for :data:`RETENTION`), so their jobs and leases can be found and
handed back.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

import redis
from pydantic import BaseModel, ConfigDict, ValidationError

from . import keys
from .redis_text import decode

__all__ = ["Heartbeat", "HeartbeatStore", "fleet_summary", "RETENTION", "MAX_LISTED", "RUNNING", "STOPPING", "WorkerState"]

log = logging.getLogger(__name__)

# How long a runner whose heartbeat expired stays in the index: time for a reaper to hand
# back what it held. Entries older than this are dropped by the next beat of any worker.
RETENTION = 3600.0
# The most worker processes a reader looks at (the newest beats first): a bound, not a plan.
MAX_LISTED = 1000

WorkerState = Literal["running", "stopping"]
RUNNING: Final[WorkerState] = "running"
STOPPING: Final[WorkerState] = "stopping"

_BEAT = """
local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', math.floor(ttl * 1000))
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
return 1
"""

_EXPIRED = """
local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
"""


class Heartbeat(BaseModel):
    """What one worker process says about itself on every beat."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    runner_id: str
    node: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    in_flight: int
    job_ids: tuple[str, ...] = ()
    # The broker deliveries it holds (reserved, scheduled or running): the reconciler hands back
    # any unacknowledged delivery no live process names here.
    delivery_tags: tuple[str, ...] = ()
    sessions_connected: int = 0
    state: WorkerState = RUNNING
    # The port this process serves its Prometheus metrics on (WORKER_METRICS_PORT; None: none).
    metrics_port: int | None = None
    started_at: str
    beat_at: str

    @property
    def accepting(self) -> bool:
        """True unless the process is finishing its jobs before it exits (a warm shutdown)."""
        return self.state == RUNNING


class HeartbeatStore:
    def __init__(self, client: redis.Redis, *, retention: float = RETENTION) -> None:
        self.redis = client
        self.retention = retention
        self._beat = client.register_script(_BEAT)
        self._expired = client.register_script(_EXPIRED)

    def beat(self, heartbeat: Heartbeat, ttl: float) -> None:
        """Write (or renew) ``heartbeat`` for ``ttl`` seconds, and prune the index."""
        self._beat(keys=[keys.worker_heartbeat(heartbeat.runner_id), keys.worker_heartbeats()],
                   args=[heartbeat.model_dump_json(), ttl, heartbeat.runner_id, self.retention])

    def withdraw(self, runner_id: str) -> None:
        """Remove a process's heartbeat: it stopped cleanly and holds nothing."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.worker_heartbeat(runner_id))
            pipe.zrem(keys.worker_heartbeats(), runner_id)
            pipe.execute()

    def live(self) -> list[Heartbeat]:
        """Every worker process whose heartbeat has not expired (at most :data:`MAX_LISTED`)."""
        runner_ids = [decode(r) for r in self.redis.zrevrange(keys.worker_heartbeats(), 0, MAX_LISTED - 1)]
        if not runner_ids:
            return []
        records = self.redis.mget([keys.worker_heartbeat(r) for r in runner_ids])
        live: list[Heartbeat] = []
        for runner_id, raw in zip(runner_ids, records, strict=True):
            if raw is None:
                continue  # expired: the index keeps it for a while, the record is gone
            try:
                live.append(Heartbeat.model_validate_json(raw))
            except ValidationError:
                log.warning("ignoring a malformed heartbeat of %s", runner_id)
        return live

    def expired(self, limit: int = MAX_LISTED) -> list[str]:
        """Runner ids whose heartbeat expired (by Redis's clock), the longest gone first."""
        return [decode(r) for r in self._expired(keys=[keys.worker_heartbeats()], args=[limit])]


def fleet_summary(live: list[Heartbeat]) -> dict[str, int]:
    """What readiness needs: processes taking jobs, processes finishing theirs, jobs running."""
    return {
        "workers": sum(1 for h in live if h.accepting),
        "workers_stopping": sum(1 for h in live if not h.accepting),
        "jobs_in_flight": sum(h.in_flight for h in live),
    }
