"""The bracketed entry format, tidy and hand-written, as SCRIPT_FORMAT.md shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scene_weaver.errors import InvalidInput, ScriptError
from scene_weaver.script import parse_script

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scripts"

TIDY = """\
[0001] Iris: <<Do you think the lighthouse knows it is a lighthouse?>>

[0002] [2-panel] Tomas: <<It knows the sea. That may be enough.>> (looks out over the water) [[identity as relation]]

[0003] Caption: <<Later that night.>>
"""

MESSY = """\
[0107] 2 panels. Iris is sitting on the lighthouse stairs, holding a lantern. She says: <<If I
stop climbing, am I still someone who climbs?>>

ChatGPT said:

[0108] A 3-panel strip in which Tomas, dressed as a medieval cartographer, unrolls a map and says:
<<Every map is a confession of what we chose to leave out.>> Caption: <<The map room.>>

[0109] The scene is now underwater. Iris answers <<Then draw me the parts you left out.>> and later <<Please.>>
"""


def by_id(result, entry_id):
    return next(e for e in result.entries if e.id == entry_id)


def test_tidy_entries_keep_ids_as_strings_and_fill_every_field():
    result = parse_script(TIDY)
    data = result.to_dict()
    assert [e["id"] for e in data["entries"]] == ["0001", "0002", "0003"]
    first, second, third = data["entries"]
    assert first["speaker"] == "Iris" and first["dialogue"] == [
        "Do you think the lighthouse knows it is a lighthouse?"
    ]
    assert first["line"] == 1 and first["panel_count"] == 1
    assert second["panel_count"] == 2
    assert second["stage_directions"] == ["looks out over the water"]
    assert second["notes"] == ["identity as relation"]
    assert second["narration"] == ""
    assert third["captions"] == ["Later that night."] and third["speaker"] == "" and third["dialogue"] == []
    assert data["warnings"] == [] and data["skipped"] == []
    assert data["stats"]["entries"] == 3 and data["stats"]["quotes"] == 3 and data["stats"]["speakers"] == 2


def test_to_dict_has_exactly_the_documented_keys():
    data = parse_script(TIDY).to_dict()
    assert set(data) == {"entries", "warnings", "skipped", "stats"}
    assert set(data["entries"][0]) == {
        "id", "line", "panel_count", "speaker", "speakers", "dialogue", "captions", "narration",
        "stage_directions", "notes", "setting", "warnings",
    }  # fmt: skip
    assert set(data["stats"]) == {"entries", "speakers", "quotes", "warnings", "seconds"}


def test_messy_entries_find_speakers_panels_and_multiline_quotes():
    result = parse_script(MESSY)
    e107, e108, e109 = result.entries
    assert e107.panel_count == 2 and e107.speaker == "Iris"  # "She says:" → the Iris named before
    assert e107.dialogue == ["If I stop climbing, am I still someone who climbs?"]
    assert "Iris is sitting on the lighthouse stairs, holding a lantern." in e107.narration
    assert e108.panel_count == 3 and e108.speaker == "Tomas"
    assert e108.captions == ["The map room."]
    assert "dressed as a medieval cartographer" in e108.narration
    assert e109.speaker == "Iris" and e109.dialogue == ["Then draw me the parts you left out.", "Please."]
    assert e109.spoken == [("Iris", "Then draw me the parts you left out."), ("Iris", "Please.")]
    assert e109.setting == "underwater"


def test_transcript_noise_is_skipped_with_line_numbers():
    text = "# Draft 3\n\n" + MESSY + "\nSure! Here is more.\n\n[0110] Iris: <<Done.>>\n"
    result = parse_script(text)
    skipped = [(s.line_start, s.line_end, s.text) for s in result.skipped]
    assert (1, 1, "# Draft 3") in skipped
    assert (6, 6, "ChatGPT said:") in skipped
    assert any(t == "Sure! Here is more." for _, _, t in skipped)
    assert all("ChatGPT" not in e.narration for e in result.entries)
    assert [e.id for e in result.entries] == ["0107", "0108", "0109", "0110"]


def test_several_quotes_and_speakers_in_one_entry():
    result = parse_script("[0004] Iris: <<One?>>\nTomas: <<Two.>> Caption: <<Three.>> Iris: <<Four!>>\n")
    entry = result.entries[0]
    assert entry.dialogue == ["One?", "Two.", "Four!"]
    assert entry.captions == ["Three."]
    assert entry.speakers == ["Iris", "Tomas"] and entry.speaker == "Iris"
    assert [s for s, _ in entry.spoken] == ["Iris", "Tomas", "Iris"]


def test_a_quote_spanning_a_blank_line_stays_one_quote():
    result = parse_script("[0001] Iris: <<First part\n\nsecond part.>>\n\n[0002] Tomas: <<Yes.>>\n")
    assert result.entries[0].dialogue == ["First part second part."]
    assert result.warnings == [] and result.skipped == []


@pytest.mark.parametrize(
    ("text", "code", "line", "entry_id"),
    [
        ("[0001] Iris: <<never closed\n[0002] Tomas: <<Fine.>>\n", "unclosed_quote", 1, "0001"),
        ("[0001] Iris: <<Hi.>> and >> more\n", "stray_close_quote", 1, "0001"),
        ("[0001] Iris: <<Hi.>>\n(nods) [[note never closed\n", "unclosed_note", 2, "0001"),
        ("[0001] Iris: <<Hi.>> ]] oops\n", "stray_close_note", 1, "0001"),
        ("[0001] Iris: <<Hi.>>\n[0001] Tomas: <<Again.>>\n", "duplicate_id", 2, "0001"),
        ("[0001] Iris: <<Hi.>>\n[0002]\n[0003] Tomas: <<Yes.>>\n", "empty_entry", 2, "0002"),
        ("[0005] Iris: <<Hi.>>\n[0003] Tomas: <<Yes.>>\n", "id_out_of_order", 2, "0003"),
        ("[0001] Iris (waves: <<Hi.>>\n", "unclosed_direction", 1, "0001"),
        ("[0001] She says: <<Who am I?>>\n", "unresolved_speaker", 1, "0001"),
        ("Just some prose with no entries.\n", "no_entries", 1, None),
    ],
)
def test_each_problem_has_a_stable_code_line_and_entry(text, code, line, entry_id):
    result = parse_script(text)
    found = [w for w in result.warnings if w.code == code]
    assert found, [w.code for w in result.warnings]
    assert found[0].line == line and found[0].entry_id == entry_id
    with pytest.raises(ScriptError) as raised:
        parse_script(text, strict=True)
    assert raised.value.code == "script_invalid"
    assert {
        "line": line,
        "entry_id": entry_id,
        "code": code,
        "message": found[0].message,
    } in raised.value.details


def test_unclosed_quote_never_swallows_the_next_entry():
    result = parse_script("[0001] Iris: <<never closed\n\nsome prose\n[0002] Tomas: <<Fine.>>\n")
    assert [e.id for e in result.entries] == ["0001", "0002"]
    assert result.entries[0].dialogue == ["never closed"]
    assert result.entries[1].dialogue == ["Fine."]
    assert [s.text for s in result.skipped] == ["some prose"]


def test_strict_mode_lists_every_warning():
    text = "[0001] Iris: <<open\n[0001] >> stray\n[0002]\n"
    lenient = parse_script(text)
    codes = [w.code for w in lenient.warnings]
    assert codes == ["unclosed_quote", "duplicate_id", "stray_close_quote", "empty_entry"]
    with pytest.raises(ScriptError) as raised:
        parse_script(text, strict=True)
    assert [d["code"] for d in raised.value.details] == codes
    assert all(code in raised.value.message for code in codes)


def test_invalid_format_name():
    with pytest.raises(InvalidInput) as raised:
        parse_script(TIDY, format="docx")
    assert raised.value.code == "invalid_format"


def test_entry_converts_to_a_scene():
    entry = parse_script(TIDY).entries[1]
    scene = entry.to_scene()
    assert scene.entry_id == "0002" and scene.speaker == "Tomas" and scene.panel_count == 2
    assert scene.notes == ["identity as relation"] and scene.stage_directions == ["looks out over the water"]


def test_example_scripts_parse(tmp_path):
    messy = parse_script((EXAMPLES / "lighthouse_messy.txt").read_text())
    assert len(messy.entries) == 7 and [w.code for w in messy.warnings] == ["id_out_of_order"]
    assert {s.text for s in messy.skipped} >= {"ChatGPT said:", "## Part two"}
    tidy = parse_script((EXAMPLES / "lighthouse_tidy.txt").read_text(), strict=True)
    assert len(tidy.entries) == 6 and tidy.format == "bracketed"


def test_oversized_entries_still_convert_to_scenes():
    quotes = " ".join(f"Iris: <<q{i}>>" for i in range(250))
    entry = parse_script(f"[0001] [20-panel] {quotes}\n").entries[0]
    assert len(entry.dialogue) == 250 and entry.panel_count == 20
    scene = entry.to_scene()
    assert len(scene.dialogue) == 200 and scene.panel_count == 12
