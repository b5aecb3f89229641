"""The renderer as a process: ready line, clean shutdown, command line handling."""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scene_weaver.renderer import RendererOptions
from scene_weaver.renderer.cli import main, options_from_args, register
from tests.support.renderer import RendererProcess

from .support import connect, generate, handshake, send


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly_and_quickly(start_renderer: Callable[..., RendererProcess], sig: int) -> None:
    latency = 60.0
    renderer = start_renderer("--latency", str(latency))
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, generate("busy", "a request still in flight"))
        started = time.monotonic()
        assert renderer.stop(sig, grace=latency / 2) == 0  # exits by itself: 0, not killed
        # Quickly: it does not wait for the picture in flight (a 1 s close handshake at most).
        assert time.monotonic() - started < latency / 6
    finally:
        ws.close()


def test_register_adds_the_renderer_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="scene-weaver")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["renderer", "--port", "0", "--fail-rate", "0.5", "--fail-code", "TIMEOUT",
                              "--dialect", "semantest-events", "--download-dir", "/tmp/x", "--seed", "3"])
    assert options_from_args(args) == RendererOptions(
        port=0, fail_rate=0.5, fail_code="TIMEOUT", dialect="semantest-events", download_dir=Path("/tmp/x"), seed=3)
    refused = parser.parse_args(["renderer", "--fail-rate", "2"])
    assert refused.func(refused) == 2  # the subcommand runs the renderer, which refuses the option
    assert "fail_rate" in capsys.readouterr().err


def test_invalid_options_exit_with_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fail-rate", "2"]) == 2
    assert "fail_rate" in capsys.readouterr().err
