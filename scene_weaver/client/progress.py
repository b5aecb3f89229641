"""Showing a job or batch as it runs: a rich progress bar on a terminal, plain lines elsewhere.

On a terminal (standard error is one) the bar shows done of total, failed, deduplicated,
the rate and the time left, redrawn in place. Without a terminal (a pipe, a CI log) there
is no bar and no colour: a plain line at most every ``interval`` seconds, and the last one.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["Display", "make_display", "Counts"]

Counts = dict[str, int]


class Display(Protocol):
    def update(self, done: int, total: int, counts: Counts, label: str) -> None: ...

    def close(self) -> None: ...


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s")


class _Bar:
    def __init__(self, console: Console, title: str, unit: str) -> None:
        if unit == "%":  # one job: its progress and state
            columns: tuple[str | ProgressColumn, ...] = (
                TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[label]}"), TimeElapsedColumn())
        else:  # a batch: scenes done, failed, deduplicated, the rate and the time left
            columns = (  # fits 80 columns
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=14), MofNCompleteColumn(),
                TextColumn("done · [red]{task.fields[failed]} failed[/] · {task.fields[deduplicated]} deduplicated"),
                _Rate(), TimeRemainingColumn())
        self._progress = Progress(*columns, console=console, transient=False)
        self._task = self._progress.add_task(title, total=None, failed=0, deduplicated=0, label="")
        self._progress.start()

    def update(self, done: int, total: int, counts: Counts, label: str) -> None:
        self._progress.update(self._task, completed=done, total=total or None, label=label,
                              failed=counts.get("failed", 0) + counts.get("canceled", 0),
                              deduplicated=counts.get("deduplicated", 0))

    def close(self) -> None:
        self._progress.stop()


class _Lines:
    def __init__(self, stream: TextIO, title: str, unit: str, interval: float) -> None:
        self._stream, self._title, self._unit, self._interval = stream, title, unit, interval
        self._last_at = 0.0
        self._last: tuple[Any, ...] | None = None
        self._pending: str | None = None

    def update(self, done: int, total: int, counts: Counts, label: str) -> None:
        line = (f"{self._title}: {done}/{total} {self._unit} done, {counts.get('failed', 0)} failed, "
                f"{counts.get('canceled', 0)} canceled, {counts.get('deduplicated', 0)} deduplicated"
                + (f" ({label})" if label else ""))
        key = (done, total, counts.get("failed", 0), counts.get("canceled", 0), label)
        if key == self._last:
            return
        self._last, self._pending = key, line
        if time.monotonic() - self._last_at >= self._interval:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            print(self._pending, file=self._stream, flush=True)
            self._last_at, self._pending = time.monotonic(), None

    def close(self) -> None:
        self._flush()


def make_display(title: str, unit: str, *, stream: TextIO | None = None, interval: float = 5.0) -> Display:
    """A bar when ``stream`` (standard error) is a terminal, else plain lines."""
    stream = stream or sys.stderr
    console = Console(file=stream)
    if console.is_terminal:
        return _Bar(console, title, unit)
    return _Lines(stream, title, unit, interval)
