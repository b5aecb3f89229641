"""Crash runs shared by the reliability tests and their long chaos versions.

Real processes on loopback: a Redis of the run's own (AOF on, so it can be SIGKILLed and
restarted from its file), the renderer, Celery workers and gunicorn. A keeper thread stands in
for the supervisor: a worker process that exits is started again. Every accepted job is
followed to its end; what a run measured is returned for the assertions and the report.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from scene_weaver import keys
from scene_weaver.stack import EmbeddedRedis

from .fault_runs import FAST_RETRIES, completions, count_finished, headers_for, wait_all
from .processes import Proc, wait_until
from .stack import Stack

__all__ = ["CrashRun", "own_stack", "run_worker_kills", "run_redis_restarts", "scene_body", "inflight_holders"]


def scene_body(i: int) -> dict[str, Any]:
    return {"speaker": ["Iris", "Tomas", "Architect"][i % 3], "dialogue": f"Crash line {i}: does the lamp hold?",
            "narration": f"Scene {i} in the storm.", "width": 64, "height": 64}


def inflight_holders(redis_url: str) -> int:
    return int(redis.Redis.from_url(redis_url).zcard(keys.inflight()))


def counters(redis_url: str) -> dict[str, int]:
    raw = redis.Redis.from_url(redis_url, decode_responses=True).hgetall(keys.counters())
    return {name: int(value) for name, value in raw.items() if name.startswith(("reconciler_", "semantest_possible"))}


@dataclass
class CrashRun:
    accepted: list[str]
    jobs: list[dict[str, Any]]
    seconds: float
    faults: int
    worker_restarts: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> int:
        return sum(job["status"] == "succeeded" for job in self.jobs)

    def report(self, name: str) -> str:
        statuses = Counter(job["status"] for job in self.jobs)
        return (f"{name}: accepted {len(self.accepted)}, succeeded {self.succeeded}, lost "
                f"{len(self.accepted) - self.succeeded}, {dict(statuses)}, {self.faults} faults, "
                f"{self.worker_restarts} worker restarts, {self.seconds:.1f}s; {self.extra}")


class Keeper:
    """Restarts any worker process of ``stack`` that exited, as ``scene-weaver up`` does."""

    def __init__(self, stack: Stack, count: int, threads: int) -> None:
        self.stack = stack
        self.threads = threads
        self.slots: list[Proc | None] = [None] * count
        self.restarts = 0
        self.exits: list[str] = []  # why each worker that was not killed by the run exited
        self._killed: set[int] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Keeper:
        for index in range(len(self.slots)):
            self.slots[index] = self.stack.start_worker(f"k{index}-0", concurrency=self.threads)
        self._thread.start()
        return self

    def kill(self, index: int) -> None:
        with self._lock:
            proc = self.slots[index]
        if proc is not None:
            self._killed.add(id(proc))
            proc.kill()

    def _run(self) -> None:
        generation = 0
        while not self._stop.wait(0.3):
            for index, proc in enumerate(self.slots):
                if proc is not None and not proc.alive and not self._stop.is_set():
                    if id(proc) not in self._killed:
                        errors = [line for line in proc.output if "Unrecoverable" in line]
                        self.exits.append(f"exit {proc.process.returncode if proc.process else '?'}: "
                                          f"{errors[-1][-160:] if errors else proc.tail(70)}")
                        self._killed.add(id(proc))
                    generation += 1
                    try:
                        replacement = self.stack.start_worker(f"k{index}-{generation}", concurrency=self.threads)
                    except (RuntimeError, TimeoutError):
                        continue  # Redis may be down: try again on the next round
                    with self._lock:
                        self.slots[index] = replacement
                        self.restarts += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=90)


@contextmanager
def own_stack(home: Path, **env: str) -> Iterator[tuple[Stack, EmbeddedRedis]]:
    """A stack on a Redis of its own, AOF on (the session's Redis is never killed)."""
    server = EmbeddedRedis(home / "redis", appendonly=True).start()
    stack = Stack(server.url, home / "stack", **{**FAST_RETRIES, **env})
    try:
        yield stack, server
    finally:
        stack.stop()
        server.stop()


def _post(stack: Stack, headers: dict[str, str], i: int, key: str | None = None) -> requests.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return requests.post(f"{stack.base}/v1/process", headers={**headers, **extra}, json=scene_body(i), timeout=15)


def run_worker_kills(home: Path, *, jobs: int, kills: int, every: float, workers: int = 2, threads: int = 8,
                     latency: float = 0.2, period: float | None = None) -> CrashRun:
    """``jobs`` submitted evenly over ``period`` s (default: the kill period); a worker SIGKILLed every
    ``every`` s, ``kills`` times. ``tail`` in the result: seconds from the last submission to the
    last job done (the run's no-fault tail is about one picture)."""
    with own_stack(home, WORKER_CONCURRENCY=str(threads)) as (stack, _server):
        stack.start_renderer("--latency", str(latency))
        keeper = Keeper(stack, workers, threads).start()
        stack.start_api()
        headers = headers_for(stack)
        accepted: list[str] = []
        started = time.monotonic()
        period = kills * every if period is None else period
        submitted_at = [0.0]

        def submit_all() -> None:
            for i in range(jobs):
                due = started + period * i / jobs
                time.sleep(max(0.0, due - time.monotonic()))  # paced submissions: load at every kill
                response = _post(stack, headers, i)
                assert response.status_code == 202, response.text
                accepted.append(response.json()["job_id"])
            submitted_at[0] = time.monotonic()

        submitter = threading.Thread(target=submit_all, daemon=True)
        submitter.start()
        done = 0
        while done < kills:
            time.sleep(max(0.0, started + every * (done + 1) - time.monotonic()))  # the kill schedule is the scenario
            keeper.kill(done % workers)
            done += 1
        submitter.join(timeout=period + 120)
        finished = wait_all(stack, headers, accepted, timeout=240)
        ended = time.monotonic()
        seconds = ended - started
        wait_until(lambda: inflight_holders(stack.redis_url) == 0, 60, what="in-flight slots all free")
        keeper.stop()
        once = sum(completions(stack.redis_url, job_id) == 1 for job_id in accepted)
        return CrashRun(accepted, finished, seconds, done, keeper.restarts,
                        {"exactly_one_completed": once, "counters": counters(stack.redis_url),
                         "attempts": dict(Counter(job["attempts"] for job in finished)),
                         "tail": round(ended - submitted_at[0], 1)})


def run_redis_restarts(home: Path, *, jobs: int, restarts: int, outage: float = 5.0, workers: int = 2,
                       threads: int = 8, latency: float = 0.2, during_outage: int = 3) -> CrashRun:
    """``jobs`` submitted in ``restarts + 1`` waves; before each later wave Redis is SIGKILLed, and
    restarted from its AOF ``outage`` s later. ``during_outage`` submissions are tried while it is
    down (expected: 503 with Retry-After) and retried with their Idempotency-Key once it is back."""
    with own_stack(home, WORKER_CONCURRENCY=str(threads)) as (stack, server):
        stack.start_renderer("--latency", str(latency))
        keeper = Keeper(stack, workers, threads).start()
        stack.start_api()
        headers = headers_for(stack)
        accepted: list[str] = []
        refused: list[tuple[int, str]] = []
        answers: Counter[str] = Counter()
        started = time.monotonic()
        wave = jobs // (restarts + 1)
        index = 0
        for round_ in range(restarts + 1):
            count = wave if round_ < restarts else jobs - index
            for _ in range(count):
                response = _post(stack, headers, index)
                assert response.status_code == 202, response.text
                accepted.append(response.json()["job_id"])
                index += 1
            if round_ == restarts:
                break
            # Different load at each restart: right after a wave, then later ones as it drains.
            wait_until(lambda share=0.3 * round_: _finished_share(stack, headers, accepted) >= share, 120, 0.2,
                       "part of the jobs done")
            server.kill()
            outage_started = time.monotonic()
            for n in range(during_outage):
                key = f"outage-{round_}-{n}"
                try:
                    response = _post(stack, headers, 10_000 + round_ * 100 + n, key)
                    answers[f"{response.status_code} retry-after={response.headers.get('Retry-After')}"] += 1
                    assert response.status_code == 503, response.text
                    assert int(response.headers["Retry-After"]) > 0
                except requests.ConnectionError:
                    answers["connection error"] += 1
                refused.append((10_000 + round_ * 100 + n, key))
            time.sleep(max(0.0, outage - (time.monotonic() - outage_started)))  # the outage is the scenario
            server.start()
        for i, key in refused:
            response = wait_until(lambda i=i, key=key: _accepted(_post(stack, headers, i, key)), 60, 1,
                                  "a refused submission accepted on retry")
            accepted.append(response.json()["job_id"])
            answers[f"retry {response.status_code}"] += 1
        finished = wait_all(stack, headers, accepted, timeout=300)
        seconds = time.monotonic() - started
        keeper.stop()
        once = sum(completions(stack.redis_url, job_id) == 1 for job_id in accepted)
        return CrashRun(accepted, finished, seconds, restarts, keeper.restarts,
                        {"exactly_one_completed": once, "answers": dict(answers), "worker_exits": keeper.exits,
                         "counters": counters(stack.redis_url)})


def _accepted(response: requests.Response) -> requests.Response | None:
    return response if response.status_code in (200, 202) else None


def _finished_share(stack: Stack, headers: dict[str, str], job_ids: list[str]) -> float:
    return count_finished(stack, headers, job_ids) / max(1, len(job_ids))
