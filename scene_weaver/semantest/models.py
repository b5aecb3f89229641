"""What the pipeline asks Semantest for, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GenerationRequest", "GeneratedImage"]


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int = -1
    style: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)  # job_id, entry_id, caption (the spoken line)

    def parameters(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "seed": self.seed,
            "style": self.style,
        }


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    mime_type: str
    width: int
    height: int
    metadata: dict[str, Any]
