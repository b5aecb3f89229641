from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scene_weaver.images import ImageStore


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    data = b"\x89PNG fake but bytes"
    digest = store.put(data, "image/png")
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.put(data, "image/png") == digest
    assert store.get(digest, "image/png") == data
    assert len(list(tmp_path.rglob("*.png"))) == 1
    assert not list(tmp_path.rglob(".incoming-*"))


def test_get_rejects_path_tricks(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    assert store.get("0" * 64, "image/png") is None
    with pytest.raises(ValueError):
        store.get("../../etc/passwd", "image/png")
