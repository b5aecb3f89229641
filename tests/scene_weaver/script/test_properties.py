"""Property tests: arbitrary text never crashes and every line number it reports is real;
generated scripts lose nothing; ids stay in order."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scene_weaver.script import parse_script

WORDS = st.sampled_from(["lamp", "sea", "stair", "glass", "map", "tide", "wall", "door", "light", "salt", "rope", "cloud"])
PHRASE = st.lists(WORDS, min_size=1, max_size=5).map(" ".join)
NAMES = st.sampled_from(["Iris", "Tomas", "Architect", "Mara"])
MARKUP = st.sampled_from(
    ["<<", ">>", "[[", "]]", "(", ")", "[0001]", "[0002]", " [12b]", "\n", "\n\n", "Caption:", ":", " "]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=30), MARKUP), max_size=40).map("".join))
def test_arbitrary_text_never_crashes_and_points_at_real_lines(text):
    result = parse_script(text)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data  # what the API sends, unchanged by the trip
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for warning in result.warnings:
        assert 1 <= warning.line <= len(lines) and warning.code
    starts = [entry.line for entry in result.entries]
    assert starts == sorted(starts) and all(1 <= n <= len(lines) for n in starts)
    if result.format != "bracketed":
        return
    for entry in result.entries:  # an entry starts on the line that opens with its id
        assert lines[entry.line - 1].lstrip(" \t").startswith(f"[{entry.id}]")
    for skipped in result.skipped:  # skipped text is source lines from its range, never an entry's start
        assert 1 <= skipped.line_start <= skipped.line_end <= len(lines)
        assert not set(starts) & set(range(skipped.line_start, skipped.line_end + 1))
        source = lines[skipped.line_start - 1 : skipped.line_end]
        assert all(part in source for part in skipped.text.split("\n"))


@st.composite
def entries(draw):
    parts, expected = (
        [],
        {"dialogue": [], "captions": [], "notes": [], "stage_directions": [], "narration": []},
    )
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["quote", "caption", "note", "direction", "narration"]))
        text = draw(PHRASE)
        if kind == "quote":
            parts.append(f"{draw(NAMES)}: <<{text}>>")
            expected["dialogue"].append(text)
        elif kind == "caption":
            parts.append(f"Caption: <<{text}>>")
            expected["captions"].append(text)
        elif kind == "note":
            parts.append(f"[[{text}]]")
            expected["notes"].append(text)
        elif kind == "direction":
            parts.append(f"({text})")
            expected["stage_directions"].append(text)
        else:
            parts.append(f"{text}.")
            expected["narration"].append(f"{text}.")
    separators = draw(st.lists(st.sampled_from([" ", "\n"]), min_size=len(parts), max_size=len(parts)))
    body = "".join(p + s for p, s in zip(parts, separators, strict=True))
    return body, expected


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(entries(), st.booleans(), PHRASE), min_size=1, max_size=8),
    st.lists(st.integers(1, 3), min_size=8, max_size=8),
)
def test_generated_scripts_are_lossless_and_in_order(items, gaps):
    lines, ids, next_id, noises = [], [], 0, []
    for index, ((body, _), noisy, noise) in enumerate(items):
        next_id += gaps[index]
        ids.append(f"{next_id:04d}")
        lines.append(f"[{ids[-1]}] {body}")
        if noisy:
            lines.append(f"\nChatGPT said: {noise}\n")
            noises.append(f"ChatGPT said: {noise}")
    result = parse_script("\n".join(lines) + "\n")
    assert [e.id for e in result.entries] == ids
    assert result.warnings == []
    assert [s.text for s in result.skipped] == noises
    for entry, ((_, expected), _, _) in zip(result.entries, items, strict=True):
        assert entry.dialogue == expected["dialogue"]
        assert entry.captions == expected["captions"]
        assert entry.notes == expected["notes"]
        assert entry.stage_directions == expected["stage_directions"]
        assert entry.narration == " ".join(expected["narration"])
