"""Which secrets production refuses: short ones, published ones and guessable ones.

A secret that appears anywhere in this repository (the compose file, the README, the
examples, the tests) is known to everyone who read it: a token signed with it is a forged
token. An installed package has no repository to look into, so the published values are
listed here, in ``PUBLISHED_SECRETS``; ``tests/api/test_security_secrets.py`` scans the
repository's text files and fails when it finds a secret-looking value that this module
would accept, so a new one cannot be added to the repository without being listed.

Guessability is zxcvbn's estimate (dictionary words, repeats, sequences, keyboard
patterns): a random secret of 32 characters is estimated at about 10^32 guesses, a
readable phrase or a repeated word far fewer.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

from .errors import ConfigurationError

__all__ = ["MIN_SECRET_BYTES", "MIN_GUESSES_LOG10", "PUBLISHED_SECRETS", "secret_weakness", "require_strong_secret"]

MIN_SECRET_BYTES = 32
# About 100 bits. zxcvbn counts 10 guesses per random character, so this asks for roughly
# 30 characters that no dictionary, repeat or sequence explains.
MIN_GUESSES_LOG10 = 30.0
_ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer inputs; longer secrets are scored in slices
_PROJECT_WORDS = ["scene", "weaver", "semantest", "secret", "jwt", "webhook", "change", "me", "example"]

# Every secret value that appears in the repository; the repository scan keeps this complete.
PUBLISHED_SECRETS = frozenset({
    "change-me-to-at-least-32-random-bytes-please",  # the old docker-compose.yml default
    "api-test-secret-api-test-secret-0123456789",  # tests/api/conftest.py
    "another-secret-another-secret-0123456789",  # tests/api/test_tokens.py
    "e2e-secret-e2e-secret-e2e-secret-0123456789",  # tests/e2e/stack.py
    "e2e-webhook-secret-0123456789",  # tests/e2e/test_api_live.py
    "demo-password",  # SCENE_WEAVER_DEMO_PASSWORD's default
})


def _guesses_log10(value: str) -> float:
    slices = [value[i:i + _ZXCVBN_MAX_LENGTH] for i in range(0, len(value), _ZXCVBN_MAX_LENGTH)]
    return sum(float(zxcvbn(part, user_inputs=_PROJECT_WORDS)["guesses_log10"]) for part in slices)


def secret_weakness(value: str) -> str | None:
    """Why ``value`` may not sign anything in production, or None when it may."""
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"must be at least {MIN_SECRET_BYTES} bytes"
    if value.strip() in PUBLISHED_SECRETS:
        return "is published in the Scene Weaver repository (anyone can sign with it)"
    if _guesses_log10(value) < MIN_GUESSES_LOG10:
        return "is too easy to guess (low entropy: words, repeats or sequences)"
    return None


def require_strong_secret(variable: str, value: str) -> None:
    """Raise ``ConfigurationError`` naming ``variable`` when ``value`` is weak."""
    problem = secret_weakness(value)
    if problem is not None:
        raise ConfigurationError(
            f"{variable} {problem}; in production set it to a random value, e.g. "
            f"`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
