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
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (gunicorn's workers of its master), from Linux /proc."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far, in seconds (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU time the processes and their children (gunicorn's workers) have used so far, in seconds."""
    return cpu_seconds([pid for proc in procs for pid in (proc.pid, *children_of(proc.pid))])


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


API_CLIENTS = 8  # client threads submitting through the API, one kept-alive connection each


def _scene_body(i: int) -> dict[str, object]:
    return {"speaker": ["Iris", "Tomas"][i % 2], "dialogue": [f"Line {i}: is the sea awake?"],
            "narration": f"Scene {i}: the lighthouse stairs at night."}


def _submit_via_api(base: str, token: str, count: int) -> list[str]:
    """``count`` scenes POSTed to ``/v1/process`` by API_CLIENTS threads; the job ids (every answer a 202)."""
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    counter = iter(range(count))
    lock = threading.Lock()
    ids: list[str] = []
    refused: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for i in iter(lambda: next(counter, None), None):
                connection.request("POST", "/v1/process", body=json.dumps(_scene_body(i)), headers=headers)
                response = connection.getresponse()
                body = response.read()
                with lock:
                    if response.status == 202:  # noqa: PLR2004
                        ids.append(json.loads(body)["job_id"])
                    else:
                        refused.append(f"{response.status} {body[:200]!r}")
        finally:
            connection.close()

    run_clients(client, API_CLIENTS, refused, "submissions were refused")
    return ids


def run_clients(client: Callable[[], None], count: int, failures: list[str], what: str) -> None:
    """Run ``count`` threads of ``client`` to their end; then fail if any noted a failure."""
    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} {what}, e.g. {failures[0]}")


def pipeline(redis_url: str, jobs: int, home: Path, workers: int = 1, *, rss_jobs: int = 0,
             via_api: bool = True) -> tuple[float, dict[str, float] | None]:
    """Jobs per second through ``workers`` worker processes; with ``rss_jobs``, also the first
    worker's RSS after 1,000 jobs and after ``rss_jobs`` (run in batches so Redis stays small).

    ``via_api``: every job is POSTed to the API (gunicorn, as ``scene-weaver up`` runs it) by
    API_CLIENTS client threads while the workers run them: the whole pipeline. Else the jobs
    are written and enqueued as the API does, from this process: the workers' share alone."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "SEMANTEST_URL": f"ws://127.0.0.1:{port}/ws",
           "SCENE_WEAVER_HOME": str(home), "IMAGE_STORE_DIR": str(home / "images"),
           "WORKER_CONCURRENCY": "8", "SEMANTEST_POOL_SIZE": "1", "IMAGE_WIDTH": "64", "IMAGE_HEIGHT": "64"}
    renderer = _start([sys.executable, "-m", "scene_weaver.renderer", "--port", str(port), "--latency", "0",
                       "--max-in-flight", "8"], env, "renderer listening on")
    procs = [_start(_worker_args("workers.main") + ["--loglevel", "INFO", "-Q", ",".join(SCENE_QUEUES),
                                                    "-n", f"bench{i}@%h"], env, "ready.")
             for i in range(workers)]
    api: subprocess.Popen[bytes] | None = None
    try:
        settings = Settings.from_env(env)
        client = redis.Redis.from_url(redis_url)
        store = JobStore(client)
        app = producer(settings)
        if via_api:
            from bench.bench_api import serve_api  # noqa: PLC0415 - bench_api imports this module

            api, base, token = serve_api(env, client)

        def submit(count: int) -> list[str]:
            if via_api:
                return _submit_via_api(base, token, count)
            ids = []
            for i in range(count):
                job = store.create("bench", Scene.model_validate(_scene_body(i)), priority=Priority.NORMAL)
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
        groups = {"cpu_ms_per_job": procs, "renderer_cpu_ms_per_job": [renderer],
                  **({"api_cpu_ms_per_job": [api]} if api is not None else {})}
        cpu, started = {name: _cpu_seconds(group) for name, group in groups.items()}, time.perf_counter()
        wait(submit(jobs))
        rate = jobs / (time.perf_counter() - started)
        spent = {name: round((_cpu_seconds(group) - cpu[name]) * 1000 / jobs, 3) for name, group in groups.items()}
        if not rss_jobs:
            return rate, spent
        return rate, _rss_growth(procs[0], client, submit, wait, done=16 * workers + jobs, until=rss_jobs)
    finally:
        for proc in procs:
            _stop(proc)
        _stop(renderer)
        if api is not None:
            _stop(api)


def _rss_growth(proc: subprocess.Popen[bytes], client: redis.Redis, submit: Callable[[int], list[str]],
                wait: Callable[[list[str]], None], *, done: int, until: int) -> dict[str, float]:
    """One worker's RSS after 1,000 jobs and after ``until`` (``done`` so far), run in steps so Redis stays small."""
    if done < RSS_FIRST_SAMPLE:
        wait(submit(RSS_FIRST_SAMPLE - done))
        done = RSS_FIRST_SAMPLE
    rss_first = _rss_kib(proc.pid)
    while done < until:
        step = min(2000, until - done)
        ids = submit(step)
        wait(ids)
        # Keep Redis small (it is not what is measured): drop the finished jobs' records and events.
        client.delete(*[key for job_id in ids for key in (keys.job(job_id), keys.job_events(job_id))])
        done += step
    rss_last = _rss_kib(proc.pid)
    return {"rss_kib_after_1000": rss_first, "rss_kib_after_n": rss_last, "n": done,
            "growth": round(rss_last / rss_first - 1, 4)}


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
            direct, direct_extra = pipeline(server.url, args.jobs, Path(tmp) / f"direct{workers}", workers,
                                            via_api=False)
            flush()
            print(json.dumps({"bench": "pipeline", "workers": workers,
                              "baseline_celery_noop_per_s": round(raw, 1), "pipeline_jobs_per_s": round(ours, 1),
                              "ratio": round(ours / raw, 3), "baseline_cpu_ms_per_task": round(raw_cpu, 3),
                              "worker_cpu_ms_per_job": (extra or {}).get("cpu_ms_per_job"),
                              "api_cpu_ms_per_job": (extra or {}).get("api_cpu_ms_per_job"),
                              "renderer_cpu_ms_per_job": (extra or {}).get("renderer_cpu_ms_per_job"),
                              "enqueued_jobs_per_s": round(direct, 1), "enqueued_ratio": round(direct / raw, 3),
                              "enqueued_worker_cpu_ms_per_job": (direct_extra or {}).get("cpu_ms_per_job"),
                              "jobs": args.jobs,
                              "baseline_tasks": args.baseline_tasks}), flush=True)
        if args.rss_jobs:
            _, rss = pipeline(server.url, 200, Path(tmp) / "home-rss", 1, rss_jobs=args.rss_jobs, via_api=False)
            print(json.dumps({"bench": "worker_rss", **(rss or {})}), flush=True)


if __name__ == "__main__":
    main()
