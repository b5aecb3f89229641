"""Requests for the tests, and the image the renderer draws for them."""

from __future__ import annotations

import uuid
from typing import Any

from scene_weaver.renderer.drawing import render_png, resolve_seed
from scene_weaver.semantest import GenerationRequest

SIDE = 64


def request(prompt: str = "a lighthouse at dusk", **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "prompt": prompt,
        "negative_prompt": "blurry",
        "width": SIDE,
        "height": SIDE,
        "metadata": {"job_id": "job-1", "entry_id": "0001"},
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def expected_png(req: GenerationRequest) -> bytes:
    """What the local renderer draws for ``req`` (deterministic per prompt and seed)."""
    return render_png(req.prompt, req.width, req.height, resolve_seed(req.prompt, req.seed))
