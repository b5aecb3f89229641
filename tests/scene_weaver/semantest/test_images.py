"""Checking what Semantest hands back before anyone stores it."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from scene_weaver.errors import SemantestError
from scene_weaver.semantest.images import checked_image, decode_b64, fetch_bytes


def _png(width: int = 8, height: int = 6) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, format="PNG")
    return out.getvalue()


def test_reads_size_from_the_bytes() -> None:
    image = checked_image(_png(8, 6), "image/png", {"seed": 1})
    assert (image.width, image.height, image.mime_type) == (8, 6, "image/png")


@pytest.mark.parametrize("data, mime", [(b"not an image", "image/png"), (_png()[:40], "image/png"),
                                        (_png(), "image/jpeg")])
def test_rejects_what_does_not_decode_as_stated(data: bytes, mime: str) -> None:
    with pytest.raises(SemantestError) as caught:
        checked_image(data, mime, {})
    assert caught.value.code == "invalid_image" and caught.value.retryable


def test_inline_and_file_urls(tmp_path: Path) -> None:
    png = _png()
    assert decode_b64("data:image/png;base64," + base64.b64encode(png).decode()) == png
    path = tmp_path / "x.png"
    path.write_bytes(png)
    assert fetch_bytes(path.as_uri(), timeout=1) == png
    with pytest.raises(SemantestError):
        fetch_bytes("ftp://example.invalid/x.png", timeout=1)
