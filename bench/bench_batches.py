"""Batches on the whole stack: waits beside big batches, and a 400-entry script against the ideal.

    .venv/bin/python bench/bench_batches.py [--latency 0.2] [--slots 8] [--samples 5]

One embedded Redis, the renderer at ``--latency`` s, one worker process with ``--slots``
threads, gunicorn; everything goes through the HTTP API. Prints one JSON line with:

- ``high_wait_s``: a high job's wait (created → started) while 300 low batch items wait
  (one figure per sample, and the largest); the promise is one free worker slot;
- ``other_user_wait_s``: a second user's single normal job beside the first user's
  1,000-item batch (samples and largest); the promise is a few job times;
- ``script_400``: the seconds a 400+-entry script batch takes, against the ideal
  entries × latency ÷ slots measured on the same machine in the same run;
- ``cache``: the same ``--cache-entries`` (1,000) scene batch submitted twice, each timed from
  its submission to its end: the second is served from the result cache (target: >= 20x);
- ``worker_rss_mb``: the worker process's resident memory after a 16-item batch, after the
  1,000-item one and after the script (it should not grow with batch size).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import _rss_kib, _start, _stop, _worker_args  # noqa: E402
from bench.bench_script import make_script  # noqa: E402
from scene_weaver.constants import SCENE_QUEUES  # noqa: E402
from scene_weaver.stack import EmbeddedRedis, free_port  # noqa: E402
from scene_weaver.stack.supervisor import GUNICORN_CONFIG  # noqa: E402
from scene_weaver.users import UserStore  # noqa: E402


class Client:
    def __init__(self, base: str, user: str, password: str) -> None:
        self.base = base
        token = requests.post(f"{base}/v1/auth/login", json={"username": user, "password": password},
                              timeout=10).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        response = requests.get(self.base + path, headers=self.headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any = None) -> Any:
        response = requests.post(self.base + path, json=body, headers=self.headers, timeout=60)
        response.raise_for_status()
        return response.json()

    def wait(self, what: str, check: Any, timeout: float = 300) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.05)
        raise TimeoutError(what)

    def wait_for_start(self, job_id: str) -> float:
        job = self.wait("job start", lambda: (j := self.get(f"/v1/jobs/{job_id}"))["started_at"] and j)
        return _seconds(job["started_at"]) - _seconds(job["created_at"])


def _rss_mb(pid: int) -> float:
    return round(_rss_kib(pid) / 1024, 1)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _entries(count: int, tag: str) -> list[dict[str, str]]:
    return [{"speaker": "Iris", "dialogue": f"{tag} {i}: is the sea awake?"} for i in range(count)]


def _waits_beside(waiter: Client, owner: Client, batch: dict[str, Any], job: dict[str, Any], *,
                  samples: int, slots: int) -> list[float]:
    """The waits of ``samples`` single jobs submitted one after another while ``batch`` runs."""
    batch_id = owner.post("/v1/batch", batch)["batch_id"]
    owner.wait("the batch running",
               lambda: owner.get(f"/v1/batches/{batch_id}")["request_counts"]["succeeded"] >= slots)
    waits = []
    for _ in range(samples):
        waits.append(round(waiter.wait_for_start(waiter.post("/v1/process", job)["job_id"]), 3))
    owner.post(f"/v1/batches/{batch_id}/cancel")
    return waits


def _wait_for_api(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:  # noqa: PLR2004 - HTTP OK
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError("the API did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--cache-entries", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as server:
        home = Path(tmp) / "home"
        renderer_port, api_port = free_port(), free_port()
        env = {**os.environ, "REDIS_URL": server.url, "SEMANTEST_URL": f"ws://127.0.0.1:{renderer_port}/ws",
               "SCENE_WEAVER_HOME": str(home), "IMAGE_STORE_DIR": str(home / "images"),
               "SCENE_WEAVER_ENV": "development", "WORKER_CONCURRENCY": str(args.slots),
               "RATE_LIMIT_PROCESS": "10000/minute", "RATE_LIMIT_BATCH": "1000/minute",
               "RATE_LIMIT_LOGIN": "1000/minute", "JWT_SECRET_KEY": "bench-secret-bench-secret-0123456789abcdef"}
        UserStore(redis.Redis.from_url(server.url), rounds=4).add("bench-b", "bench-b-password")
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(_start([sys.executable, "-m", "scene_weaver.renderer", "--port", str(renderer_port),
                                 "--latency", str(args.latency), "--max-in-flight", "64"], env,
                                "renderer listening on"))
            procs.append(_start(_worker_args("workers.main") + ["-c", str(args.slots), "--loglevel", "INFO",
                                                                  "-Q", ",".join(SCENE_QUEUES)], env, "ready."))
            procs.append(_start([sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "--bind",
                                 f"127.0.0.1:{api_port}", "--workers", "2", "api.wsgi:app"], env, "Listening at"))
            base = f"http://127.0.0.1:{api_port}"
            _wait_for_api(base)
            demo = Client(base, "demo", "demo-password")
            other = Client(base, "bench-b", "bench-b-password")
            # Warm up: sessions connected, code paths loaded.
            warm = demo.post("/v1/batch", {"entries": _entries(16, "warm")})["batch_id"]
            demo.wait("warm-up", lambda: demo.get(f"/v1/batches/{warm}")["status"] == "completed")
            worker_pid = procs[1].pid
            rss = {"after_16_items": _rss_mb(worker_pid)}

            high = _waits_beside(demo, demo, {"entries": _entries(300, "low"), "priority": "low"},
                                 {"speaker": "Tomas", "dialogue": "urgent", "priority": "high"},
                                 samples=args.samples, slots=args.slots)
            beside = _waits_beside(other, demo, {"entries": _entries(1000, "big")},
                                   {"speaker": "Bob", "dialogue": "just one"}, samples=args.samples, slots=args.slots)
            rss["after_1000_item_batch"] = _rss_mb(worker_pid)

            script = make_script(400)
            started = time.perf_counter()
            batch_id = demo.post("/v1/batch", {"script": script})["batch_id"]
            batch = demo.wait("the script batch", lambda: (b := demo.get(f"/v1/batches/{batch_id}"))["status"]
                              != "in_progress" and b)
            seconds = time.perf_counter() - started
            total = batch["request_counts"]["total"]
            ideal = total * args.latency / args.slots
            rss["after_400_entry_script"] = _rss_mb(worker_pid)

            # The same 1,000-scene batch twice: the second is served from the result cache.
            cache_body = {"entries": _entries(args.cache_entries, "cache")}
            runs = []
            for _ in range(2):
                started = time.perf_counter()
                cached_id = demo.post("/v1/batch", cache_body)["batch_id"]
                cached = demo.wait("the cache batch", lambda bid=cached_id: (b := demo.get(f"/v1/batches/{bid}"))["status"]
                                   != "in_progress" and b, timeout=600)
                runs.append((time.perf_counter() - started, cached["request_counts"]))
            rss["after_cache_batches"] = _rss_mb(worker_pid)
        finally:
            for proc in reversed(procs):
                _stop(proc)
    print(json.dumps({
        "bench": "batches", "latency_s": args.latency, "slots": args.slots,
        "high_wait_s": {"behind_low_items": 300, "samples": high, "max": max(high),
                        "one_job_time_s": args.latency},
        "other_user_wait_s": {"beside_batch_items": 1000, "samples": beside, "max": max(beside)},
        "script_400": {"entries": total, "status": batch["status"], "seconds": round(seconds, 2),
                       "ideal_seconds": round(ideal, 2), "ratio_to_ideal": round(seconds / ideal, 2)},
        "worker_rss_mb": rss,
        "cache": {"entries": args.cache_entries, "first_s": round(runs[0][0], 2), "second_s": round(runs[1][0], 2),
                  "speedup": round(runs[0][0] / runs[1][0], 1), "first_counts": runs[0][1],
                  "second_counts": runs[1][1]},
    }), flush=True)


if __name__ == "__main__":
    main()
