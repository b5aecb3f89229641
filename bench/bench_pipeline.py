"""Our pipeline's throughput next to raw Celery's, measured in the same run.

    .venv/bin/python bench/bench_pipeline.py [--jobs 600] [--baseline-tasks 2000]

Baseline: raw Celery no-op tasks through one worker process (threads x8, acks late,
Redis results). Pipeline: scene jobs written and enqueued exactly as the API does,
run by one of our worker processes (threads x8) against the local renderer with zero
latency and 64x64 pictures: job record, events, weaving, a Semantest round trip,
image fetch, verification and storage. The ratio says how much of raw Celery's
throughput is left once our code does real work for each job.
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
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scene_weaver.constants import SCENE_QUEUES  # noqa: E402
from scene_weaver.jobs import JobStore  # noqa: E402
from scene_weaver.models import Priority, Scene  # noqa: E402
from scene_weaver.settings import Settings  # noqa: E402
from scene_weaver.stack import EmbeddedRedis, free_port  # noqa: E402
from workers.dispatch import enqueue_job, producer  # noqa: E402


def _start(args: list[str], env: dict[str, str], ready: str, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for raw in iter(proc.stdout.readline, b""):
        if ready in raw.decode(errors="replace"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{args[:4]} not ready")
    # Keep draining output so the child never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in iter(proc.stdout.readline, b"")], daemon=True).start()
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 15)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, 9)
        proc.wait(5)


def _worker_args(app: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", app, "worker", "--pool", "threads", "-c", "8",
            "--loglevel", "WARNING", "--without-mingle", "--without-gossip"]


def baseline(redis_url: str, tasks: int) -> float:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT / "bench")}
    worker = _start(_worker_args("noop_app") + ["--loglevel", "INFO"], env, "ready.")
    try:
        sys.path.insert(0, str(ROOT / "bench"))
        os.environ["REDIS_URL"] = redis_url
        from noop_app import noop  # noqa: PLC0415 - importable only once bench/ is on sys.path, and it reads REDIS_URL at import

        noop.delay().get(timeout=30)  # warm up
        started = time.perf_counter()
        results = [noop.delay() for _ in range(tasks)]
        for result in results:
            result.get(timeout=120)
        return tasks / (time.perf_counter() - started)
    finally:
        _stop(worker)


def pipeline(redis_url: str, jobs: int, home: Path) -> float:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "SEMANTEST_URL": f"ws://127.0.0.1:{port}/ws",
           "SCENE_WEAVER_HOME": str(home), "IMAGE_STORE_DIR": str(home / "images"),
           "WORKER_CONCURRENCY": "8", "SEMANTEST_POOL_SIZE": "1", "IMAGE_WIDTH": "64", "IMAGE_HEIGHT": "64"}
    renderer = _start([sys.executable, "-m", "scene_weaver.renderer", "--port", str(port), "--latency", "0",
                       "--max-in-flight", "8"], env, "renderer listening on")
    worker = _start(_worker_args("workers.main") + ["--loglevel", "INFO", "-Q", ",".join(SCENE_QUEUES)], env, "ready.")
    try:
        settings = Settings.from_env(env)
        client = redis.Redis.from_url(redis_url)
        store = JobStore(client)
        app = producer(settings)

        def submit(count: int) -> list[str]:
            ids = []
            for i in range(count):
                scene = Scene(speaker=["Iris", "Tomas"][i % 2], dialogue=[f"Line {i}: is the sea awake?"],
                              narration=f"Scene {i}: the lighthouse stairs at night.")
                job = store.create("bench", scene, priority=Priority.NORMAL)
                enqueue_job(app, job.job_id, Priority.NORMAL)
                ids.append(job.job_id)
            return ids

        def wait(ids: list[str]) -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                pipe = client.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hget(f"sw:job:{job_id}", "status")
                statuses = pipe.execute()
                if all(s in (b"succeeded", b"failed") for s in statuses):
                    assert all(s == b"succeeded" for s in statuses), "a benchmark job failed"
                    return
                time.sleep(0.05)
            raise TimeoutError("pipeline jobs did not finish")

        wait(submit(16))  # warm up: sessions connected, code paths loaded
        started = time.perf_counter()
        wait(submit(jobs))
        return jobs / (time.perf_counter() - started)
    finally:
        _stop(worker)
        _stop(renderer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--baseline-tasks", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as server:
        raw = baseline(server.url, args.baseline_tasks)
        redis.Redis.from_url(server.url).flushdb()
        ours = pipeline(server.url, args.jobs, Path(tmp) / "home")
    print(json.dumps({"bench": "pipeline", "baseline_celery_noop_per_s": round(raw, 1),
                      "pipeline_jobs_per_s": round(ours, 1), "ratio": round(ours / raw, 3),
                      "jobs": args.jobs, "baseline_tasks": args.baseline_tasks}), flush=True)


if __name__ == "__main__":
    main()
