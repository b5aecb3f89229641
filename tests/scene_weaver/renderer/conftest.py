"""Renderer fixtures: real subprocesses on free ports, stopped by PID when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .support import Renderer, launch


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Renderer]:
    """One renderer with default flags, shared by a module's tests that do not inject faults."""
    process = launch(tmp_path_factory.mktemp("renderer") / "renderer.log")
    yield process
    process.stop()


@pytest.fixture
def start_renderer(tmp_path: Path) -> Iterator[Callable[..., Renderer]]:
    """Start a renderer with the given extra flags; every one started is stopped afterwards."""
    started: list[Renderer] = []

    def start(*flags: str) -> Renderer:
        process = launch(tmp_path / f"renderer-{len(started)}.log", *flags)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
