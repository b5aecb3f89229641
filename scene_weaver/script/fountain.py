"""Fountain screenplays, read with ``screenplay-tools``.

Why screenplay-tools and not Jouvence (both installed and tried on Python 3.11):
screenplay-tools (MIT, released 2024, maintained alongside its FDX reader/writer) parses
from a string and returns typed elements: a ``Character`` carries ``name`` and
``extension`` ("V.O.") separately, parentheticals come without their brackets, and
``[[notes]]`` / ``/* boneyard */`` are lifted out into ``script.notes`` with markers left
in place, so nothing leaks into the narration. Jouvence (last release 2017) leaves notes
inside action text, gives untyped paragraph codes and reads only from a file path or
stream, so every step above would have to be redone by hand.
Neither library reports line numbers; ``_heading_lines`` recovers them by scanning.
"""

from __future__ import annotations

import re

from screenplay_tools.fountain.parser import Parser
from screenplay_tools.screenplay import ElementType

from .model import Entry, Skipped

__all__ = ["parse_fountain"]

_NOTE_MARK_RE = re.compile(r"\[\[(\d+)\]\]")
_BONEYARD_MARK_RE = re.compile(r"/\*(\d+)\*/")
_HEADING_RE = re.compile(r"^\s*(?:\.(?!\.)|(?:INT|EXT|EST|INT\./EXT|INT/EXT|I/E)[.\s])", re.IGNORECASE)
_TIME_RE = re.compile(r"\s+-\s+([A-Z][A-Z '’]*)$")


def _setting(heading: str) -> str:
    """``INT. LIGHTHOUSE STAIRS - NIGHT`` → ``lighthouse stairs (interior, night)``."""
    text = heading.lstrip(".").strip()
    text = re.sub(r"\s*#[^#]*#\s*$", "", text)  # scene number
    kinds = []
    prefix = re.match(r"(INT\./EXT|INT/EXT|I/E|INT|EXT|EST)\.?\s+", text, re.IGNORECASE)
    if prefix:
        kind = prefix.group(1).upper()
        kinds.append(
            {"INT": "interior", "EXT": "exterior", "EST": "establishing"}.get(kind, "interior/exterior")
        )
        text = text[prefix.end() :]
    time = _TIME_RE.search(text)
    if time:
        kinds.append(time.group(1).strip().lower())
        text = text[: time.start()]
    place = text.strip(" -").lower()
    return f"{place} ({', '.join(kinds)})" if kinds else place


def _heading_lines(lines: list[str]) -> list[int]:
    return [i + 1 for i, line in enumerate(lines) if _HEADING_RE.match(line) and line.strip(". ").strip()]


class _Collector:
    def __init__(self, notes: list[str], boneyards: list[str]) -> None:
        self.notes_src = notes
        self.boneyards_src = boneyards
        self.entries: list[Entry] = []
        self.narration: list[str] = []
        self.speaker = ""

    def start(self, entry_id: str, line: int, setting: str | None) -> None:
        self.close()
        self.entries.append(Entry(id=entry_id, line=line, setting=setting))

    def current(self) -> Entry:
        if not self.entries:
            self.entries.append(Entry(id="0000", line=1))
        return self.entries[-1]

    def clean(self, raw: str) -> str:
        entry = self.current()
        for match in _NOTE_MARK_RE.finditer(raw):
            entry.notes.append(" ".join(self.notes_src[int(match.group(1))].split()))
        for match in _BONEYARD_MARK_RE.finditer(raw):
            entry.notes.append(" ".join(self.boneyards_src[int(match.group(1))].split()))
        raw = _BONEYARD_MARK_RE.sub(" ", _NOTE_MARK_RE.sub(" ", raw))
        return " ".join(raw.split())

    def close(self) -> None:
        if self.entries:
            entry = self.entries[-1]
            entry.narration = " ".join(n for n in self.narration if n)
        self.narration = []
        self.speaker = ""


def parse_fountain(text: str) -> tuple[list[Entry], list[Skipped]]:
    """Entries (one per scene heading) with raw speaker names, and the title page as skipped text."""
    parser = Parser()
    parser.add_text(text)
    script = parser.script
    lines = text.split("\n")
    heading_lines = iter(_heading_lines(lines))
    collect = _Collector([n.text_raw for n in script.notes], [b.text_raw for b in script.boneyards])
    skipped: list[Skipped] = []
    if script.titleEntries:
        title = "\n".join(f"{t.key}: {t.text_raw}" for t in script.titleEntries)
        end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        skipped.append(Skipped(1, max(1, end), title))
    number = 0
    for element in script.elements:
        kind = element.type
        if kind == ElementType.HEADING:
            number += 1
            line = next(heading_lines, collect.entries[-1].line if collect.entries else 1)
            scene_id = element.scene_number or f"{number:04d}"
            collect.start(str(scene_id), line, _setting(element.text_raw))
            continue
        entry = collect.current()
        if kind == ElementType.CHARACTER:
            collect.speaker = element.name.strip()
        elif kind in (ElementType.DIALOGUE, ElementType.LYRIC):
            said = collect.clean(element.text_raw)
            if said:
                entry.dialogue.append(said)
                entry.spoken.append((collect.speaker, said))
        elif kind in (ElementType.PARENTHETICAL, ElementType.TRANSITION):
            direction = collect.clean(element.text_raw).strip("()")
            if direction:
                entry.stage_directions.append(direction)
        elif kind in (ElementType.SECTION, ElementType.SYNOPSIS):
            note = collect.clean(element.text_raw)
            if note:
                entry.notes.append(note)
        elif kind == ElementType.ACTION:
            collect.narration.append(collect.clean(element.text_raw))
    collect.close()
    return collect.entries, skipped
