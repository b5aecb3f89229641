"""The image store: bytes kept on disk, content-addressed by sha256."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from pathlib import Path

__all__ = ["ImageStore", "EXTENSIONS"]

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_sequence = itertools.count()


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str, mime_type: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / f"{sha256}{EXTENSIONS.get(mime_type, '.bin')}"

    def put(self, data: bytes, mime_type: str) -> str:
        """Store the bytes once; writing the same picture again is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest, mime_type)
        if target.exists():
            return digest
        # A name of its own (process, thread, sequence), renamed into place: no reader sees half a picture.
        tmp = target.parent / f".incoming-{os.getpid()}-{threading.get_ident()}-{next(_sequence)}"
        try:
            handle = tmp.open("xb")
        except FileNotFoundError:  # the folder's first picture
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = tmp.open("xb")
        try:
            with handle:
                handle.write(data)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str, mime_type: str) -> bytes | None:
        path = self.path_for(sha256, mime_type)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
