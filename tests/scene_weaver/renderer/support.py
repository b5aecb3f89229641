"""Talk to a renderer subprocess with the synchronous websocket-client, as a worker would."""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests
import websocket

ROOT = Path(__file__).resolve().parents[3]
READY_PREFIX = "renderer listening on ws://"
STARTUP_TIMEOUT = 15.0

Message = dict[str, Any]


@dataclass
class Renderer:
    process: subprocess.Popen[str]
    host: str
    port: int
    log: IO[bytes]

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stats(self) -> dict[str, int]:
        response = requests.get(f"{self.http_url}/stats", timeout=5)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process by its PID and wait for it; kill it only if it does not exit."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()
        return self.process.returncode


def launch(log_path: Path, *flags: str) -> Renderer:
    log = log_path.open("wb")
    command = [sys.executable, "-m", "scene_weaver.renderer", "--port", "0", "--latency", "0.05", *flags]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    line = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line.startswith(READY_PREFIX) or not line:
                break
        if process.poll() is not None:
            break
    if not line.startswith(READY_PREFIX):
        renderer = Renderer(process, "", 0, log)
        renderer.stop(signal.SIGKILL)
        raise RuntimeError(f"renderer did not start: {line!r}; see {log_path}")
    address = line.strip()[len(READY_PREFIX):].removesuffix("/ws")
    host, _, port = address.rpartition(":")
    return Renderer(process, host, int(port), log)


def connect(renderer: Renderer, headers: list[str] | None = None, timeout: float = 5.0) -> websocket.WebSocket:
    return websocket.create_connection(renderer.ws_url, timeout=timeout, header=headers or [])


def send(ws: websocket.WebSocket, payload: Message) -> None:
    ws.send(json.dumps(payload))


def recv(ws: websocket.WebSocket) -> Message:
    return json.loads(ws.recv())  # type: ignore[no-any-return]


def recv_until(ws: websocket.WebSocket, done: Callable[[Message], bool], limit: int = 200) -> list[Message]:
    """Collect frames up to and including the first one ``done`` accepts."""
    seen: list[Message] = []
    for _ in range(limit):
        message = recv(ws)
        seen.append(message)
        if done(message):
            return seen
    raise AssertionError(f"no matching frame in {seen}")


def handshake(ws: websocket.WebSocket) -> Message:
    send(ws, {"type": "handshake", "client": "scene-weaver", "version": "1.0",
              "capabilities": ["progress", "cancel", "batch"]})
    return recv(ws)


def generate(request_id: str, prompt: str, width: int = 128, height: int = 96, seed: int = 7) -> Message:
    return {"type": "generate_image", "request_id": request_id,
            "data": {"prompt": prompt, "negative_prompt": "",
                     "parameters": {"width": width, "height": height, "steps": 30, "guidance_scale": 7.5,
                                    "seed": seed, "style": "graphic novel"},
                     "metadata": {"job_id": "job-1", "entry_id": "0001"}}}


def outcome_of(request_id: str) -> Callable[[Message], bool]:
    return lambda m: m.get("request_id") == request_id and m["type"] in ("image_ready", "generation_error")


def close_code(ws: websocket.WebSocket) -> int | None:
    """Read until the server's close frame and return its code (None if the socket just died)."""
    try:
        for _ in range(100):
            opcode, frame = ws.recv_data_frame(True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return None
    finally:
        # websocket-client answers the close frame but keeps the socket open; the server
        # would then wait its close timeout for the TCP close.
        ws.shutdown()
    raise AssertionError("server never closed the connection")
