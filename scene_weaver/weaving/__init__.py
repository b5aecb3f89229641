"""Prompt weaving (issue 3 replaces this first version with the full analysis)."""

from __future__ import annotations

import hashlib
import json

from ..models import Scene, WovenPrompt

__all__ = ["weave_scene"]

NEGATIVE = "blurry, low quality, distorted anatomy, extra limbs, watermark, text artifacts"


def weave_scene(scene: Scene, *, style: str | None = None, max_length: int = 1200) -> WovenPrompt:
    chosen = scene.style or style or "graphic novel"
    parts = [f"{chosen} illustration"]
    if scene.narration:
        parts.append(scene.narration)
    if scene.speaker:
        parts.append(f"{scene.speaker} speaking")
    if scene.dialogue:
        parts.append("saying: " + " / ".join(scene.dialogue))
    text = ", ".join(parts)[:max_length]
    digest = hashlib.sha256(
        json.dumps([scene.model_dump(), chosen, max_length], sort_keys=True).encode()
    ).hexdigest()
    return WovenPrompt(text=text, negative=NEGATIVE, style=chosen, content_hash=digest)
