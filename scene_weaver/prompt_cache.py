"""Woven prompts cached in Redis by the content hash of scene, weaving settings and weaver version."""

from __future__ import annotations

import hashlib
import json

import redis

from . import keys, metrics
from .models import Scene, WovenPrompt
from .redis_text import decode
from .weaving import WEAVER_VERSION, weave_scene

__all__ = ["PromptCache"]

PROMPT_TTL_SECONDS = 24 * 3600
HITS, MISSES = "prompt_cache_hits", "prompt_cache_misses"


class PromptCache:
    def __init__(self, client: redis.Redis, ttl: int = PROMPT_TTL_SECONDS) -> None:
        self.client = client
        self.ttl = ttl

    @staticmethod
    def key_for(scene: Scene, style: str | None, max_length: int, version: str | None = None) -> str:
        """The key of a prompt: a new weaver (``WEAVER_VERSION``) never reads an older one's prompts."""
        canonical = json.dumps([version or WEAVER_VERSION, scene.model_dump(mode="json"), style, max_length],
                               sort_keys=True, separators=(",", ":"))
        return keys.prompt_cache(hashlib.sha256(canonical.encode()).hexdigest())

    def weave(self, scene: Scene, *, style: str | None, max_length: int) -> WovenPrompt:
        key, woven, hit = self.lookup(scene, style=style, max_length=max_length)
        self.client.hincrby(keys.counters(), HITS if hit else MISSES, 1)
        if not hit:
            self.client.set(key, woven.model_dump_json(), ex=self.ttl)
        return woven

    def lookup(self, scene: Scene, *, style: str | None, max_length: int) -> tuple[str, WovenPrompt, bool]:
        """(key, prompt, hit): the cached prompt, or a newly woven one the caller stores under the
        key and counts (a worker does both inside its next script); one round trip."""
        key = self.key_for(scene, style, max_length)
        cached = self.client.get(key)
        metrics.prompt_cache(hit=bool(cached))
        if cached:
            return key, WovenPrompt.model_validate_json(cached), True
        return key, weave_scene(scene, style=style, max_length=max_length), False

    def hit_rate(self) -> dict[str, int | float | None]:
        """Hits and misses since the counters began, and the share of hits (None before any lookup)."""
        hits, misses = (int(decode(value)) if value is not None else 0
                        for value in self.client.hmget(keys.counters(), [HITS, MISSES]))
        total = hits + misses
        return {"hits": hits, "misses": misses, "hit_rate": round(hits / total, 4) if total else None}
