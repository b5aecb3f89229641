"""Script parsing: bracketed entry scripts (tidy or hand-written) and Fountain screenplays.

``parse_script`` is the entry point; every quote, caption, note, direction and narration
fragment of the source ends in one field of one entry, or in ``ParseResult.skipped``.
"""

from __future__ import annotations

import time

from ..errors import ScriptError
from ..vocabulary import Character, CharacterBook, load_characters
from .bracketed import parse_bracketed, prescan_names
from .detect import FORMATS, check_format, detect_format
from .fountain import parse_fountain
from .model import Entry, ParseResult, ScriptWarning, Skipped
from .speakers import SpeakerIndex, normalise_speakers

__all__ = [
    "FORMATS",
    "Character",
    "CharacterBook",
    "Entry",
    "ParseResult",
    "ScriptWarning",
    "Skipped",
    "SpeakerIndex",
    "load_characters",
    "parse_script",
]


def _known_names(text: str, characters: CharacterBook | None) -> dict[str, str]:
    known: dict[str, str] = {}
    if characters:
        for spelling in characters.spellings():
            known[spelling.lower()] = spelling
            if spelling.lower().startswith("the "):
                known.setdefault(spelling.lower()[4:], spelling)
    for name in prescan_names(text):
        known.setdefault(name.lower(), name)
    return known


def parse_script(
    text: str,
    *,
    format: str = "auto",
    strict: bool = False,
    characters: CharacterBook | None = None,
) -> ParseResult:
    """Parse ``text``; in strict mode any warning raises ``ScriptError`` listing all of them."""
    check_format(format)
    started = time.perf_counter()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    chosen = detect_format(text) if format == "auto" else format
    if chosen == "fountain":
        entries, skipped = parse_fountain(text)
    else:
        entries, skipped = parse_bracketed(text, _known_names(text, characters))
    normalise_speakers(entries, characters)
    warnings = [w for entry in entries for w in entry.warnings]
    if not entries and text.strip():
        warnings.append(ScriptWarning(1, None, "no_entries", f"no {chosen} entries found in the script"))
    result = ParseResult(entries, warnings, skipped, chosen, time.perf_counter() - started)
    if strict and warnings:
        listing = "; ".join(f"line {w.line}: {w.code} ({w.message})" for w in warnings)
        raise ScriptError(
            f"script has {len(warnings)} problem(s): {listing}",
            details=[w.to_dict() for w in warnings],
        )
    return result
