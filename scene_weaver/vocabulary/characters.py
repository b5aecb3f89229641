"""The optional characters file: canonical names, aliases and how each one looks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput

__all__ = ["Character", "CharacterBook", "load_characters", "name_key"]


@dataclass(frozen=True)
class Character:
    name: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    notes: str = ""


@dataclass
class CharacterBook:
    """Characters by canonical name; every name and alias resolves case-insensitively."""

    characters: list[Character] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_key: dict[str, Character] = {}
        for character in self.characters:
            for spelling in (character.name, *character.aliases):
                self._by_key.setdefault(name_key(spelling), character)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.characters]

    def spellings(self) -> list[str]:
        """Every name and alias, longest first (so "Old Tomas" wins over "Tomas" in scans)."""
        all_spellings = {s for c in self.characters for s in (c.name, *c.aliases) if s}
        return sorted(all_spellings, key=lambda s: (-len(s), s))

    def get(self, name: str) -> Character | None:
        return self._by_key.get(name_key(name))

    def canonical(self, name: str) -> str | None:
        found = self.get(name)
        return found.name if found else None


def name_key(name: str) -> str:
    """How a name is compared: lower case, spaces collapsed, a leading "the " dropped."""
    key = " ".join(name.lower().split())
    return key[4:] if key.startswith("the ") else key


def _character(raw: Any, index: int) -> Character:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise InvalidInput(
            f"character #{index} needs a non-empty 'name'",
            code="invalid_characters",
            details={"field": "characters", "index": index},
        )
    aliases = raw.get("aliases") or []
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise InvalidInput(
            f"character #{index}: 'aliases' must be a list of strings",
            code="invalid_characters",
            details={"field": "characters", "index": index},
        )
    return Character(
        name=raw["name"].strip(),
        aliases=tuple(a.strip() for a in aliases if a.strip()),
        description=str(raw.get("description") or "").strip(),
        notes=str(raw.get("notes") or "").strip(),
    )


def load_characters(source: str | Path | Iterable[Mapping[str, Any]]) -> CharacterBook:
    """Read a characters file: a path, a JSON text, or the already-decoded list of objects."""
    data: Any = source
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith(("[", "{"))):
        try:
            data = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                f"cannot read characters file: {exc}",
                code="invalid_characters",
                details={"field": "characters"},
            ) from exc
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"characters file is not valid JSON: {exc}",
                code="invalid_characters",
                details={"field": "characters", "line": exc.lineno},
            ) from exc
    if isinstance(data, Mapping) and "characters" in data:
        data = data["characters"]
    if not isinstance(data, list):
        raise InvalidInput(
            "characters must be a JSON list of {name, aliases, description, notes}",
            code="invalid_characters",
            details={"field": "characters"},
        )
    return CharacterBook([_character(raw, i) for i, raw in enumerate(data)])
