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

from .chaos_summary import Tally, completed_counts, tally
from .fault_runs import FAST_RETRIES, count_finished, follow, headers_for
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


def fleet_counts(stack: Stack, headers: dict[str, str]) -> dict[str, Any]:
    """What the renderer drew (``/stats``) and the API's ``reliability`` counters (``/v1/stats``),
    read once at the end of a run: a picture drawn twice is a Semantest request sent twice."""
    found: dict[str, Any] = {}
    if stack.renderer is not None:
        drawn = stack.renderer.stats()
        found["renderer"] = {name: drawn[name] for name in ("requests", "generated", "failed", "connections")}
    response = requests.get(f"{stack.base}/v1/stats", headers=headers, timeout=30)
    found["reliability"] = response.json().get("reliability") if response.ok else f"HTTP {response.status_code}"
    return found


@dataclass
class CrashRun:
    accepted: list[str]
    jobs: list[dict[str, Any]]  # each accepted job as the API last showed it (unfinished ones too)
    seconds: float
    faults: int
    worker_restarts: int
    extra: dict[str, Any] = field(default_factory=dict)
    completed: dict[str, int] = field(default_factory=dict)  # ``completed`` events per accepted job
    problems: list[str] = field(default_factory=list)  # what went wrong besides the jobs' outcomes

    @property
    def succeeded(self) -> int:
        return sum(job.get("status") == "succeeded" for job in self.jobs)

    def tally(self) -> Tally:
        return tally({job["job_id"]: job.get("status") for job in self.jobs}, self.completed, self.accepted)

    def raise_problems(self) -> None:
        if self.problems:
            raise AssertionError(f"{len(self.problems)} problems: {self.problems[:10]}")

    def report(self, name: str) -> str:
        statuses = Counter(job.get("status") for job in self.jobs)
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
                     latency: float = 0.2, period: float | None = None, settle: float = 240,
                     strict: bool = True) -> CrashRun:
    """``jobs`` submitted evenly over ``period`` s (default: the kill period); a worker SIGKILLed every
    ``every`` s, ``kills`` times. ``tail`` in the result: seconds from the last submission to the
    last job done (the run's no-fault tail is about one picture). Jobs not finished ``settle`` s
    after the last submission are left unfinished in the result; ``strict``: raise at the end on
    any other problem (a submission refused, in-flight slots left held), else only record it."""
    with own_stack(home, WORKER_CONCURRENCY=str(threads)) as (stack, _server):
        stack.start_renderer("--latency", str(latency))
        keeper = Keeper(stack, workers, threads).start()
        stack.start_api()
        headers = headers_for(stack)
        accepted: list[str] = []
        problems: list[str] = []
        started = time.monotonic()
        period = kills * every if period is None else period
        submitted_at = [0.0]

        def submit_all() -> None:
            for i in range(jobs):
                due = started + period * i / jobs
                time.sleep(max(0.0, due - time.monotonic()))  # paced submissions: load at every kill
                try:
                    response = _post(stack, headers, i)
                except requests.RequestException as exc:
                    problems.append(f"submission {i}: {exc!r}")
                    continue
                if response.status_code == 202:
                    accepted.append(response.json()["job_id"])
                else:
                    problems.append(f"submission {i}: {response.status_code} {response.text[:200]}")
            submitted_at[0] = time.monotonic()

        submitter = threading.Thread(target=submit_all, daemon=True)
        submitter.start()
        done = 0
        while done < kills:
            time.sleep(max(0.0, started + every * (done + 1) - time.monotonic()))  # the kill schedule is the scenario
            keeper.kill(done % workers)
            done += 1
        submitter.join(timeout=period + 120)
        finished = follow(stack, headers, list(accepted), timeout=settle)
        ended = time.monotonic()
        seconds = ended - started
        try:
            wait_until(lambda: inflight_holders(stack.redis_url) == 0, 60, what="in-flight slots all free")
        except TimeoutError as exc:
            problems.append(str(exc))
        keeper.stop()
        completed = completed_counts(stack.redis_url, accepted)
        run = CrashRun(accepted, finished, seconds, done, keeper.restarts,
                       {"exactly_one_completed": sum(n == 1 for n in completed.values()),
                        "counters": counters(stack.redis_url),
                        "attempts": dict(Counter(job.get("attempts") for job in finished)),
                        "tail": round(ended - submitted_at[0], 1), "worker_exits": keeper.exits,
                        **fleet_counts(stack, headers)},
                       completed, problems)
    if strict:
        run.raise_problems()
    return run


