"""Signed gallery links: a page that opens in a browser without a token, for a short while.

A link carries ``exp`` (Unix time) and ``sig``, an HMAC-SHA256 (itsdangerous' ``Signer``,
keyed by ``JWT_SECRET_KEY`` under a salt of its own) over what it opens — ``job:<id>`` or
``batch:<id>`` — and ``exp``. Nothing else is needed to check it: no Redis, no session. An
altered or expired link is a 403. The same signature opens the page's pictures and its live
event stream (the browser cannot send an ``Authorization`` header, and tokens never go in
URLs); a batch page signs each of its jobs' picture links with the batch link's expiry.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from flask import request, url_for
from itsdangerous import Signer

from scene_weaver.errors import SceneWeaverError
from scene_weaver.settings import Settings

from .services import services

__all__ = ["GalleryLinks", "GalleryLinkRefused", "Kind", "Grant", "gallery_link", "api_url"]

Kind = Literal["job", "batch"]
_SALT = "scene-weaver.gallery-link"
_MAX_EXP_DIGITS = 12
_MAX_SIG_LENGTH = 100


class GalleryLinkRefused(SceneWeaverError):
    """An altered, malformed or expired gallery link."""

    code = "gallery_link_invalid"
    http_status = 403


@dataclass(frozen=True)
class Grant:
    """What a checked link opens, and until when."""

    kind: Kind
    ident: str
    expires: int

    def query(self, signer: GalleryLinks) -> dict[str, str]:
        return {"exp": str(self.expires), "sig": signer.signature(self.kind, self.ident, self.expires)}


class GalleryLinks:
    def __init__(self, secret: str, lifetime: int, clock: Callable[[], float] = time.time) -> None:
        # The salted key derived once (itsdangerous derives it again for every signature otherwise):
        # the same HMAC-SHA256 signatures as Signer(secret, salt=_SALT, key_derivation="hmac").
        derived = Signer(secret, salt=_SALT, key_derivation="hmac", digest_method=hashlib.sha256).derive_key()
        self._signer = Signer(derived, key_derivation="none", digest_method=hashlib.sha256)
        self.lifetime = lifetime
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> GalleryLinks:
        return _links(settings.jwt_secret_key, settings.gallery_link_expires)

    def grant(self, kind: Kind, ident: str) -> Grant:
        """A new grant for ``kind:ident``, good for ``lifetime`` seconds from now."""
        return Grant(kind, ident, int(self._clock()) + self.lifetime)

    def signature(self, kind: Kind, ident: str, expires: int) -> str:
        return self._signer.get_signature(f"{kind}:{ident}:{expires}").decode()

    def check(self, kind: Kind, ident: str, exp: str | None, sig: str | None) -> Grant:
        """The grant the query's ``exp`` and ``sig`` give for ``kind:ident``; ``GalleryLinkRefused`` if none."""
        if not exp or not sig or len(exp) > _MAX_EXP_DIGITS or len(sig) > _MAX_SIG_LENGTH or not exp.isdigit():
            raise GalleryLinkRefused("this link is not a gallery link: open links.gallery of the job or batch")
        expires = int(exp)
        if not self._signer.verify_signature(f"{kind}:{ident}:{expires}", sig):
            raise GalleryLinkRefused("this gallery link was altered or is not for this page")
        if expires <= self._clock():
            raise GalleryLinkRefused("this gallery link has expired: ask the API for the job or batch again",
                                     code="gallery_link_expired", details={"expired_at": expires})
        return Grant(kind, ident, expires)


@functools.lru_cache(maxsize=8)
def _links(secret: str, lifetime: int) -> GalleryLinks:
    """One signer per secret and lifetime (every job answer signs its gallery link)."""
    return GalleryLinks(secret, lifetime)


_PAGES: dict[str, tuple[str, str]] = {"job": ("gallery.job_gallery", "job_id"),
                                      "batch": ("gallery.batch_gallery", "batch_id")}


def api_url(endpoint: str, **values: Any) -> str:
    """``url_for`` under the prefix the current request came through (``/v1`` or bare)."""
    bare = "_bare" if request.blueprints and request.blueprints[0].endswith("_bare") else ""
    blueprint, view = endpoint.split(".", 1)
    return url_for(f"{blueprint}{bare}.{view}", **values)


def gallery_link(kind: Kind, ident: str) -> str:
    """``links.gallery`` of a job or a batch: its page, signed for ``GALLERY_LINK_EXPIRES`` seconds."""
    links = GalleryLinks.from_settings(services().settings)
    endpoint, name = _PAGES[kind]
    return api_url(endpoint, **{name: ident}, **links.grant(kind, ident).query(links))
