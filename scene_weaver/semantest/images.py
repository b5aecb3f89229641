"""Turning an image announcement into checked bytes: fetch, decode, measure."""

from __future__ import annotations

import base64
import binascii
import io
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..errors import SemantestError
from .models import GeneratedImage

__all__ = ["fetch_bytes", "decode_b64", "checked_image", "MIME_BY_FORMAT"]

MIME_BY_FORMAT = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
_FETCHABLE = ("http", "https", "file")


def fetch_bytes(url: str, *, timeout: float, headers: dict[str, str] | None = None) -> bytes:
    """The body at ``url`` (http, https or file); a failure is retryable."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in _FETCHABLE:
        raise SemantestError(f"image_url scheme {scheme!r} is not supported", code="invalid_image")
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=max(timeout, 0.1)) as resp:
            body: bytes = resp.read()
            return body
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SemantestError(f"fetching {url} failed: {exc}", code="image_fetch_failed") from exc


def decode_b64(text: str) -> bytes:
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise SemantestError("image_b64 is not base64", code="invalid_image") from exc


def checked_image(data: bytes, mime_type: str | None, metadata: dict[str, Any]) -> GeneratedImage:
    """``data`` as a GeneratedImage, once Pillow agrees it is an image of the stated type."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            width, height = img.size
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SemantestError(f"image bytes do not decode: {exc}", code="invalid_image") from exc
    actual = MIME_BY_FORMAT.get(fmt, f"image/{fmt.lower()}")
    stated = (mime_type or actual).lower()
    if stated == "image/jpg":
        stated = "image/jpeg"
    if stated != actual:
        raise SemantestError(f"image is {actual}, announced as {stated}", code="invalid_image")
    return GeneratedImage(data=data, mime_type=actual, width=width, height=height, metadata=metadata)
