"""Which format a script is written in, when the caller does not say."""

from __future__ import annotations

import re

from ..errors import InvalidInput

__all__ = ["FORMATS", "detect_format", "check_format"]

FORMATS = ("auto", "bracketed", "fountain")

_BRACKETED_RE = re.compile(r"^[ \t]*\[\d{1,9}[A-Za-z]?\]", re.MULTILINE)
_FOUNTAIN_HEADING_RE = re.compile(r"^[ \t]*(?:INT|EXT|EST|INT\./EXT|INT/EXT|I/E)[. ]", re.MULTILINE)
_FOUNTAIN_TITLE_RE = re.compile(r"\A\s*(?:Title|Credit|Author|Draft date)\s*:", re.IGNORECASE)
_FOUNTAIN_CUE_RE = re.compile(r"\n\n[ \t]*[A-Z][A-Z0-9 .'’-]+(?:\([^)]*\))?[ \t]*\n[^\n\s]", re.MULTILINE)
_MIN_FOUNTAIN_CUES = 2  # one capitalised line alone could be anything


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise InvalidInput(
            f"unknown script format {name!r}; expected one of {', '.join(FORMATS)}",
            code="invalid_format",
            details={"field": "format", "allowed": list(FORMATS)},
        )
    return name


def detect_format(text: str) -> str:
    """``bracketed`` as soon as an entry id opens a line; ``fountain`` on screenplay signs."""
    if _BRACKETED_RE.search(text):
        return "bracketed"
    if _FOUNTAIN_HEADING_RE.search(text) or _FOUNTAIN_TITLE_RE.match(text):
        return "fountain"
    if len(_FOUNTAIN_CUE_RE.findall(text)) >= _MIN_FOUNTAIN_CUES:
        return "fountain"
    return "bracketed"
