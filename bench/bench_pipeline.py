"""Our pipeline's throughput next to raw Celery's, measured in the same run.

    .venv/bin/python bench/bench_pipeline.py [--jobs 600] [--baseline-tasks 2000] [--workers 1 2 4]
                                             [--rss-jobs 20000]

One JSON line per worker-process count N: raw Celery with N worker processes and our
pipeline with N worker processes, each measured in the same run. With ``--rss-jobs``, one
more line: one worker's resident memory after 1,000 jobs and after that many.

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

from scene_weaver import keys  # noqa: E402
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


RSS_FIRST_SAMPLE = 1000  # jobs before the first memory sample: imports, sessions and caches are warm


def _cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU time (user + system) the processes have used so far, in seconds (Linux /proc)."""
    ticks = 0
    for proc in procs:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    """Resident memory of one process (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def baseline(redis_url: str, tasks: int, workers: int = 1) -> tuple[float, float]:
    """Tasks per second through ``workers`` raw Celery worker processes, and their CPU ms per task."""
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT / "bench")}
    procs = [_start(_worker_args("noop_app") + ["--loglevel", "INFO", "-n", f"noop{i}@%h"], env, "ready.")
             for i in range(workers)]
    try:
        sys.path.insert(0, str(ROOT / "bench"))
        os.environ["REDIS_URL"] = redis_url
        from noop_app import noop  # noqa: PLC0415 - importable only once bench/ is on sys.path, and it reads REDIS_URL at import

        noop.delay().get(timeout=30)  # warm up
        cpu, started = _cpu_seconds(procs), time.perf_counter()
        results = [noop.delay() for _ in range(tasks)]
        for result in results:
            result.get(timeout=120)
        return tasks / (time.perf_counter() - started), (_cpu_seconds(procs) - cpu) * 1000 / tasks
    finally:
        for proc in procs:
            _stop(proc)


def pipeline(redis_url: str, jobs: int, home: Path, workers: int = 1,
             rss_jobs: int = 0) -> tuple[float, dict[str, float] | None]:
    """Jobs per second through ``workers`` worker processes; with ``rss_jobs``, also the first
    worker's RSS after 1,000 jobs and after ``rss_jobs`` (run in batches so Redis stays small)."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "SEMANTEST_URL": f"ws://127.0.0.1:{port}/ws",
           "SCENE_WEAVER_HOME": str(home), "IMAGE_STORE_DIR": str(home / "images"),
           "WORKER_CONCURRENCY": "8", "SEMANTEST_POOL_SIZE": "1", "IMAGE_WIDTH": "64", "IMAGE_HEIGHT": "64"}
    renderer = _start([sys.executable, "-m", "scene_weaver.renderer", "--port", str(port), "--latency", "0",
                       "--max-in-flight", "8"], env, "renderer listening on")
    procs = [_start(_worker_args("workers.main") + ["--loglevel", "INFO", "-Q", ",".join(SCENE_QUEUES),
                                                    "-n", f"bench{i}@%h"], env, "ready.")
             for i in range(workers)]
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
            # A job leaves the dispatched index when it ends: poll one ZCARD, not every job's status
            # (the poll must not be what loads Redis); then read every status once.
            deadline = time.monotonic() + 300
            while client.zcard(keys.dispatched_jobs()) and time.monotonic() < deadline:
                time.sleep(0.05)
            pipe = client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hget(keys.job(job_id), "status")
            statuses = pipe.execute()
            if not all(s in (b"succeeded", b"failed") for s in statuses):
                raise TimeoutError("pipeline jobs did not finish")
            assert all(s == b"succeeded" for s in statuses), "a benchmark job failed"

        wait(submit(16 * workers))  # warm up: sessions connected, code paths loaded
        cpu, started = _cpu_seconds(procs), time.perf_counter()
        wait(submit(jobs))
        rate = jobs / (time.perf_counter() - started)
        cpu_ms = (_cpu_seconds(procs) - cpu) * 1000 / jobs
        if not rss_jobs:
            return rate, {"cpu_ms_per_job": round(cpu_ms, 3)}
        done = 16 * workers + jobs
        if done < RSS_FIRST_SAMPLE:
            wait(submit(RSS_FIRST_SAMPLE - done))
            done = RSS_FIRST_SAMPLE
        rss_first = _rss_kib(procs[0].pid)
        while done < rss_jobs:
            step = min(2000, rss_jobs - done)
            ids = submit(step)
            wait(ids)
            # Keep Redis small (it is not what is measured): drop the finished jobs' records and events.
            client.delete(*[key for job_id in ids for key in (keys.job(job_id), keys.job_events(job_id))])
            done += step
        rss_last = _rss_kib(procs[0].pid)
        return rate, {"rss_kib_after_1000": rss_first, "rss_kib_after_n": rss_last, "n": done,
                      "growth": round(rss_last / rss_first - 1, 4)}
    finally:
        for proc in procs:
            _stop(proc)
        _stop(renderer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--baseline-tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--rss-jobs", type=int, default=0, help="also measure one worker's RSS growth")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as server:
        flush = redis.Redis.from_url(server.url).flushdb
        for workers in args.workers:
            raw, raw_cpu = baseline(server.url, args.baseline_tasks, workers)
            flush()
            ours, extra = pipeline(server.url, args.jobs, Path(tmp) / f"home{workers}", workers)
            flush()
            print(json.dumps({"bench": "pipeline", "workers": workers,
                              "baseline_celery_noop_per_s": round(raw, 1), "pipeline_jobs_per_s": round(ours, 1),
                              "ratio": round(ours / raw, 3), "baseline_cpu_ms_per_task": round(raw_cpu, 3),
                              **(extra or {}), "jobs": args.jobs,
                              "baseline_tasks": args.baseline_tasks}), flush=True)
        if args.rss_jobs:
            _, rss = pipeline(server.url, 200, Path(tmp) / "home-rss", 1, rss_jobs=args.rss_jobs)
            print(json.dumps({"bench": "worker_rss", **(rss or {})}), flush=True)


if __name__ == "__main__":
    main()
