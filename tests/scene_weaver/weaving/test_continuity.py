"""Planning a whole script before fan-out: context applied to each scene, visual groups, seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scene_weaver.errors import InvalidInput
from scene_weaver.models import Scene
from scene_weaver.script import load_characters, parse_script
from scene_weaver.weaving import plan_script, weave_scene
from scene_weaver.weaving.continuity import SEED_LIMIT

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "scripts"

SCRIPT = (
    "[0001] Tomas, dressed as a medieval cartographer, unrolls a map in the map room and says: <<Look.>>\n"
    "[0002] Tomas: <<Here, where the coast bends.>>\n"
    "[0003] The scene is now underwater. Iris: <<Cold.>>\n"
    "[0004] Tomas: <<Breathe.>>\n"
    "[0005] Iris: <<I am breathing.>>\n"
)


def _scenes(text: str, **parse: object) -> list[Scene]:
    return [entry.to_scene() for entry in parse_script(text, **parse).entries]  # type: ignore[arg-type]


def test_a_scene_with_no_stated_setting_is_drawn_in_the_last_one():
    planned = plan_script(_scenes(SCRIPT))
    assert [p.scene.setting for p in planned] == [
        "the map room", "the map room", "underwater", "underwater", "underwater"]  # fmt: skip
    # The worker weaves each scene alone (no neighbours): the copy carries what it needs.
    alone = weave_scene(planned[1].scene)
    assert alone.analysis["setting"]["name"] == "the map room" and "setting: the map room" in alone.text
    assert weave_scene(_scenes(SCRIPT)[1]).analysis["setting"]["source"] == "none"  # the original does not


def test_a_costume_stays_with_its_character_until_changed():
    planned = plan_script(_scenes(SCRIPT))
    tomas = [p for p in planned if "Tomas" in p.scene.speaker]
    assert [p.scene.looks.get("Tomas") for p in tomas] == ["dressed as a medieval cartographer"] * 3
    assert "Tomas dressed as a medieval cartographer" in weave_scene(planned[3].scene).text


def test_a_characters_file_gives_every_scene_the_same_look_for_a_character():
    book = load_characters(EXAMPLES / "characters.json")
    text = (EXAMPLES / "lighthouse_messy.txt").read_text()
    planned = plan_script(_scenes(text, characters=book), characters=book)
    iris = [p for p in planned if "Iris" in p.scene.looks]
    assert len(iris) >= 3
    looks = {p.scene.looks["Iris"] for p in iris}
    assert looks == {"a young woman with short silver hair and a yellow raincoat, round glasses"}
    for p in iris:  # woven without the characters file, as a worker does
        assert "short silver hair and a yellow raincoat" in weave_scene(p.scene).text


def test_scenes_sharing_setting_and_cast_share_group_seed_and_anchor():
    planned = plan_script(_scenes(SCRIPT))
    # 1-2: Tomas in the map room; 3 and 5: Iris underwater; 4: Tomas underwater.
    groups = [p.group for p in planned]
    assert groups[0] == groups[1] and groups[2] == groups[4]
    assert len({groups[0], groups[2], groups[3]}) == 3
    assert planned[2].seed == planned[4].seed and planned[0].seed == planned[1].seed
    assert len({planned[0].seed, planned[2].seed, planned[3].seed}) == 3
    assert all(0 <= p.seed < SEED_LIMIT for p in planned)
    # The anchor is in each picture's prompt, the same words across the group.
    woven = [weave_scene(p.scene).text for p in planned]
    assert planned[2].anchor == planned[4].anchor and planned[2].anchor in woven[2] and planned[2].anchor in woven[4]
    assert planned[0].anchor != planned[2].anchor


def test_the_same_script_planned_in_another_process_gets_the_same_groups_and_seeds():
    text = (EXAMPLES / "lighthouse_messy.txt").read_text()
    here = [[p.group, p.seed] for p in plan_script(_scenes(text), style="manga")]
    code = (
        "import json, sys\n"
        "from scene_weaver.script import parse_script\n"
        "from scene_weaver.weaving import plan_script\n"
        "scenes = [e.to_scene() for e in parse_script(sys.stdin.read()).entries]\n"
        "print(json.dumps([[p.group, p.seed] for p in plan_script(scenes, style='manga')]))\n"
    )
    # A fresh interpreter with another hash seed: nothing may depend on Python's salted hash().
    there = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, check=True,
                           cwd=ROOT, timeout=60, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert json.loads(there.stdout) == here
    assert len({g for g, _ in here}) > 1


def test_the_group_style_is_applied_and_a_scene_naming_its_own_keeps_it():
    scenes = _scenes(SCRIPT)
    scenes[1] = scenes[1].model_copy(update={"style": "watercolor"})
    planned = plan_script(scenes, style="manga")
    assert [p.style for p in planned] == ["manga", "watercolor", "manga", "manga", "manga"]
    assert weave_scene(planned[0].scene).style == "manga"
    # Another style is another group (and another seed), even in the same place with the same cast.
    assert planned[0].group != planned[1].group
    assert plan_script(_scenes(SCRIPT))[0].style is None  # no style: the worker's default applies


def test_an_unknown_style_is_refused():
    with pytest.raises(InvalidInput):
        plan_script(_scenes(SCRIPT), style="finger painting")


def test_planned_scenes_survive_the_job_store_round_trip():
    # A job record keeps the scene as JSON; the worker validates it back.
    for p in plan_script(_scenes((EXAMPLES / "lighthouse.fountain").read_text())):
        assert Scene.model_validate(json.loads(json.dumps(p.scene.model_dump(mode="json")))) == p.scene


def test_five_thousand_entries_are_planned_in_one_pass():
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_script import make_script  # noqa: PLC0415 - the benchmark's script generator

    scenes = _scenes(make_script(5000))
    planned = plan_script(scenes)
    assert len(planned) == len(scenes) >= 5000
    assert [p.scene.entry_id for p in planned] == [s.entry_id for s in scenes]
    assert all(p.scene.setting for p in planned[1:])  # the generated script states a place early on
