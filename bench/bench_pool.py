"""Throughput of one SessionPool against the local renderer, next to the ideal S / L.

    .venv/bin/python bench/bench_pool.py [--latency 0.2] [--slots 16 64] [--rounds 30]

Starts a renderer (``--latency L --max-in-flight 8``) and a private Redis (or uses
``REDIS_URL``), then for each slot count S drives a pool of S/8 sessions from S threads
over ``rounds × S`` requests (30 × S by default: about 6 s at L = 0.2, so the ramp-up and the tail of the last round weigh little against the steady state), printing one JSON line per S.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scene_weaver.semantest import GenerationRequest, SessionPool  # noqa: E402
from scene_weaver.settings import Settings  # noqa: E402
from scene_weaver.stack import EmbeddedRedis, free_port  # noqa: E402

MAX_IN_FLIGHT = 8
SIDE = 64  # small pictures: this measures the pool, not Pillow


def start_renderer(port: int, latency: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scene_weaver.renderer", "--host", "127.0.0.1", "--port", str(port),
         "--latency", str(latency), "--max-in-flight", str(MAX_IN_FLIGHT)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "renderer listening on" in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc
    raise SystemExit(f"renderer exited with {proc.wait()}")


def run_requests(pool: SessionPool, threads: int, total: int) -> float:
    """Seconds to push ``total`` requests through ``threads`` threads."""
    remaining = iter(range(total))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                index = next(remaining, None)
            if index is None:
                return
            req = GenerationRequest(request_id=uuid.uuid4().hex, prompt=f"bench scene {index}",
                                    negative_prompt="", width=SIDE, height=SIDE)
            try:
                pool.generate(req)
            except BaseException as exc:  # noqa: BLE001 - counted and reported
                errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]!r}")
    return elapsed


def bench(url: str, client: redis.Redis, slots: int, latency: float, rounds: int) -> dict[str, float]:
    settings = Settings(
        semantest_url=url, semantest_pool_size=max(1, slots // MAX_IN_FLIGHT),
        semantest_max_in_flight_global=slots, semantest_request_timeout=30.0,
    )
    pool = SessionPool.from_settings(settings, client)
    try:
        run_requests(pool, slots, slots)  # warm up: connect and handshake every session
        total = rounds * slots
        elapsed = run_requests(pool, slots, total)
    finally:
        pool.close()
    measured = total / elapsed
    ideal = slots / latency
    return {"S": slots, "L": latency, "measured": round(measured, 1), "ideal": round(ideal, 1),
            "ratio": round(measured / ideal, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--slots", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        embedded = None
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            embedded = EmbeddedRedis(Path(tmp), appendonly=False).start()
            redis_url = embedded.url
        port = free_port()
        renderer = start_renderer(port, args.latency)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            for slots in args.slots:
                print(json.dumps(bench(f"ws://127.0.0.1:{port}/ws", client, slots, args.latency, args.rounds)),
                      flush=True)
        finally:
            client.close()
            renderer.kill()
            renderer.wait()
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()
