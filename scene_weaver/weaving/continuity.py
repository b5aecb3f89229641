"""A whole script planned before fan-out: each scene's context applied, scenes put in visual groups.

One pass over the script in order (linear in its length): the setting a scene does not state
is the last one stated before it, and a character keeps the look (costume, and the
characters file's description) last given to them until a scene states another. Scenes that
share a setting, a cast and a style form a *visual group*; the group's seed and anchor phrase
are derived from what defines the group only, so the same script planned again gets the same
groups and seeds, and every picture of a group is drawn from the same seed with the same
anchor in its prompt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..models import Scene
from ..vocabulary import CharacterBook, name_key
from .analysis import Continuity, analyze_scene
from .styles import resolve_style

__all__ = ["PlannedScene", "plan_script", "SEED_LIMIT", "group_of"]

# Seeds are drawn from [0, SEED_LIMIT): non-negative and within a signed 32-bit integer, inside
# Semantest's range (-1 for "any", else 0 .. 2**32 - 1) and every sampler's.
SEED_LIMIT = 2**31
_ARTICLES = ("the ", "a ", "an ")


@dataclass(frozen=True)
class PlannedScene:
    """One scene as it will be drawn: ``scene`` is a copy with its context applied."""

    scene: Scene
    group: str  # the visual group's id: "g-" and 16 hex digits
    seed: int  # the group's seed, in [0, SEED_LIMIT)
    anchor: str  # the phrase the group's prompts share (also on ``scene.anchor``)
    style: str | None  # the group's style (also on ``scene.style``); None: the weaver's default


def _place_key(setting: str | None) -> str:
    key = " ".join((setting or "").lower().replace(".", " ").split())
    for article in _ARTICLES:
        if key.startswith(article):
            return key[len(article):]
    return key


def group_of(setting: str | None, cast: Sequence[str], style: str | None) -> tuple[str, int]:
    """The group id and seed of scenes in ``setting`` with ``cast`` drawn in ``style``."""
    canonical = json.dumps([_place_key(setting), sorted({name_key(n) for n in cast}), style or ""],
                           ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"g-{digest[:16]}", int(digest[16:32], 16) % SEED_LIMIT


def _anchor(setting: str | None, cast: Sequence[str]) -> str:
    held = []
    if setting:
        place = setting.strip().rstrip(".")
        for article in ("the ", "The ", "a ", "A ", "an ", "An "):
            place = place.removeprefix(article)
        held.append(f"the same setting throughout ({place})")
    if cast:
        held.append(f"the same character designs for {' and '.join(cast)}")
    held.append("consistent colour grading across the sequence")
    return "series continuity: " + ", ".join(held)


def _style_name(style: str | None) -> str | None:
    return resolve_style(style).name if style else None


def plan_script(
    scenes: Sequence[Scene], *, style: str | None = None, characters: CharacterBook | None = None
) -> list[PlannedScene]:
    """Every scene in order with its context applied, its visual group, seed and anchor.

    ``style``: the script's style (a scene naming its own keeps it). ``characters``: the
    optional characters file, whose descriptions become part of each character's look.
    An unknown style raises ``InvalidInput`` (as weaving would).
    """
    default_style = _style_name(style)
    carried = Continuity()
    anchors: dict[str, str] = {}  # a group's anchor is worded once, by its first scene
    planned = []
    for scene in scenes:
        analysis = analyze_scene(scene, continuity=carried, characters=characters)
        carried.advance(analysis)
        cast = [look.name for look in analysis.characters]
        looks = {}
        for look in analysis.characters:
            described = ", ".join(part for part in (look.description, look.costume) if part)
            if described:
                looks[look.name] = described
        chosen = _style_name(scene.style) or default_style
        group, seed = group_of(analysis.setting, cast, chosen)
        anchor = anchors.setdefault(group, _anchor(analysis.setting, cast))
        copy = scene.model_copy(update={
            "setting": scene.setting or analysis.setting,
            "looks": {**looks, **scene.looks},
            "anchor": scene.anchor or anchor,
            "style": chosen,
        })
        planned.append(PlannedScene(scene=copy, group=group, seed=seed, anchor=copy.anchor or anchor,
                                    style=chosen))
    return planned
