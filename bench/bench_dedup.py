"""The same script of 1,000 scenes run twice: drawn, then served from the result cache.

    .venv/bin/python bench/bench_dedup.py [--scenes 1000] [--latency 0.2] [--workers 2]

A generated script (bench_script's) is planned (continuity, visual groups and seeds) and
each scene becomes a job written and enqueued as the API does, run by real worker processes
(threads x8) against the local renderer at ``--latency`` seconds a picture. The second run
submits the same scenes again and enqueues them: every job's worker finds its picture in the
result cache and makes no Semantest call. The third run submits them once more the way batch
admission does (``serve_cached`` before enqueueing): cached jobs finish without a worker.
Prints one JSON line: each run's time and what the renderer drew in it, and both ratios to
the first run (target: >= 20x).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import _start, _stop, _worker_args  # noqa: E402
from bench_script import make_script  # noqa: E402

from scene_weaver import keys  # noqa: E402
from scene_weaver.constants import SCENE_QUEUES  # noqa: E402
from scene_weaver.jobs import JobStore  # noqa: E402
from scene_weaver.models import Priority, Scene  # noqa: E402
from scene_weaver.result_cache import ResultCache, hit_rate, serve_cached  # noqa: E402
from scene_weaver.runtime_config import effective_config  # noqa: E402
from scene_weaver.script import parse_script  # noqa: E402
from scene_weaver.settings import Settings  # noqa: E402
from scene_weaver.stack import EmbeddedRedis, free_port  # noqa: E402
from scene_weaver.weaving import plan_script  # noqa: E402
from workers.dispatch import enqueue_job, producer  # noqa: E402

SLOTS_PER_SESSION = 8


def _scenes(count: int) -> tuple[list[Scene], list[int]]:
    entries = parse_script(make_script(count)).entries[:count]
    planned = plan_script([entry.to_scene() for entry in entries])
    return [p.scene for p in planned], [p.seed for p in planned]


def run(redis_url: str, home: Path, count: int, latency: float, workers: int) -> dict[str, object]:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "SEMANTEST_URL": f"ws://127.0.0.1:{port}/ws",
           "SCENE_WEAVER_HOME": str(home), "IMAGE_STORE_DIR": str(home / "images"),
           "WORKER_CONCURRENCY": "8", "SEMANTEST_POOL_SIZE": "1", "IMAGE_WIDTH": "64", "IMAGE_HEIGHT": "64"}
    renderer = _start([sys.executable, "-m", "scene_weaver.renderer", "--port", str(port), "--latency", str(latency),
                       "--max-in-flight", str(SLOTS_PER_SESSION)], env, "renderer listening on")
    procs = [_start(_worker_args("workers.main") + ["--loglevel", "INFO", "-Q", ",".join(SCENE_QUEUES),
                                                    "-n", f"bench{i}@%h"], env, "ready.")
             for i in range(workers)]
    try:
        settings = Settings.from_env(env)
        client = redis.Redis.from_url(redis_url)
        store = JobStore(client)
        app = producer(settings)
        scenes, seeds = _scenes(count)

        results = ResultCache.from_settings(client, settings)

        def submit(batch: list[Scene], batch_seeds: list[int], *, at_admission: bool = False) -> list[str]:
            jobs = [store.create("bench", scene, priority=Priority.NORMAL, options={"seed": seed})
                    for scene, seed in zip(batch, batch_seeds, strict=True)]
            served = serve_cached(store, results, jobs, effective_config(client, settings)) if at_admission else set()
            for job in jobs:
                if job.job_id not in served:
                    enqueue_job(app, job.job_id, Priority.NORMAL)
            return [job.job_id for job in jobs]

        def wait(ids: list[str]) -> None:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                pipe = client.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hget(keys.job(job_id), "status")
                statuses = pipe.execute()
                if all(s in (b"succeeded", b"failed") for s in statuses):
                    assert all(s == b"succeeded" for s in statuses), "a benchmark job failed"
                    return
                time.sleep(0.05)
            raise TimeoutError("benchmark jobs did not finish")

        def generated() -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as answer:  # noqa: S310 - our renderer
                return int(json.load(answer)["generated"])

        warm = [Scene(speaker="Warm", dialogue=[f"warm-up {i}"]) for i in range(16)]
        wait(submit(warm, [1] * len(warm)))  # sessions connected, code paths loaded
        before = generated()
        started = time.perf_counter()
        wait(submit(scenes, seeds))
        first = time.perf_counter() - started
        drawn_first = generated() - before
        started = time.perf_counter()
        wait(submit(scenes, seeds))
        second = time.perf_counter() - started
        drawn_second = generated() - before - drawn_first
        started = time.perf_counter()
        wait(submit(scenes, seeds, at_admission=True))
        third = time.perf_counter() - started
        drawn_third = generated() - before - drawn_first - drawn_second
        return {"bench": "dedup", "scenes": len(scenes), "latency_s": latency, "worker_processes": workers,
                "session_slots": SLOTS_PER_SESSION * workers,
                "first_run_s": round(first, 2), "first_run_drawn": drawn_first,
                "second_run_s": round(second, 2), "second_run_drawn": drawn_second,
                "cached_speedup_through_workers": round(first / second, 1),
                "third_run_at_admission_s": round(third, 2), "third_run_drawn": drawn_third,
                "cached_speedup_at_admission": round(first / third, 1), "target_speedup": 20,
                "result_cache": hit_rate(client)}
    finally:
        for proc in procs:
            _stop(proc)
        _stop(renderer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis", appendonly=False) as server:
        print(json.dumps(run(server.url, Path(tmp) / "home", args.scenes, args.latency, args.workers)), flush=True)


if __name__ == "__main__":
    main()
