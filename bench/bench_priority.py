"""Queue wait by priority under a backlog: what a high, a normal and a low job wait behind queued work.

    .venv/bin/python bench/bench_priority.py [--backlog 300] [--latency 0.05] [--slots 2] [--rate 6]

One embedded Redis, the renderer at ``--latency`` s a picture, gunicorn, and one worker
process with ``--slots`` threads; every job goes through the HTTP API. First a backlog of
``--backlog`` jobs, half low and half normal, is queued while no worker runs; then the
worker starts and, while that backlog lasts (at most ``--max-probe-seconds``), probe jobs
are submitted at ``--rate`` a second, high, normal and low in turn. A probe's queue wait is
``started_at - created_at`` of its job record. Prints one JSON line whose
``wait_by_priority`` holds p50, p95 (seconds) and n per priority; a high job should wait
about one job time, a normal one for the normal backlog ahead of it, a low one for all of it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_api import _serve  # noqa: E402
from bench.bench_batches import Client, _seconds  # noqa: E402
from bench.bench_pipeline import _start, _stop, _worker_args  # noqa: E402
from scene_weaver.constants import SCENE_QUEUES  # noqa: E402
from scene_weaver.stack import EmbeddedRedis, free_port  # noqa: E402

PRIORITIES = ("high", "normal", "low")
BACKLOG_QUEUES = ("default", "low")  # where the normal and low backlog waits (workers.queues)


def _scene(tag: str, priority: str) -> dict[str, str]:
    # Every scene differs: a repeated one would be served from the result cache, not queued.
    return {"speaker": "Iris", "dialogue": f"{tag}: is the sea awake tonight?", "priority": priority}


def summarise(waits: list[float]) -> dict[str, Any]:
    """p50 and p95 (seconds) and how many; null quantiles with fewer than two waits."""
    if len(waits) < 2:  # noqa: PLR2004 - a quantile needs two values
        only = round(waits[0], 3) if waits else None
        return {"p50": only, "p95": only, "n": len(waits)}
    cuts = statistics.quantiles(waits, n=20, method="inclusive")
    return {"p50": round(statistics.median(waits), 3), "p95": round(cuts[18], 3), "n": len(waits)}


def backlog_depth(client: redis.Redis) -> int:
    return sum(int(client.llen(queue)) for queue in BACKLOG_QUEUES)


def probe(api: Client, depth: Any, *, rate: float, max_seconds: float) -> list[tuple[str, str]]:
    """(priority, job id) of probes sent at ``rate`` a second while ``depth()`` is above zero."""
    sent: list[tuple[str, str]] = []
    started = time.monotonic()
    turns = itertools.cycle(PRIORITIES)
    for index in range(int(rate * max_seconds) + 1):
        due = started + index / rate
        time.sleep(max(0.0, due - time.monotonic()))
        # At least one full turn, then only while there is a backlog to wait behind.
        if index >= len(PRIORITIES) and (index % len(PRIORITIES) == 0 and depth() == 0):
            break
        priority = next(turns)
        sent.append((priority, api.post("/v1/process", _scene(f"probe {index}", priority))["job_id"]))
    return sent


def queue_waits(api: Client, probes: list[tuple[str, str]], timeout: float) -> dict[str, list[float]]:
    """Each probe's started_at - created_at, by priority, once all have started (or ``timeout``)."""
    waits: dict[str, list[float]] = {priority: [] for priority in PRIORITIES}
    pending = dict((job_id, priority) for priority, job_id in probes)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = api.get(f"/v1/jobs/{job_id}")
            if job["started_at"]:
                waits[pending.pop(job_id)].append(_seconds(job["started_at"]) - _seconds(job["created_at"]))
        if pending:
            time.sleep(0.2)
    if pending:
        raise TimeoutError(f"{len(pending)} probe jobs had not started after {timeout} s")
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=300, help="jobs queued before the worker starts (half low)")
    parser.add_argument("--latency", type=float, default=0.05, help="the renderer's seconds a picture")
    parser.add_argument("--slots", type=int, default=2, help="threads of the one worker process")
    parser.add_argument("--rate", type=float, default=6.0, help="probe jobs a second, high/normal/low in turn")
    parser.add_argument("--max-probe-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="for the last probe to start")
    args = parser.parse_args()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as server:
        home = Path(tmp) / "home"
        renderer_port = free_port()
        env = {**os.environ, "REDIS_URL": server.url, "SEMANTEST_URL": f"ws://127.0.0.1:{renderer_port}/ws",
               "SCENE_WEAVER_HOME": str(home), "IMAGE_STORE_DIR": str(home / "images"),
               "SCENE_WEAVER_ENV": "development", "WORKER_CONCURRENCY": str(args.slots),
               "RATE_LIMIT_PROCESS": "100000/minute", "RATE_LIMIT_LOGIN": "1000/minute",
               "HIGH_PRIORITY_ALLOWED": "*", "JWT_SECRET_KEY": "bench-secret-bench-secret-0123456789abcdef"}
        client = redis.Redis.from_url(server.url)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(_start([sys.executable, "-m", "scene_weaver.renderer", "--port", str(renderer_port),
                                 "--latency", str(args.latency), "--max-in-flight", "64"], env,
                                "renderer listening on"))
            gunicorn, base = _serve("api.wsgi:app", env, ROOT, workers=1)
            procs.append(gunicorn)
            api = Client(base, "demo", "demo-password")
            lows = args.backlog // 2
            backlog = [_scene(f"backlog {i}", "low" if i < lows else "normal") for i in range(args.backlog)]
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda scene: api.post("/v1/process", scene), backlog))
            queued = backlog_depth(client)
            procs.append(_start(_worker_args("workers.main") + ["-c", str(args.slots), "--loglevel", "INFO",
                                                                  "-Q", ",".join(SCENE_QUEUES)], env, "ready."))
            probing = time.monotonic()
            probes = probe(api, lambda: backlog_depth(client), rate=args.rate, max_seconds=args.max_probe_seconds)
            probe_seconds = time.monotonic() - probing
            waits = queue_waits(api, probes, args.timeout)
        finally:
            for proc in reversed(procs):
                _stop(proc)
            client.close()
    print(json.dumps({
        "bench": "priority_wait", "backlog": {"low": lows, "normal": args.backlog - lows, "queued": queued},
        "latency_s": args.latency, "slots": args.slots, "worker_processes": 1, "probe_rate": args.rate,
        "probe_seconds": round(probe_seconds, 1),
        "wait_by_priority": {priority: summarise(waits[priority]) for priority in PRIORITIES},
        "seconds": round(time.monotonic() - begun, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