def run_redis_restarts(home: Path, *, jobs: int, restarts: int, outage: float = 5.0, workers: int = 2,
                       threads: int = 8, latency: float = 0.2, during_outage: int = 3, settle: float = 300,
                       strict: bool = True) -> CrashRun:
    """``jobs`` submitted in ``restarts + 1`` waves; before each later wave Redis is SIGKILLed, and
    restarted from its AOF ``outage`` s later. ``during_outage`` submissions are tried while it is
    down (expected: 503 with Retry-After) and retried with their Idempotency-Key once it is back.
    Any other answer is a problem: raised at the end if ``strict``, else only recorded."""
    with own_stack(home, WORKER_CONCURRENCY=str(threads)) as (stack, server):
        stack.start_renderer("--latency", str(latency))
        keeper = Keeper(stack, workers, threads).start()
        stack.start_api()
        headers = headers_for(stack)
        accepted: list[str] = []
        refused: list[tuple[int, str]] = []
        answers: Counter[str] = Counter()
        problems: list[str] = []
        started = time.monotonic()
        wave = jobs // (restarts + 1)
        index = 0
        for round_ in range(restarts + 1):
            count = wave if round_ < restarts else jobs - index
            for _ in range(count):
                response = _post(stack, headers, index)
                if response.status_code == 202:
                    accepted.append(response.json()["job_id"])
                else:
                    problems.append(f"submission {index}: {response.status_code} {response.text[:200]}")
                index += 1
            if round_ == restarts:
                break
            # Different load at each restart: right after a wave, then later ones as it drains.
            wait_until(lambda share=0.3 * round_: _finished_share(stack, headers, accepted) >= share, 120, 0.2,
                       "part of the jobs done")
            server.kill()
            outage_started = time.monotonic()
            refused += _submit_while_down(stack, headers, round_, during_outage, answers=answers,
                                          problems=problems)
            time.sleep(max(0.0, outage - (time.monotonic() - outage_started)))  # the outage is the scenario
            server.start()
        for i, key in refused:
            try:
                response = wait_until(lambda i=i, key=key: _accepted(_post(stack, headers, i, key)), 60, 1,
                                      "a refused submission accepted on retry")
            except TimeoutError as exc:
                problems.append(str(exc))
                continue
            accepted.append(response.json()["job_id"])
            answers[f"retry {response.status_code}"] += 1
        finished = follow(stack, headers, list(accepted), timeout=settle)
        seconds = time.monotonic() - started
        keeper.stop()
        completed = completed_counts(stack.redis_url, accepted)
        run = CrashRun(accepted, finished, seconds, restarts, keeper.restarts,
                       {"exactly_one_completed": sum(n == 1 for n in completed.values()), "answers": dict(answers),
                        "worker_exits": keeper.exits, "counters": counters(stack.redis_url),
                        **fleet_counts(stack, headers)},
                       completed, problems)
    if strict:
        run.raise_problems()
    return run


def _submit_while_down(stack: Stack, headers: dict[str, str], round_: int, count: int, *, answers: Counter[str],
                       problems: list[str]) -> list[tuple[int, str]]:
    """``count`` keyed submissions while Redis is down: each must get 503 with a Retry-After."""
    refused = []
    for n in range(count):
        index, key = 10_000 + round_ * 100 + n, f"outage-{round_}-{n}"
        try:
            response = _post(stack, headers, index, key)
        except requests.RequestException as exc:
            answers["no answer"] += 1
            problems.append(f"during the outage: no answer ({exc!r})")
        else:
            retry_after = response.headers.get("Retry-After")
            answers[f"{response.status_code} retry-after={retry_after}"] += 1
            if response.status_code != 503 or not (retry_after or "").isdigit() or int(retry_after or 0) <= 0:
                problems.append(f"during the outage: {response.status_code} Retry-After={retry_after} "
                                f"{response.text[:200]}")
        refused.append((index, key))
    return refused


def _accepted(response: requests.Response) -> requests.Response | None:
    return response if response.status_code in (200, 202) else None


def _finished_share(stack: Stack, headers: dict[str, str], job_ids: list[str]) -> float:
    return count_finished(stack, headers, job_ids) / max(1, len(job_ids))
