"""What the narration says about places and people: setting, time of day, costume, pose."""

from __future__ import annotations

import re

from ..vocabulary import SPEECH_VERB_RE, stated_setting

__all__ = ["infer_setting", "time_of_day", "costumes", "poses", "action_sentences"]

_PLACE_NOUNS = (
    r"lighthouse|stairs|staircase|stairwell|room|map room|library|sea|shore|beach|forest|woods|city|street|"
    r"cafe|café|garden|kitchen|desert|mountains?|cliffs?|ship|boat|harbou?r|tower|cave|church|cathedral|temple|"
    r"station|train|bridge|attic|basement|cellar|office|classroom|museum|ocean|river|lake|field|meadow|ruins|"
    r"palace|castle|market|rooftop|roof|hallway|corridor|void|moon|island|studio|bar|hospital|prison|"
    r"laborator(?:y|ies)|lab|observatory|workshop|house|apartment|bedroom|balcony|square|park|desert|"
    r"underwater|sky|clouds|cemetery|graveyard|theatre|theater|hall|chamber|platform|deck|pier|dock"
)
_PLACE_RE = re.compile(
    r"\b(?:in|inside|at|on|under|beneath|within|atop|across|by|near|outside) "
    r"((?:the|a|an|his|her|their|an old|a small) (?:[\w'-]+ ){0,3}(?:" + _PLACE_NOUNS + r"))\b",
    re.IGNORECASE,
)
_CAPTION_PLACE_RE = re.compile(
    r"^(?:the |a |an )?(?:[\w'-]+ ){0,3}(?:" + _PLACE_NOUNS + r")\.?$", re.IGNORECASE
)
_TIME_RE = re.compile(
    r"\b(midnight|night|nighttime|dawn|sunrise|morning|noon|midday|afternoon|dusk|sunset|twilight|evening)\b",
    re.IGNORECASE,
)
_TIME_LIGHT = {
    "midnight": "moonlit midnight", "night": "night, moonlight and lamplight", "nighttime": "night, moonlight",
    "dawn": "pale dawn light", "sunrise": "sunrise glow", "morning": "clear morning light",
    "noon": "high noon sun", "midday": "high midday sun", "afternoon": "warm afternoon light",
    "dusk": "dusky half-light", "sunset": "sunset backlight", "twilight": "blue-hour twilight",
    "evening": "evening glow",
}  # fmt: skip
_COSTUME_RE = re.compile(
    r"\b(?:dressed (?:as|in)|wearing|wears|clad in|in (?:a|an|his|her|their) (?=(?:[\w-]+ ){0,3}"
    r"(?:coat|raincoat|dress|robe|robes|suit|cloak|hat|armou?r|uniform|jacket|gown|scarf|sweater|overalls)\b))"
    r" ?([^,.;:!?()]+)",
    re.IGNORECASE,
)
_POSE_RE = re.compile(
    r"\b(?:is |are )?((?:sitting|sits|standing|stands|kneeling|kneels|leaning|leans|lying|lies|walking|walks|"
    r"running|runs|climbing|climbs|holding|holds|looking|looks|reaching|reaches|floating|floats|swimming|"
    r"swims|gazing|gazes|pointing|points|unroll(?:s|ing)|crouch(?:es|ing)|dancing|dances|tapping|taps|"
    r"carrying|carries|staring|stares)\b[^,.;:!?()]*)",
    re.IGNORECASE,
)
_PANEL_PHRASE_RE = re.compile(
    r"\b(?:(?:a|an) )?(?:\d{1,3}|two|three|four|five|six)[- ]panels?(?: strip| page)?(?: (?:in which|where))?\.?\s*",
    re.IGNORECASE,
)

_MIN_ACTION_WORDS = 2  # a lone word left after the cuts is no picture


def infer_setting(narration: str, captions: list[str]) -> str | None:
    """The place a scene states, else a place phrase in its narration or a place-like caption."""
    stated = stated_setting(narration)
    if stated:
        return stated
    for caption in captions:
        if _CAPTION_PLACE_RE.match(caption.strip()):
            return caption.strip().rstrip(".")
    place = _PLACE_RE.search(narration)
    return place.group(1) if place else None


def time_of_day(*texts: str) -> str | None:
    for text in texts:
        found = _TIME_RE.search(text)
        if found:
            return _TIME_LIGHT[found.group(1).lower()]
    return None


def _owner(sentence: str, at: int, names: list[str], fallback: str) -> str:
    """The character a phrase at ``at`` describes: the last one named before it in the sentence."""
    owner, best = fallback, -1
    lowered = sentence[:at].lower()
    for name in names:
        pos = lowered.rfind(name.lower())
        if pos > best:
            owner, best = name, pos
    return owner


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]


def costumes(narration: str, names: list[str], fallback: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for sentence in _sentences(narration):
        for match in _COSTUME_RE.finditer(sentence):
            owner = _owner(sentence, match.start(), names, fallback)
            if owner and owner not in found:
                found[owner] = " ".join(match.group(0).split())
    return found


def poses(narration: str, names: list[str], fallback: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for sentence in _sentences(narration):
        for match in _POSE_RE.finditer(sentence):
            owner = _owner(sentence, match.start(), names, fallback)
            phrase = match.group(1)
            said = SPEECH_VERB_RE.search(phrase)
            if said:
                phrase = re.sub(r"\s+(?:and|then)\s*$", "", phrase[: said.start()])
            phrase = " ".join(phrase.split())
            if owner and phrase and found.get(owner, "").count(",") < 1:
                found[owner] = f"{found[owner]}, {phrase}" if owner in found else phrase
    return found


def action_sentences(narration: str) -> list[str]:
    """The narration as picture-worthy sentences: panel counts and "she says:" tails removed."""
    kept = []
    for raw in _sentences(_PANEL_PHRASE_RE.sub("", narration)):
        sentence = raw.rstrip(":").strip()
        verbs = list(SPEECH_VERB_RE.finditer(sentence))
        if verbs and (verbs[-1].end() >= len(sentence) - 12):
            sentence = sentence[: verbs[-1].start()]
        sentence = re.sub(r"(?:,?\s*\b(?:and|then)\b)?(?:\s+\blater\b)?\s*$", "", sentence).strip(" ,;:")
        if len(sentence.split()) < _MIN_ACTION_WORDS:
            continue
        kept.append(sentence)
    return kept
