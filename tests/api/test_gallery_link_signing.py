"""Gallery links keep their signatures when the signer derives its key once (issue 15)."""

from __future__ import annotations

import hashlib

from itsdangerous import Signer

from api.gallery_links import GalleryLinks
from scene_weaver.settings import Settings

SECRET = "gallery-secret-gallery-secret-0123456789"


def test_signatures_are_itsdangerous_salted_hmac_ones() -> None:
    reference = Signer(SECRET, salt="scene-weaver.gallery-link", key_derivation="hmac", digest_method=hashlib.sha256)
    links = GalleryLinks(SECRET, 600, clock=lambda: 1000.0)
    grant = links.grant("job", "a" * 32)
    signature = links.signature("job", grant.ident, grant.expires)
    assert signature == reference.get_signature(f"job:{grant.ident}:{grant.expires}").decode()
    assert links.check("job", grant.ident, str(grant.expires), signature) == grant


def test_one_signer_per_secret_and_lifetime() -> None:
    first = Settings.from_env({"JWT_SECRET_KEY": SECRET})
    again = Settings.from_env({"JWT_SECRET_KEY": SECRET})
    other = Settings.from_env({"JWT_SECRET_KEY": SECRET + "-other"})
    assert GalleryLinks.from_settings(first) is GalleryLinks.from_settings(again)
    assert GalleryLinks.from_settings(other) is not GalleryLinks.from_settings(first)
