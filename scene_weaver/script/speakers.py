"""One name per character: case, articles, typos ("Archtect") and aliases folded together."""

from __future__ import annotations

import re
from collections import Counter

from rapidfuzz import fuzz, process

from ..vocabulary import CharacterBook, name_key
from .model import Entry

__all__ = ["SpeakerIndex", "normalise_speakers"]

SIMILARITY = 85.0  # rapidfuzz ratio: "Archtect"/"Architect" is 94, "Iris"/"Isis" is 75
_MIN_FUZZY_LENGTH = 4  # shorter names are matched exactly


def _display(spellings: Counter[str], key: str) -> str:
    mixed = [s for s, _ in spellings.most_common() if name_key(s) == key and not (s.islower() or s.isupper())]
    if mixed:
        best = mixed[0]
        return best[4:] if best.lower().startswith("the ") else best
    return key.title()


class SpeakerIndex:
    """Maps every spelling a script (or the characters file) uses to one canonical name."""

    def __init__(self, raw_names: list[str], book: CharacterBook | None = None) -> None:
        self.canonical: dict[str, str] = {}
        spellings: Counter[str] = Counter(raw_names)
        keys: Counter[str] = Counter(name_key(n) for n in raw_names if n.strip())
        book_keys = {name_key(s): s for s in book.spellings()} if book else {}
        heads: list[str] = []
        head_of: dict[str, str] = {}
        first_seen = {k: i for i, k in reversed(list(enumerate(name_key(n) for n in raw_names)))}
        # most used first; on a tie the longer spelling leads, since typos tend to drop letters
        for key in sorted(keys, key=lambda k: (-keys[k], -len(k), first_seen[k])):
            if book and key in book_keys:
                self.canonical[key] = book.canonical(book_keys[key]) or key
                continue
            if book_keys and len(key) >= _MIN_FUZZY_LENGTH:
                hit = process.extractOne(key, list(book_keys), scorer=fuzz.ratio, score_cutoff=SIMILARITY)
                if hit and book:
                    self.canonical[key] = book.canonical(book_keys[hit[0]]) or key
                    continue
            hit = (
                process.extractOne(key, heads, scorer=fuzz.ratio, score_cutoff=SIMILARITY)
                if len(key) >= _MIN_FUZZY_LENGTH
                else None
            )
            if hit:
                head_of[key] = hit[0]
            else:
                heads.append(key)
                head_of[key] = key
        displays = {head: _display(spellings, head) for head in heads}
        for key, head in head_of.items():
            self.canonical[key] = displays[head]
        if book:
            for spelling in book.spellings():
                self.canonical.setdefault(name_key(spelling), book.canonical(spelling) or spelling)
        alternatives = sorted(self.canonical, key=lambda k: (-len(k), k))
        self._mention_re = (
            re.compile(r"\b(?:" + "|".join(re.escape(k) for k in alternatives) + r")\b", re.IGNORECASE)
            if alternatives
            else None
        )

    def name(self, raw: str) -> str:
        return self.canonical.get(name_key(raw), raw.strip()) if raw.strip() else ""

    def mentioned(self, text: str) -> list[str]:
        """Canonical names of characters that ``text`` mentions, in order of first mention."""
        if self._mention_re is None:
            return []
        seen: dict[str, None] = {}
        for match in self._mention_re.finditer(text):
            seen.setdefault(self.canonical[name_key(match.group())], None)
        return list(seen)


def normalise_speakers(entries: list[Entry], book: CharacterBook | None = None) -> SpeakerIndex:
    """Rewrite each entry's ``spoken``, ``speaker`` and ``speakers`` with canonical names."""
    raw = [speaker for entry in entries for speaker, _ in entry.spoken if speaker]
    index = SpeakerIndex(raw, book)
    for entry in entries:
        entry.spoken = [(index.name(s), said) for s, said in entry.spoken]
        present: dict[str, None] = {}
        for speaker, _ in entry.spoken:
            if speaker:
                present.setdefault(speaker, None)
        for name in index.mentioned(entry.narration + " " + " ".join(entry.stage_directions)):
            present.setdefault(name, None)
        entry.speakers = list(present)
        entry.speaker = next((s for s, _ in entry.spoken if s), "")
    return index
