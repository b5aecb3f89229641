"""The renderer's settings: one dataclass, validated once, shared by every module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..constants import DIALECTS

__all__ = [
    "FAIL_CODES",
    "RETRYABLE_CODES",
    "RendererOptions",
    "is_retryable",
]

RETRYABLE_CODES = frozenset({"OVERLOADED", "TIMEOUT", "INTERNAL"})
FAIL_CODES = (*sorted(RETRYABLE_CODES), "CONTENT_REJECTED", "INVALID_REQUEST")
_MAX_PORT = 65535


def is_retryable(code: str) -> bool:
    return code in RETRYABLE_CODES


@dataclass(frozen=True)
class RendererOptions:
    """How the local renderer behaves, including the faults it injects on purpose."""

    host: str = "127.0.0.1"
    port: int = 8765
    latency: float = 1.0
    jitter: float = 0.0
    fail_rate: float = 0.0
    fail_code: str = "OVERLOADED"
    drop_rate: float = 0.0
    handshake_delay: float = 0.0
    max_in_flight: int = 8
    overload: bool = False
    malformed_rate: float = 0.0
    api_key: str | None = None
    seed: int | None = None
    dialect: str = "weaver"
    download_dir: Path | None = None
    max_images: int = 2000
    retry_after: float | None = None  # named in OVERLOADED replies (seconds), when set

    def __post_init__(self) -> None:
        for name in ("fail_rate", "drop_rate", "malformed_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("latency", "jitter", "handshake_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")
        if not 0 <= self.port <= _MAX_PORT:
            raise ValueError(f"port out of range: {self.port}")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if self.max_images < 1:
            raise ValueError("max_images must be at least 1")
        if self.fail_code not in FAIL_CODES:
            raise ValueError(f"fail_code must be one of {', '.join(FAIL_CODES)}")
        if self.dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}")
