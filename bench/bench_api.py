"""Submit latency: ``POST /v1/process`` against a bare Flask endpoint, same gunicorn settings.

    .venv/bin/python bench/bench_api.py [--requests 2000] [--concurrency 8] [--rounds 4]

Both apps run under ``api/gunicorn_conf.py`` with the same worker count (``--workers``, 2)
on loopback; the same number of requests is sent at the same fixed concurrency (one
keep-alive session per client thread). Both are warmed up first and the warm-up is not
counted. The measured requests are sent in ``--rounds`` rounds, ours and the bare app's
alternating (ABBA...), so a change in the machine's load during the run (it is shared)
falls on both alike. Ours authenticates (JWT), validates, rate-limits (limit raised out of
the way), writes the job record and enqueues it on Redis; no worker runs, so the queue only
grows. Prints one JSON line: p50 and p99 of both, the ratios (target: p99 within 2x), and
what one submit costs Redis: its commands and its read events (``INFO stats``
``total_reads_processed``: one per request a client sends, a pipeline or a script being
one; the round trips) over the measured requests. ``process_cpu_ms`` and ``bare_cpu_ms`` are
the CPU time (user + system) the gunicorn workers spent per request: unlike latency, they
hardly move with what else the (shared) machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import _stop, children_of, cpu_seconds, run_clients  # noqa: E402
from scene_weaver.stack import EmbeddedRedis, free_port  # noqa: E402
from scene_weaver.users import UserStore  # noqa: E402

GUNICORN_CONFIG = str(ROOT / "api" / "gunicorn_conf.py")
SECRET = "bench-secret-bench-secret-bench-secret-0123"
USER, PASSWORD = "bench", "bench-password-0123"
# The API as the benchmarks run it: development, and the limits out of the way.
API_ENV = {"SCENE_WEAVER_ENV": "development", "JWT_SECRET_KEY": SECRET,
           "RATE_LIMIT_PROCESS": "1000000/minute", "RATE_LIMIT_LOGIN": "1000/minute"}
BODY = {"speaker": "Iris", "dialogue": ["Is the sea awake tonight?"],
        "narration": "The lighthouse stairs at night, a lamp swinging.", "style": "noir"}


def _serve(app: str, env: dict[str, str], cwd: Path, workers: int = 2) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "--bind",
                             f"127.0.0.1:{port}", "--workers", str(workers), app], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/health/live", timeout=5).status_code == 200:  # noqa: PLR2004
                    return proc, base
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn for {app} exited with {proc.returncode}")
            time.sleep(0.2)
        raise TimeoutError(f"gunicorn for {app} did not answer")
    except BaseException:
        _stop(proc)
        raise


def serve_api(env: dict[str, str], client: redis.Redis, workers: int = 2) -> tuple[subprocess.Popen[bytes], str, str]:
    """The API under gunicorn (``API_ENV`` over ``env``), the bench user, and its access token."""
    UserStore(client, rounds=4).add(USER, PASSWORD)
    proc, base = _serve("api.wsgi:app", {**env, **API_ENV}, ROOT, workers)
    try:
        token = requests.post(base + "/v1/auth/login", json={"username": USER, "password": PASSWORD},
                              timeout=10).json()["access_token"]
    except BaseException:
        _stop(proc)
        raise
    return proc, base, token


def measure(url: str, headers: dict[str, str], total: int, concurrency: int) -> list[float]:
    """Latencies (seconds) of ``total`` POSTs sent by ``concurrency`` threads; every answer must be 202."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def client() -> None:
        with requests.Session() as session:
            for _ in iter(lambda: next(counter, None), None):
                started = time.perf_counter()
                response = session.post(url, json=BODY, headers=headers, timeout=30)
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status_code != 202:  # noqa: PLR2004
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    latencies.append(elapsed)

    run_clients(client, concurrency, failures, "requests were not accepted")
    return latencies


