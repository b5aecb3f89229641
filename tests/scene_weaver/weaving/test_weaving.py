"""Weaving: styles, length limit, determinism, continuity, character consistency, analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from scene_weaver.errors import InvalidInput
from scene_weaver.models import Scene
from scene_weaver.script import load_characters, parse_script
from scene_weaver.weaving import (
    CONCEPTS,
    EMOTIONS,
    STYLES,
    detect_concepts,
    detect_emotion,
    weave_scene,
    weave_script,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scripts"

SCENE = Scene(
    speaker="Iris",
    dialogue=["If I stop climbing, am I still someone who climbs?"],
    narration="Iris is sitting on the lighthouse stairs at night, holding a lantern.",
    entry_id="0107",
    panel_count=2,
)


def test_palettes_are_at_least_the_documented_size():
    names = {e.name for e in EMOTIONS}
    assert {
        "joy",
        "existential dread",
        "transcendent joy",
        "bittersweet",
        "ennui",
        "sublime",
        "yearning",
    } <= names
    assert len(EMOTIONS) >= 20 and len(CONCEPTS) >= 30
    assert {"freedom", "identity", "consciousness", "time", "impermanence", "authenticity", "the absurd"} <= {
        c.name for c in CONCEPTS
    }
    assert all(len(c.symbols) >= 2 for c in CONCEPTS)


@pytest.mark.parametrize(
    ("line", "emotion"),
    [
        ("I am afraid of the dark shadows; I tremble.", "fear"),
        ("Staring into the void, everything feels meaningless, the abyss looks back.", "existential dread"),
        ("She laughs and dances, so happy!", "joy"),
        ("I remember my childhood, long ago, the old photographs.", "nostalgia"),
        ("The sea is calm, quiet and still.", "serenity"),
        ("One last goodbye, bittersweet.", "bittersweet"),
    ],
)
def test_emotion_detection_on_real_lines(line, emotion):
    found, intensity = detect_emotion(line)
    assert found.name == emotion and 0.35 <= intensity <= 1.0


def test_intensity_grows_with_intensifiers():
    _, mild = detect_emotion("I am sad.")
    _, strong = detect_emotion("I am so utterly sad, the tears, the grief!")
    assert strong > mild


def test_concept_detection_and_metaphor():
    names = [c.name for c in detect_concepts("Every map is a confession of what we chose to leave out.")]
    assert set(names) == {"truth", "representation", "free will"}
    prompt = weave_scene(Scene(speaker="Iris", dialogue=["Am I free, or only escaping the cage?"]))
    assert prompt.analysis["concepts"][0] == "freedom"
    assert prompt.analysis["metaphor"].startswith("visual metaphor for freedom: ")
    assert prompt.analysis["metaphor"].split(": ", 1)[1].split(",")[0] in CONCEPTS[0].symbols


def test_each_style_has_its_own_template_and_negative():
    prompts = {name: weave_scene(SCENE, style=name) for name in STYLES}
    assert len(prompts) == 12
    assert len({p.text for p in prompts.values()}) == 12
    assert len({p.negative for p in prompts.values()}) >= 10
    assert prompts["comic book"].text.startswith("comic book panel")
    assert "speech bubble “If I stop climbing" in prompts["comic book"].text
    assert (
        "speech bubble" not in prompts["cinematic"].text and "speech bubbles" in prompts["cinematic"].negative
    )
    assert prompts["neo-noir"].style == "neo-noir"


def test_scene_style_overrides_and_unknown_style_is_rejected():
    assert weave_scene(SCENE.model_copy(update={"style": "Manga"}), style="watercolor").style == "manga"
    with pytest.raises(InvalidInput) as raised:
        weave_scene(SCENE, style="cubist")
    assert raised.value.code == "invalid_style" and raised.value.details["field"] == "style"
    with pytest.raises(InvalidInput) as raised:
        weave_scene(SCENE, max_length=5)
    assert raised.value.code == "invalid_max_length"


def test_analysis_fields():
    analysis = weave_scene(SCENE).analysis
    assert analysis["emotion"]["name"] == "determination" and 0 < analysis["emotion"]["intensity"] <= 1
    assert analysis["palette"] and "night" in analysis["lighting"]
    assert analysis["setting"] == {"name": "the lighthouse stairs", "source": "stated"}
    assert (
        analysis["characters"][0]["name"] == "Iris"
        and "holding a lantern" in analysis["characters"][0]["pose"]
    )
    assert analysis["panels"]["count"] == 2 and analysis["panels"]["layout"].startswith("two-panel")
    assert analysis["panels"]["beats"][1].startswith("panel 2: Iris says")


@pytest.mark.parametrize("limit", [60, 120, 200, 333, 500])
def test_length_limit_drops_least_important_parts_at_word_boundaries(limit):
    full = weave_scene(SCENE, style="comic book", max_length=5000)
    short = weave_scene(SCENE, style="comic book", max_length=limit)
    assert len(short.text) <= limit < len(full.text)
    assert short.text.startswith("comic book panel")
    words = set(full.text.replace(",", " ").split())
    assert all(word in words for word in short.text.replace(",", " ").split())  # whole words only
    dropped = short.analysis["dropped"]
    assert dropped and dropped[0] == "speech"  # bubbles go first, the subject last
    if limit >= 200:
        assert "Iris speaking" in short.text and "setting: the lighthouse stairs" in short.text


def test_deterministic_for_same_input_and_settings():
    one = weave_scene(SCENE, style="surrealist", max_length=400)
    two = weave_scene(Scene.model_validate(SCENE.model_dump()), style="surrealist", max_length=400)
    assert one == two
    assert weave_scene(SCENE, style="surrealist", max_length=401).content_hash != one.content_hash
    assert weave_scene(SCENE, style="manga", max_length=400).content_hash != one.content_hash


def test_setting_carries_over_until_changed():
    text = (
        "[0001] The scene is now in the map room. Iris: <<Look.>>\n"
        "[0002] Tomas: <<I see it.>>\n"
        "[0003] The scene is now underwater. Iris: <<Cold.>>\n"
        "[0004] Tomas: <<Breathe.>>\n"
    )
    prompts = weave_script(parse_script(text))
    settings = [(p.analysis["setting"]["name"], p.analysis["setting"]["source"]) for p in prompts]
    assert settings == [
        ("the map room", "stated"), ("the map room", "carried"),
        ("underwater", "stated"), ("underwater", "carried"),
    ]  # fmt: skip
    assert "setting: the map room" in prompts[1].text
    scenes = [e.to_scene() for e in parse_script(text).entries]
    assert weave_scene(scenes[3], context=scenes[:3]) == prompts[3]
    assert weave_scene(scenes[3]).analysis["setting"]["source"] == "none"


def test_characters_stay_consistent_across_scenes():
    book = load_characters(EXAMPLES / "characters.json")
    result = parse_script((EXAMPLES / "lighthouse_messy.txt").read_text(), characters=book)
    prompts = weave_script(result, characters=book, style="digital painting")
    iris = "Iris: a young woman with short silver hair and a yellow raincoat, round glasses"
    iris_prompts = [p for p, e in zip(prompts, result.entries, strict=True) if "Iris" in e.speakers]
    assert len(iris_prompts) >= 3 and all(iris in p.text for p in iris_prompts)


def test_costume_carries_over_without_a_characters_file():
    text = (
        "[0001] Tomas, dressed as a medieval cartographer, unrolls a map and says: <<Look.>>\n"
        "[0002] Tomas: <<Here.>>\n"
    )
    prompts = weave_script(parse_script(text))
    assert "Tomas dressed as a medieval cartographer" in prompts[1].text


def test_example_scripts_weave_in_every_style():
    for name in ("lighthouse_tidy.txt", "lighthouse_messy.txt", "lighthouse.fountain"):
        result = parse_script((EXAMPLES / name).read_text())
        for style in STYLES:
            prompts = weave_script(result, style=style, max_length=300)
            assert len(prompts) == len(result.entries)
            assert all(0 < len(p.text) <= 300 and p.style == style for p in prompts)
