"""Weaving: an analysed scene poured into its style's template, within the length limit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..models import Scene, WovenPrompt
from ..vocabulary import CharacterBook
from .analysis import Continuity, SceneAnalysis, analyze_scene, continuity_from
from .compose import ESSENTIAL, Part, compose
from .styles import BASE_NEGATIVE, Style, resolve_style

if TYPE_CHECKING:
    from ..script.model import ParseResult

__all__ = ["weave_scene", "weave_script", "MIN_LENGTH", "WEAVER_VERSION"]

# Part of every content hash and of the prompt cache's key: bump it whenever the same input should
# weave differently, so a new weaver never serves a prompt an older one wove.
WEAVER_VERSION = "4"
MIN_LENGTH = 40
_INTENSITY_WORDS = ((0.8, "overwhelming"), (0.6, "strong"), (0.4, "clear"), (0.0, "subtle"))


def _check_length(max_length: int) -> None:
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < MIN_LENGTH:
        raise InvalidInput(
            f"max_length must be an integer of at least {MIN_LENGTH}",
            code="invalid_max_length",
            details={"field": "max_length", "value": max_length, "minimum": MIN_LENGTH},
        )


def _intensity_word(intensity: float) -> str:
    return next(word for floor, word in _INTENSITY_WORDS if intensity >= floor)


def _subject(analysis: SceneAnalysis) -> str:
    names = [c.name for c in analysis.characters]
    if not names:
        return "an evocative scene with no figures" if not analysis.action else ""
    if analysis.speaker:
        others = [n for n in names if n != analysis.speaker]
        return f"{analysis.speaker} speaking" + (f" to {' and '.join(others)}" if others else "")
    return " and ".join(names)


def _parts(scene: Scene, analysis: SceneAnalysis, style: Style) -> list[Part]:
    """Every candidate part, keyed by template slot, with its importance."""
    slots: dict[str, list[Part]] = {slot: [] for slot in style.template}

    def add(slot: str, text: str, priority: int) -> None:
        if slot in slots and text:
            slots[slot].append(Part(slot, text, priority))

    add("lead", style.lead, ESSENTIAL)
    if scene.anchor:
        add("lead", scene.anchor, 82)
    if analysis.panels:
        add("panels", f"{analysis.layout}", 84)
        for beat in analysis.panels:
            add("panels", beat, 44)
    add("subject", _subject(analysis), 95)
    for look in analysis.characters:
        if look.description:
            add("characters", f"{look.name}: {look.description}", 88)
        told = " ".join(analysis.action)
        detail = ", ".join(x for x in (look.costume, look.pose) if x and x not in told)
        if detail:
            add("characters", f"{look.name} {detail}", 68)
    for rank, sentence in enumerate(analysis.action):
        add("action", sentence.rstrip("."), 90 if rank == 0 else max(40, 64 - 4 * rank))
    if analysis.setting:
        add("setting", f"setting: {analysis.setting}", 86)
    add("mood", f"{_intensity_word(analysis.intensity)} {analysis.emotion} mood", 76)
    add("lighting", analysis.lighting, 66)
    add("palette", "colour palette of " + ", ".join(analysis.palette), 60)
    add("metaphor", analysis.metaphor, 56)
    if style.lettering:
        for line in scene.dialogue:
            add("speech", f"speech bubble “{line}”", 30)
        for caption in scene.captions:
            add("captions", f"caption box “{caption}”", 34)
    add("finish", style.finish, 50)
    return [part for slot in style.template for part in slots[slot]]


def _negative(style: Style) -> str:
    terms = list(BASE_NEGATIVE) + list(style.negative)
    if not style.lettering:
        terms += ["speech bubbles", "captions", "lettering"]
    return ", ".join(dict.fromkeys(terms))


def _content_hash(
    scene: Scene, style: Style, max_length: int, book: CharacterBook | None, carried: Continuity
) -> str:
    relevant = []
    if book:
        for name in sorted({scene.speaker, *scene.speakers} - {""}):
            character = book.get(name)
            if character:
                relevant.append([character.name, character.description])
    canonical = {
        "version": WEAVER_VERSION,
        "scene": scene.model_dump(mode="json"),
        "style": style.name,
        "max_length": max_length,
        "characters": relevant,
        "continuity": carried.to_dict(),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _with_stated_looks(carried: Continuity, scene: Scene) -> Continuity:
    """``carried``, plus the looks the scene itself carries for characters it has none for."""
    if not scene.looks:
        return carried
    looks = dict(carried.looks)
    for name, look in scene.looks.items():
        looks.setdefault(name, look)
    return Continuity(setting=carried.setting, looks=looks)


def _weave(
    scene: Scene, style: Style, max_length: int, book: CharacterBook | None, carried: Continuity
) -> tuple[WovenPrompt, SceneAnalysis]:
    analysis = analyze_scene(scene, continuity=_with_stated_looks(carried, scene), characters=book)
    text, dropped = compose(_parts(scene, analysis, style), max_length)
    details = analysis.to_dict()
    details["dropped"] = dropped
    prompt = WovenPrompt(
        text=text,
        negative=_negative(style),
        style=style.name,
        content_hash=_content_hash(scene, style, max_length, book, carried),
        analysis=details,
    )
    return prompt, analysis


def weave_scene(
    scene: Scene,
    *,
    style: str | None = None,
    max_length: int = 1200,
    characters: CharacterBook | None = None,
    context: Sequence[Scene] = (),
) -> WovenPrompt:
    """One scene's prompt. ``context`` holds the scenes before it, oldest first (continuity).

    ``scene.style`` overrides ``style``. Same input and settings give the same prompt and hash.
    """
    _check_length(max_length)
    chosen = resolve_style(scene.style or style)
    prompt, _ = _weave(scene, chosen, max_length, characters, continuity_from(context, characters))
    return prompt


def weave_script(
    result: ParseResult,
    *,
    style: str | None = None,
    max_length: int = 1200,
    characters: CharacterBook | None = None,
) -> list[WovenPrompt]:
    """A prompt per entry, carrying setting and costumes from one entry to the next."""
    _check_length(max_length)
    default = resolve_style(style)
    carried = Continuity()
    prompts = []
    for entry in result.entries:
        scene = entry.to_scene()
        prompt, analysis = _weave(scene, default, max_length, characters, carried)
        prompts.append(prompt)
        carried.advance(analysis)
    return prompts
