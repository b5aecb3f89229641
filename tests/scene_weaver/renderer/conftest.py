"""Renderer fixtures: real subprocesses on free ports, stopped by PID when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.renderer import RendererProcess, start_renderer

LATENCY = 0.05  # quick pictures unless a test asks for slower ones with --latency


@pytest.fixture(scope="module")
def renderer() -> Iterator[RendererProcess]:
    """One renderer with default flags, shared by a module's tests that do not inject faults."""
    process = start_renderer(latency=LATENCY)
    yield process
    process.stop()


@pytest.fixture(name="start_renderer")
def start_renderer_fixture() -> Iterator[Callable[..., RendererProcess]]:
    """Start a renderer with the given extra flags; every one started is stopped afterwards."""
    started: list[RendererProcess] = []

    def start(*flags: str) -> RendererProcess:
        process = start_renderer(*flags, latency=LATENCY)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
