"""What a parsed script is made of: entries, warnings, skipped text and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Scene

__all__ = ["ScriptWarning", "Skipped", "Entry", "ParseResult"]

_MAX_TEXT, _MAX_LINES = 20000, 200  # the bounds of ``Scene``


@dataclass(frozen=True)
class ScriptWarning:
    """A problem found in the source, with a stable ``code`` and where it is."""

    line: int
    entry_id: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "entry_id": self.entry_id, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Skipped:
    """Text that belongs to no entry (transcript noise, headings, stray prose)."""

    line_start: int
    line_end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"line_start": self.line_start, "line_end": self.line_end, "text": self.text}


@dataclass
class Entry:
    """One scene of a script. ``spoken`` pairs each quote with its (raw, later normalised) speaker."""

    id: str
    line: int
    panel_count: int = 1
    speaker: str = ""
    speakers: list[str] = field(default_factory=list)
    dialogue: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    narration: str = ""
    stage_directions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    setting: str | None = None
    warnings: list[ScriptWarning] = field(default_factory=list)
    spoken: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "line": self.line,
            "panel_count": self.panel_count,
            "speaker": self.speaker,
            "speakers": list(self.speakers),
            "dialogue": list(self.dialogue),
            "captions": list(self.captions),
            "narration": self.narration,
            "stage_directions": list(self.stage_directions),
            "notes": list(self.notes),
            "setting": self.setting,
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def to_scene(self, *, style: str | None = None) -> Scene:
        """The entry as the domain's ``Scene``, clipped to the bounds a ``Scene`` accepts."""

        def lines(values: list[str]) -> list[str]:
            return [v[:_MAX_TEXT] for v in values[:_MAX_LINES]]

        return Scene(
            speaker=self.speaker[:200],
            dialogue=lines(self.dialogue),
            narration=self.narration[:_MAX_TEXT],
            entry_id=self.id[:64],
            panel_count=max(1, min(self.panel_count, 12)),
            style=style,
            speakers=[s[:200] for s in self.speakers[:50]],
            captions=lines(self.captions),
            stage_directions=lines(self.stage_directions),
            notes=lines(self.notes),
            setting=self.setting[:2000] if self.setting else None,
        )


@dataclass
class ParseResult:
    """Everything the parser found, in file order."""

    entries: list[Entry]
    warnings: list[ScriptWarning]
    skipped: list[Skipped]
    format: str
    seconds: float = 0.0

    @property
    def speakers(self) -> list[str]:
        seen: dict[str, None] = {}
        for entry in self.entries:
            for name in entry.speakers:
                seen.setdefault(name, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": [e.to_dict() for e in self.entries],
            "warnings": [w.to_dict() for w in self.warnings],
            "skipped": [s.to_dict() for s in self.skipped],
            "stats": {
                "entries": len(self.entries),
                "speakers": len(self.speakers),
                "quotes": sum(len(e.dialogue) + len(e.captions) for e in self.entries),
                "warnings": len(self.warnings),
                "seconds": round(self.seconds, 6),
            },
        }