def _quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _redis_counts(client: redis.Redis) -> tuple[int, int]:
    stats: Any = client.info("stats")
    return int(stats["total_commands_processed"]), int(stats["total_reads_processed"])


def interleaved(targets: dict[str, str], headers: dict[str, str], total: int, *, concurrency: int, rounds: int,
                between: Callable[[str, int], None] | None = None) -> dict[str, list[float]]:
    """Latencies per target: ``total`` requests each, sent in ``rounds`` rounds whose order
    alternates (A B, B A, ...); ``between(name, sent)`` runs after each target's share."""
    names = list(targets)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    share = max(1, total // rounds)
    for index in range(rounds):
        for name in (names if index % 2 == 0 else names[::-1]):
            latencies[name] += measure(targets[name], headers, share, concurrency)
            if between is not None:
                between(name, share)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds the requests are split into")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, for both apps")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as server:
        home = Path(tmp) / "home"
        env = {**os.environ, "REDIS_URL": server.url, "SCENE_WEAVER_HOME": str(home),
               "IMAGE_STORE_DIR": str(home / "images")}
        client = redis.Redis.from_url(server.url)
        ours, ours_base, token = serve_api(env, client, args.workers)
        try:
            bare, bare_base = _serve("bare_app:app", {**env, **API_ENV}, ROOT / "bench", args.workers)
        except BaseException:
            _stop(ours)
            raise
        try:
            auth = {"Authorization": f"Bearer {token}"}
            targets = {"ours": ours_base + "/v1/process", "bare": bare_base + "/v1/process"}
            warm = max(50, args.requests // 20)
            for url in targets.values():
                measure(url, auth, warm, args.concurrency)
            # Only ours talks to Redis; the counts are taken around each of its rounds (the
            # INFO calls themselves are one command and one read each).
            spent = {"commands": 0, "reads": 0, "requests": 0}
            before = [_redis_counts(client)]
            masters = {"ours": ours.pid, "bare": bare.pid}
            cpu = dict.fromkeys(masters, 0.0)
            cpu_from = {name: cpu_seconds(children_of(pid)) for name, pid in masters.items()}

            def count(name: str, sent: int) -> None:
                now = _redis_counts(client)
                if name == "ours":
                    spent["commands"] += now[0] - before[0][0] - 1
                    spent["reads"] += now[1] - before[0][1] - 1
                    spent["requests"] += sent
                before[0] = now
                used = cpu_seconds(children_of(masters[name]))
                cpu[name] += used - cpu_from[name]
                cpu_from[name] = used

            latencies = interleaved(targets, auth, args.requests, concurrency=args.concurrency, rounds=args.rounds,
                                    between=count)
        finally:
            _stop(ours)
            _stop(bare)
            client.close()
    ours_p50, ours_p99 = _quantiles(latencies["ours"])
    bare_p50, bare_p99 = _quantiles(latencies["bare"])
    print(json.dumps({"bench": "api_latency", "requests": len(latencies["ours"]), "concurrency": args.concurrency,
                      "rounds": args.rounds, "gunicorn_workers": args.workers,
                      "process_p50_ms": round(ours_p50 * 1000, 2), "process_p99_ms": round(ours_p99 * 1000, 2),
                      "bare_p50_ms": round(bare_p50 * 1000, 2), "bare_p99_ms": round(bare_p99 * 1000, 2),
                      "p50_ratio": round(ours_p50 / bare_p50, 2), "p99_ratio": round(ours_p99 / bare_p99, 2),
                      "process_cpu_ms": round(cpu["ours"] * 1000 / len(latencies["ours"]), 3),
                      "bare_cpu_ms": round(cpu["bare"] * 1000 / len(latencies["bare"]), 3),
                      "redis_commands_per_submit": round(spent["commands"] / spent["requests"], 2),
                      "redis_round_trips_per_submit": round(spent["reads"] / spent["requests"], 2)}),
          flush=True)


if __name__ == "__main__":
    main()
