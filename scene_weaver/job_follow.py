"""Following many jobs at once: a consistent snapshot of their states, then each change.

The gallery page of a job or of a whole batch fills in live from this. The snapshot reads
each job's status and the position of its event stream in one MULTI, so no change can fall
between the two. Then the streams of the unfinished jobs are read with a blocking XREAD, at
most ``window`` of them at a time, taken in the order given (script order: the ones that
start first); the status of the unfinished jobs beyond the window is read again every
``rescan_every`` seconds, so a job that finishes out of order is never missed for long.
A job whose record is gone (expired) counts as finished, with status ``missing``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import keys
from .jobs import Job, JobStore
from .models import TERMINAL_STATUSES
from .redis_text import decode, decode_hash

__all__ = ["JobState", "JobFollower", "read_jobs", "MISSING"]

MISSING = "missing"
_FINISHED = frozenset({status.value for status in TERMINAL_STATUSES} | {MISSING})
_CHUNK = 200  # commands per pipeline round trip


@dataclass(frozen=True)
class JobState:
    job_id: str
    index: int  # place in the followed list (script order)
    status: str  # a JobStatus value, or MISSING
    progress: int

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def read_jobs(store: JobStore, job_ids: Sequence[str]) -> list[Job | None]:
    """The records of ``job_ids`` in order (None for one that is gone), a pipeline per 200 jobs."""
    found: list[Job | None] = []
    for chunk in _chunks(job_ids):
        pipe: Any = store.client.pipeline(transaction=False)
        for job_id in chunk:
            pipe.hgetall(keys.job(job_id))
        found += [Job.from_hash(decode_hash(raw)) if raw else None for raw in pipe.execute()]
    return found


class JobFollower:
    """The states of ``job_ids``: ``snapshot()`` once, then ``changes()`` until ``finished``."""

    def __init__(self, store: JobStore, job_ids: Sequence[str], *, window: int = 100,
                 rescan_every: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.window = window
        self.rescan_every = rescan_every
        self._clock = clock
        self._ids = list(dict.fromkeys(job_ids))  # a job counts once, at its first place
        self._index = {job_id: place for place, job_id in enumerate(self._ids)}
        self._states: dict[str, JobState] = {}
        self._positions: dict[str, str] = {}  # the window: job id -> stream id read up to
        self._rescanned = clock()

    @property
    def finished(self) -> bool:
        return all(state.finished for state in self._states.values()) if self._states else not self._ids

    def states(self) -> list[JobState]:
        return [self._states[job_id] for job_id in self._ids if job_id in self._states]

    def snapshot(self) -> list[JobState]:
        """Every job's state now, in order; the first unfinished ones are followed from here."""
        self._states.clear()
        self._positions.clear()
        _, tails = self._read(self._ids)
        self._enter_window(self._ids, tails)
        self._rescanned = self._clock()
        return self.states()

    def changes(self, block_ms: int) -> list[JobState]:
        """The jobs whose state changed, each once with its latest state; waits up to ``block_ms``."""
        if self.finished:
            return []
        changed: dict[str, JobState] = {}
        for job_id, event in self.store.wait_events_of(self._positions, block_ms, count=500):
            if job_id not in self._positions:
                continue  # it finished earlier in this same read
            self._positions[job_id] = event.id
            state = JobState(job_id, self._states[job_id].index, event.status or MISSING, event.progress)
            if state != self._states[job_id]:
                self._states[job_id] = changed[job_id] = state
            if state.finished:
                del self._positions[job_id]
        if self._clock() - self._rescanned >= self.rescan_every:
            self._rescanned = self._clock()
            found, _ = self._read(self._unfinished_outside())
            changed.update(found)
        room = self.window - len(self._positions)
        if room > 0:
            waiting = self._unfinished_outside()[:room]
            found, tails = self._read(waiting)
            changed.update(found)
            self._enter_window(waiting, tails)
        return sorted(changed.values(), key=lambda state: state.index)

    def _unfinished_outside(self) -> list[str]:
        return [job_id for job_id in self._ids
                if job_id not in self._positions and not self._states[job_id].finished]

    def _enter_window(self, job_ids: Sequence[str], tails: dict[str, str]) -> None:
        """Follow the unfinished of ``job_ids`` from where their streams stood, while the window has room."""
        for job_id in job_ids:
            if len(self._positions) >= self.window:
                return
            if not self._states[job_id].finished:
                self._positions[job_id] = tails.get(job_id, "0")

    def _read(self, job_ids: Sequence[str]) -> tuple[dict[str, JobState], dict[str, str]]:
        """Status, progress and stream position of each job, read together (MULTI): (changed states, positions)."""
        changed: dict[str, JobState] = {}
        tails: dict[str, str] = {}
        for chunk in _chunks(job_ids, _CHUNK // 2):
            pipe: Any = self.store.client.pipeline(transaction=True)
            for job_id in chunk:
                pipe.hmget(keys.job(job_id), "status", "progress")
                pipe.xrevrange(keys.job_events(job_id), "+", "-", count=1)
            replies = pipe.execute()
            for job_id, fields, tail in zip(chunk, replies[::2], replies[1::2], strict=True):
                status = decode(fields[0]) if fields[0] is not None else MISSING
                progress = int(decode(fields[1])) if fields[1] is not None else 0
                state = JobState(job_id, self._index[job_id], status, progress)
                if state != self._states.get(job_id):
                    self._states[job_id] = changed[job_id] = state
                if tail:
                    tails[job_id] = decode(tail[0][0])
        return changed, tails
