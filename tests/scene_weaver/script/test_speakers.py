"""Speaker names: case, typos, pronouns, roles and the characters file."""

from __future__ import annotations

import json

import pytest

from scene_weaver.errors import InvalidInput
from scene_weaver.script import load_characters, parse_script

BOOK = [
    {"name": "Iris", "aliases": ["the girl"], "description": "silver hair, yellow raincoat", "notes": ""},
    {"name": "Tomas", "aliases": ["Tom", "the keeper"], "description": "white beard", "notes": "slow"},
]


def test_case_and_typos_fold_into_the_name_the_script_uses():
    text = (
        "[0001] Architect: <<Walls.>>\n"
        "[0002] ARCHITECT: <<Doors.>>\n"
        "[0003] The Archtect leans on the wall and says: <<Windows.>>\n"
        "[0004] the architect whispers <<Roofs.>>\n"
        "[0005] Iris: <<And Isis?>>\n[0006] Isis: <<Here.>>\n"
    )
    result = parse_script(text)
    assert [e.speaker for e in result.entries] == ["Architect"] * 4 + ["Iris", "Isis"]
    assert result.speakers == ["Architect", "Iris", "Isis"]


def test_aliases_from_the_characters_file():
    book = load_characters(json.dumps(BOOK))
    text = "[0001] The keeper says: <<Storm tonight.>>\n[0002] Tom: <<Light the lamp.>>\n[0003] the girl: <<Done.>>\n"
    result = parse_script(text, characters=book)
    assert [e.speaker for e in result.entries] == ["Tomas", "Tomas", "Iris"]


def test_caption_is_narration_not_a_speaker():
    result = parse_script("[0001] Caption: <<Dawn.>> Iris: <<Morning.>>\n")
    entry = result.entries[0]
    assert entry.captions == ["Dawn."] and entry.speakers == ["Iris"]
    assert "Caption" not in result.speakers


def test_pronoun_resolves_to_the_most_recent_named_character():
    result = parse_script("[0001] Tomas waves. Iris sits down. She says: <<Hello.>>\n")
    assert result.entries[0].speaker == "Iris"


def test_pronoun_falls_back_to_the_named_subject_of_the_narration():
    result = parse_script("[0001] She says: <<Hello.>> Iris laughs at the sea.\n")
    assert result.entries[0].speaker == "Iris"
    assert not result.warnings


def test_pronoun_with_only_a_previous_entry_uses_its_speaker():
    result = parse_script("[0001] Tomas: <<Hi.>>\n[0002] He says: <<Again.>>\n")
    assert result.entries[1].speaker == "Tomas"


def test_characters_mentioned_in_narration_are_present():
    result = parse_script("[0001] Tomas: <<Hi.>>\n[0002] Tomas sleeps beside Iris. She says: <<Rest.>>\n")
    assert result.entries[1].speaker == "Iris" and result.entries[1].speakers == ["Iris", "Tomas"]


def test_load_characters_from_path_and_errors(tmp_path):
    path = tmp_path / "chars.json"
    path.write_text(json.dumps(BOOK))
    book = load_characters(path)
    assert book.names == ["Iris", "Tomas"] and book.canonical("TOM") == "Tomas"
    assert book.get("the keeper").description == "white beard"
    with pytest.raises(InvalidInput) as raised:
        load_characters('[{"aliases": []}]')
    assert raised.value.code == "invalid_characters"
    with pytest.raises(InvalidInput):
        load_characters("{not json")
    with pytest.raises(InvalidInput):
        load_characters(tmp_path / "missing.json")
