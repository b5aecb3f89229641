"""Scene analysis: who is there, where, in what mood, with which ideas, in how many panels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import Scene
from ..vocabulary import CharacterBook
from .concepts import detect_concepts, visual_metaphor
from .emotions import detect_emotion
from .looks import action_sentences, costumes, infer_setting, poses, time_of_day

__all__ = ["Continuity", "CharacterLook", "SceneAnalysis", "analyze_scene", "continuity_from"]

_LAYOUTS = {
    2: "two-panel diptych, side by side",
    3: "three-panel horizontal strip",
    4: "four-panel 2x2 grid",
    5: "five-panel page, one wide establishing panel above four",
    6: "six-panel 2x3 page grid",
}


@dataclass
class Continuity:
    """What carries over from earlier scenes: the current place and how each character looks."""

    setting: str | None = None
    looks: dict[str, str] = field(default_factory=dict)

    def advance(self, analysis: SceneAnalysis) -> None:
        if analysis.setting:
            self.setting = analysis.setting
        for look in analysis.characters:
            if look.costume:
                self.looks[look.name] = look.costume

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "looks": dict(sorted(self.looks.items()))}


@dataclass(frozen=True)
class CharacterLook:
    name: str
    speaking: bool
    description: str = ""
    costume: str = ""
    pose: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "speaking": self.speaking,
            "description": self.description,
            "costume": self.costume,
            "pose": self.pose,
        }


@dataclass
class SceneAnalysis:
    characters: list[CharacterLook]
    speaker: str
    setting: str | None
    setting_source: str
    emotion: str
    intensity: float
    palette: list[str]
    lighting: str
    concepts: list[str]
    metaphor: str
    action: list[str]
    panels: list[str]
    layout: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "emotion": {"name": self.emotion, "intensity": self.intensity},
            "palette": list(self.palette),
            "lighting": self.lighting,
            "concepts": list(self.concepts),
            "metaphor": self.metaphor,
            "setting": {"name": self.setting, "source": self.setting_source},
            "characters": [c.to_dict() for c in self.characters],
            "speaker": self.speaker,
            "panels": {"count": len(self.panels) or 1, "layout": self.layout, "beats": list(self.panels)},
        }


def _short(text: str, words: int = 14) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def _panel_beats(scene: Scene, action: list[str], speaker: str) -> list[str]:
    beats = [_short(a.rstrip(".")) for a in action]
    beats += [f"{speaker or 'a figure'} says “{_short(d, 10)}”" for d in scene.dialogue]
    beats += [f"caption “{_short(c, 8)}”" for c in scene.captions]
    count = scene.panel_count
    if not beats:
        beats = ["the scene"]
    grouped = []
    for i in range(count):
        chunk = beats[i * len(beats) // count : (i + 1) * len(beats) // count] or [
            f"close-up reaction of {speaker}" if speaker else "wide view of the setting"
        ]
        grouped.append(f"panel {i + 1}: " + "; ".join(chunk))
    return grouped


def _present(scene: Scene, book: CharacterBook | None) -> list[str]:
    names: dict[str, None] = {}
    for name in ([scene.speaker] if scene.speaker else []) + list(scene.speakers):
        canonical = (book.canonical(name) if book else None) or name
        names.setdefault(canonical, None)
    if book:
        lowered = scene.narration.lower()
        for spelling in book.spellings():
            if spelling.lower() in lowered:
                names.setdefault(book.canonical(spelling) or spelling, None)
    return list(names)


def analyze_scene(
    scene: Scene, *, continuity: Continuity | None = None, characters: CharacterBook | None = None
) -> SceneAnalysis:
    carried = continuity or Continuity()
    names = _present(scene, characters)
    speaker = (
        ((characters.canonical(scene.speaker) if characters else None) or scene.speaker)
        if scene.speaker
        else ""
    )
    fallback = speaker or (names[0] if len(names) == 1 else "")
    worn = costumes(scene.narration, names, fallback)
    posed = poses(scene.narration, names, fallback)
    looks = []
    for name in names:
        book_entry = characters.get(name) if characters else None
        looks.append(
            CharacterLook(
                name=name,
                speaking=name == speaker,
                description=book_entry.description if book_entry else "",
                costume=worn.get(name) or carried.looks.get(name, ""),
                pose=posed.get(name, ""),
            )
        )
    own = scene.setting or infer_setting(scene.narration, scene.captions)
    setting, source = (own, "stated") if own else (carried.setting, "carried" if carried.setting else "none")
    everything = " ".join([scene.narration, *scene.dialogue, *scene.captions, *scene.stage_directions])
    emotion, intensity = detect_emotion(everything)
    found = detect_concepts(" ".join([everything, *scene.notes]))
    seed = scene.entry_id or everything
    metaphor = visual_metaphor(found, seed)
    action = action_sentences(scene.narration)
    for direction in scene.stage_directions:
        starts_with_verb = direction[:1].islower() and fallback
        action.append(f"{fallback} {direction}" if starts_with_verb else direction)
    time_light = time_of_day(scene.setting or "", *scene.captions, scene.narration)
    panels = _panel_beats(scene, action, speaker) if scene.panel_count > 1 else []
    layout = (
        _LAYOUTS.get(scene.panel_count, f"{scene.panel_count}-panel page grid") if panels else "single image"
    )
    return SceneAnalysis(
        characters=looks,
        speaker=speaker,
        setting=setting,
        setting_source=source,
        emotion=emotion.name,
        intensity=intensity,
        palette=list(emotion.palette),
        lighting=emotion.lighting if not time_light else f"{emotion.lighting}, {time_light}",
        concepts=[c.name for c in found],
        metaphor=metaphor,
        action=action,
        panels=panels,
        layout=layout,
    )


def continuity_from(context: Sequence[Scene], characters: CharacterBook | None = None) -> Continuity:
    """The continuity at the end of ``context`` (earlier scenes, oldest first)."""
    carried = Continuity()
    for earlier in context:
        carried.advance(analyze_scene(earlier, continuity=carried, characters=characters))
    return carried
