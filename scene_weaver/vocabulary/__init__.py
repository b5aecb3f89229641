"""What script parsing and prompt weaving both read: the character book and the lexicon.

It depends on neither of them, so ``script`` and ``weaving`` can share it without
importing each other.
"""

from __future__ import annotations

from .characters import Character, CharacterBook, load_characters, name_key
from .lexicon import CAPTION_LABELS, NOT_NAMES, SPEECH_VERB_RE, stated_setting

__all__ = [
    "CAPTION_LABELS",
    "NOT_NAMES",
    "SPEECH_VERB_RE",
    "Character",
    "CharacterBook",
    "load_characters",
    "name_key",
    "stated_setting",
]
