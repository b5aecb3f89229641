"""Injected faults: failures, drops, overload, garbage frames, auth, repeatable sequences."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.support.renderer import RendererProcess

from .support import close_code, connect, generate, handshake, outcome_of, recv, recv_until, send


@pytest.mark.parametrize(("code", "retryable"), [("CONTENT_REJECTED", False), ("OVERLOADED", True),
                                                 ("INVALID_REQUEST", False), ("TIMEOUT", True)])
def test_fail_rate_one_fails_every_request_with_the_code(
        start_renderer: Callable[..., RendererProcess], code: str, retryable: bool) -> None:
    renderer = start_renderer("--fail-rate", "1", "--fail-code", code)
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, generate("f", "doomed"))
        error = recv_until(ws, outcome_of("f"))[-1]
    finally:
        ws.close()
    assert error["type"] == "generation_error"
    assert error["error"]["code"] == code and error["error"]["retryable"] is retryable
    assert renderer.stats()["failed"] == 1


def test_drop_rate_one_closes_the_connection_mid_request(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--drop-rate", "1")
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, generate("d", "dropped"))
        assert recv(ws)["type"] == "progress_update"
        frames = []
        code = None
        try:
            while True:
                frames.append(recv(ws))
        except Exception as exc:  # the socket dies: which exception depends on timing
            code = type(exc).__name__
    finally:
        ws.close()
    assert code is not None and "Timeout" not in code
    assert not [f for f in frames if f["type"] in ("image_ready", "generation_error")]
    stats = renderer.stats()
    assert stats["dropped"] == 1 and stats["in_flight"] == 0


def test_max_in_flight_one_rejects_the_second_concurrent_request(start_renderer: Callable[..., RendererProcess]) -> None:
    # The first picture takes long enough that the second request surely arrives while it is drawn.
    renderer = start_renderer("--max-in-flight", "1", "--latency", "1.5")
    ws = connect(renderer)
    try:
        assert handshake(ws)["max_in_flight"] == 1
        send(ws, generate("first", "one"))
        send(ws, generate("second", "two"))
        outcomes = {}
        while len(outcomes) < 2:
            message = recv(ws)
            if message["type"] in ("image_ready", "generation_error"):
                outcomes[message["request_id"]] = message
    finally:
        ws.close()
    assert outcomes["first"]["type"] == "image_ready"
    assert outcomes["second"]["error"] == {"code": "OVERLOADED", "message": outcomes["second"]["error"]["message"],
                                           "retryable": True}


def test_overload_closes_every_connection_with_1013(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--overload")
    for _ in range(2):
        ws = connect(renderer)
        try:
            assert close_code(ws) == 1013
        finally:
            ws.close()
    assert renderer.stats()["connections"] == 2


@pytest.mark.parametrize("headers", [[], ["Authorization: Bearer wrong"], ["Authorization: Basic s3cret"]])
def test_api_key_is_enforced_with_1008(start_renderer: Callable[..., RendererProcess], headers: list[str]) -> None:
    renderer = start_renderer("--api-key", "s3cret")
    ws = connect(renderer, headers=headers)
    try:
        assert close_code(ws) == 1008
    finally:
        ws.close()


def test_the_right_api_key_is_let_in(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--api-key", "s3cret")
    ws = connect(renderer, headers=["Authorization: Bearer s3cret"])
    try:
        assert handshake(ws)["type"] == "handshake_ack"
    finally:
        ws.close()


def test_malformed_frames_come_before_the_real_answer(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--malformed-rate", "1", "--seed", "3")
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, generate("g", "noisy"))
        raw_frames = []
        while True:
            raw = ws.recv()
            raw_frames.append(raw)
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") == "image_ready":
                break
    finally:
        ws.close()

    def is_protocol_frame(raw: str) -> bool:
        try:
            message = json.loads(raw)
        except ValueError:
            return False
        return isinstance(message, dict) and message.get("type") in ("progress_update", "image_ready") \
            and "request_id" in message
    assert any(not is_protocol_frame(raw) for raw in raw_frames)


def test_handshake_delay_holds_back_the_ack(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--handshake-delay", "0.3")
    ws = connect(renderer)
    try:
        started = time.monotonic()
        assert handshake(ws)["type"] == "handshake_ack"
        assert time.monotonic() - started >= 0.3
    finally:
        ws.close()


def _outcome_codes(renderer: RendererProcess) -> list[str]:
    ws = connect(renderer)
    try:
        handshake(ws)
        codes = []
        for n in range(8):
            send(ws, generate(f"s-{n}", "coin"))
            codes.append(recv_until(ws, outcome_of(f"s-{n}"))[-1]["type"])
        return codes
    finally:
        ws.close()


def test_fault_seed_replays_the_same_sequence(start_renderer: Callable[..., RendererProcess]) -> None:
    flags = ("--fail-rate", "0.5", "--seed", "11", "--latency", "0.01")
    first = _outcome_codes(start_renderer(*flags))
    second = _outcome_codes(start_renderer(*flags, "--jitter", "0.01"))
    assert first == second
    assert set(first) == {"image_ready", "generation_error"}
