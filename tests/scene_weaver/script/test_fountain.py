"""Fountain screenplays through screenplay-tools."""

from __future__ import annotations

from pathlib import Path

from scene_weaver.script import load_characters, parse_script

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scripts"


def test_scene_headings_start_scenes_with_settings_and_dialogue():
    result = parse_script((EXAMPLES / "lighthouse.fountain").read_text())
    assert result.format == "fountain"
    assert [e.id for e in result.entries] == ["0001", "0002", "0003"]
    first, second, third = result.entries
    assert first.line == 4 and second.line == 20 and third.line == 27
    assert first.setting == "lighthouse stairs (interior, night)"
    assert second.setting == "cliff top (exterior, dawn)"
    assert "holding a lantern" in first.narration and "[[" not in first.narration
    assert first.dialogue == [
        "Do you think the lighthouse knows it is a lighthouse?",
        "It knows the sea. That may be enough.",
    ]
    assert first.speakers == ["Iris", "Tomas"] and first.speaker == "Iris"
    assert first.stage_directions == ["quietly", "CUT TO:"]
    assert first.notes == ["identity as relation"]
    assert second.speaker == "Tomas"  # "TOMAS (V.O.)": the extension is not part of the name
    assert result.skipped[0].text.startswith("Title: The Lighthouse")


def test_format_can_be_forced_and_characters_apply():
    book = load_characters(EXAMPLES / "characters.json")
    text = "INT. KITCHEN - DAY\n\nTom pours tea.\n\nTOM\nDrink.\n"
    result = parse_script(text, format="fountain", characters=book)
    assert result.entries[0].speaker == "Tomas" and result.entries[0].setting == "kitchen (interior, day)"
    forced = parse_script(text, format="bracketed")
    assert forced.entries == [] and forced.warnings[0].code == "no_entries"
