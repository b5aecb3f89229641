"""The ``weave`` subcommand, registered in ``scene_weaver.cli`` above script parsing and weaving."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scene_weaver.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "scripts"


def test_weave_prints_a_prompt_per_entry(capsys):
    assert main(["weave", str(EXAMPLES / "lighthouse_tidy.txt")]) == 0
    blocks = capsys.readouterr().out.split("\n\n")
    assert blocks[-1] == ""
    assert [b.split("\n")[0] for b in blocks[:-1]] == [f"[000{i}] (graphic novel)" for i in range(1, 7)]
    first = blocks[0].split("\n")
    assert first[1].startswith("graphic novel art, moody inks with painted colour, Iris speaking")
    assert first[2].startswith("  negative: blurry, low quality,") and "cartoonish" in first[2]


def test_weave_json_with_style_limit_and_characters(capsys):
    code = main([
        "weave", str(EXAMPLES / "lighthouse.fountain"), "--style", "neo-noir", "--json", "--max-length", "200",
        "--characters", str(EXAMPLES / "characters.json"),
    ])  # fmt: skip
    assert code == 0
    prompts = json.loads(capsys.readouterr().out)
    assert [p["entry_id"] for p in prompts] == ["0001", "0002", "0003"]
    assert all(p["style"] == "neo-noir" and len(p["text"]) <= 200 for p in prompts)
    assert {"text", "negative", "style", "content_hash", "analysis"} <= set(prompts[0])
    assert "Iris" in prompts[0]["text"]


def test_weave_carries_characters_file_into_the_prompt(capsys):
    plain = ["weave", str(EXAMPLES / "lighthouse_tidy.txt"), "--json"]
    assert main(plain) == 0
    without = json.loads(capsys.readouterr().out)
    assert main([*plain, "--characters", str(EXAMPLES / "characters.json")]) == 0
    with_book = json.loads(capsys.readouterr().out)
    described = [c for p in with_book for c in p["analysis"]["characters"] if c["description"]]
    assert described and not [c for p in without for c in p["analysis"]["characters"] if c["description"]]


@pytest.mark.parametrize(
    ("extra", "code"),
    [(["--style", "cubist"], "invalid_style"), (["--max-length", "10"], "invalid_max_length")],
)
def test_weave_bad_option_exits_2_with_its_code(extra, code, capsys):
    assert main(["weave", str(EXAMPLES / "lighthouse_tidy.txt"), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"error ({code}): ")


def test_weave_unreadable_file_exits_2(tmp_path, capsys):
    assert main(["weave", str(tmp_path / "missing.txt")]) == 2
    assert capsys.readouterr().err.startswith("error (unreadable_file): cannot read ")


def test_weave_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["weave", str(EXAMPLES / "lighthouse_tidy.txt"), "--format", "nope"])
    assert raised.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_weave_in_a_fresh_interpreter():
    done = subprocess.run(
        [sys.executable, "-m", "scene_weaver.cli", "weave", str(EXAMPLES / "lighthouse_tidy.txt"), "--style", "manga"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(manga)") == 6 and "manga illustration" in done.stdout
