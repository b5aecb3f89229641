"""One decoder for Redis replies, whether the client decodes responses or not."""

from __future__ import annotations

import redis

from scene_weaver import keys
from scene_weaver.redis_text import decode, decode_hash


def test_bytes_and_text_clients_read_the_same(redis_url: str, redis_client: redis.Redis) -> None:
    redis_client.hset(keys.config(), mapping={"default_style": "café noir", "image_steps": 3})
    raw = redis.Redis.from_url(redis_url)  # replies as bytes, as in the API and the workers
    try:
        assert decode_hash(raw.hgetall(keys.config())) == {"default_style": "café noir", "image_steps": "3"}
        assert decode_hash(redis_client.hgetall(keys.config())) == {"default_style": "café noir", "image_steps": "3"}
    finally:
        raw.close()
    assert (decode(b"caf\xc3\xa9"), decode("café"), decode(1.5)) == ("café", "café", "1.5")
