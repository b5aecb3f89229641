"""Words both parsing and analysis read: speech verbs, caption labels, non-names, stated settings."""

from __future__ import annotations

import re

__all__ = ["SPEECH_VERB_RE", "NOT_NAMES", "CAPTION_LABELS", "stated_setting"]

SPEECH_VERB_RE = re.compile(
    r"\b(?:says?|said|asks?|asked|answers?|answered|repl(?:y|ies|ied)|whispers?|whispered|"
    r"shouts?|shouted|adds?|added|continues?|continued|responds?|responded|murmurs?|murmured|"
    r"mutters?|muttered|cr(?:y|ies|ied)|exclaims?|exclaimed|calls? out|called out|speaks?|spoke|"
    r"tells?|told|sighs?|sighed|sings?|sang|yells?|yelled|declares?|declared|insists?|insisted|"
    r"muses?|mused|interjects?|interjected|retorts?|retorted|protests?|protested|"
    r"concludes?|concluded|wonders? aloud|recites?|recited|announces?|announced)\b",
    re.IGNORECASE,
)

CAPTION_LABELS = frozenset({"caption", "narration", "narrator caption"})

# Capitalised words that start sentences or phrases but never name a character.
NOT_NAMES = frozenset(
    """a an the and but or so then later now meanwhile suddenly finally in on at by of for from to
    with without into onto under over inside outside after before while when where who which that
    this these those there here it its she he they her his their them i we you our my your
    scene panel panels caption strip page shot cut fade int ext day night morning evening dawn dusk
    everything nothing someone something everyone each every all some no yes one two three four five
    six seven eight nine ten first second third last next close wide medium long establishing
    above below behind beside between beyond across through around near far outside also only even
    chatgpt assistant user note notes edit copy""".split()  # noqa: SIM905 - a word list reads best as text
)

_SETTING_RES = (
    re.compile(
        r"\bscene is (?:now |set |again )*(?:(?:in|at|on|inside|under|beneath|within) )?([^.!?\n]+)",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:setting|location)\s*:\s*([^.!?\n]+)", re.IGNORECASE),
    re.compile(r"\bwe are (?:now |back )*(?:in|at|on|inside|under) ([^.!?\n]+)", re.IGNORECASE),
)


def stated_setting(text: str) -> str | None:
    """A setting the text states outright ("The scene is now underwater", "Setting: a cafe")."""
    for pattern in _SETTING_RES:
        stated = pattern.search(text)
        if stated and stated.group(1).strip(" ,"):
            return stated.group(1).strip(" ,")
    return None
