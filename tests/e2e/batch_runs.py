"""A batch followed to its end through the API, and counted item by item, for the chaos runs.

The batch's ``request_counts`` are read as a user reads them (they must add up at every read:
a read that does not is recorded as a problem); at the end the results file (JSON Lines) is
read once and each of its lines matched with its item's ``completed`` events in Redis.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import requests

from .chaos_summary import Tally, completed_counts, tally
from .processes import wait_until
from .stack import Stack

__all__ = ["BatchFollower", "BatchOutcome", "entries", "submit_batch"]

COUNTED = ("queued", "running", "succeeded", "failed", "canceled")


def entries(count: int, tag: str) -> list[dict[str, str]]:
    """``count`` scenes, each its own text (no result-cache hit, no deduplication)."""
    return [{"speaker": ["Iris", "Tomas"][i % 2], "dialogue": f"{tag} line {i}: is the tide turning?"}
            for i in range(count)]


def submit_batch(stack: Stack, headers: dict[str, str], items: list[dict[str, str]]) -> dict[str, Any]:
    response = requests.post(f"{stack.base}/v1/batch", json={"entries": items}, headers=headers, timeout=120)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


@dataclass
class BatchOutcome:
    batch: dict[str, Any]
    rows: list[dict[str, Any]]  # the results file, line by line
    completed: dict[str, int]  # ``completed`` events per item's job
    problems: list[str] = field(default_factory=list)

    def tally(self, accepted: int) -> Tally:
        """Items by index: one missing from the results file is lost, a second line for one is a duplicate."""
        first: dict[int, dict[str, Any]] = {}
        for row in self.rows:
            first.setdefault(row["index"], row)
        status = {str(index): row["status"] for index, row in first.items()}
        completed = {str(index): self.completed.get(row["job_id"], 0) for index, row in first.items()}
        repeated = len(self.rows) - len(first) + sum(n > 1 for n in Counter(r["job_id"] for r in self.rows).values())
        return tally(status, completed, [str(index) for index in range(accepted)], extra_duplicates=repeated)


class BatchFollower:
    """Reads one batch through the API; every read checks that its counts add up to the total."""

    def __init__(self, stack: Stack, headers: dict[str, str], batch_id: str, total: int) -> None:
        self.stack, self.headers, self.batch_id, self.total = stack, headers, batch_id, total
        self.problems: list[str] = []
        self.last: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        response = requests.get(f"{self.stack.base}/v1/batches/{self.batch_id}", headers=self.headers, timeout=30)
        response.raise_for_status()
        batch: dict[str, Any] = response.json()
        counts = batch["request_counts"]
        if not sum(counts[name] for name in COUNTED) == counts["total"] == self.total:
            self.problems.append(f"counts do not add up to {self.total}: {counts}")
        self.last = batch
        return batch

    def succeeded(self) -> int:
        return int(self.read()["request_counts"]["succeeded"])

    def wait_succeeded(self, at_least: int, timeout: float = 180) -> None:
        wait_until(lambda: self.succeeded() >= at_least, timeout, interval=0.3, what=f"{at_least} items succeeded")

    def finish(self, timeout: float, redis_url: str) -> BatchOutcome:
        """Wait for the batch to end (not raising: after ``timeout`` s what is unfinished is lost)."""
        with suppress(TimeoutError):
            wait_until(lambda: self.read()["status"] != "in_progress", timeout, interval=0.5, what="the batch to end")
        response = requests.get(f"{self.stack.base}/v1/batches/{self.batch_id}/results", headers=self.headers,
                                timeout=60)
        response.raise_for_status()
        rows = [json.loads(line) for line in response.text.splitlines()]
        completed = completed_counts(redis_url, sorted({row["job_id"] for row in rows}))
        return BatchOutcome(self.last, rows, completed, self.problems)
