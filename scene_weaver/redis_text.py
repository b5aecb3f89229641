"""Reading Redis replies as text, whichever way the client was built.

The API and the workers use clients without ``decode_responses`` (replies are bytes);
the tests use clients with it (replies are str). Every reader goes through ``decode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["decode", "decode_hash"]


def decode(value: Any) -> str:
    """A Redis reply as text: bytes are UTF-8 decoded, anything else is ``str()``."""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_hash(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash (``HGETALL``) or stream entry's fields as text."""
    return {decode(name): decode(value) for name, value in raw.items()}
