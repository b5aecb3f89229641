"""The ``parse`` subcommand, called through the ``scene-weaver`` entry point."""

from __future__ import annotations

import json
from pathlib import Path

from scene_weaver.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "scripts"


def test_parse_json_prints_the_documented_structure(capsys):
    assert main(["parse", str(EXAMPLES / "lighthouse_messy.txt"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stats"]["entries"] == 7 and data["entries"][0]["id"] == "0107"
    assert data["warnings"][0]["code"] == "id_out_of_order"


def test_parse_summary_and_strict_failure(tmp_path, capsys):
    assert main(["parse", str(EXAMPLES / "lighthouse_tidy.txt"), "--strict"]) == 0
    assert "6 entries (bracketed)" in capsys.readouterr().out
    broken = tmp_path / "broken.txt"
    broken.write_text("[0001] Iris: <<open\n[0001] >> x\n")
    assert main(["parse", str(broken), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "script_invalid" in err and "unclosed_quote" in err and "duplicate_id" in err
    assert "stray_close_quote" in err


def test_parse_unreadable_file_and_bad_characters_exit_2(tmp_path, capsys):
    assert main(["parse", str(tmp_path / "missing.txt")]) == 2
    assert capsys.readouterr().err.startswith("error (unreadable_file): cannot read ")
    characters = tmp_path / "characters.json"
    characters.write_text('[{"aliases": []}]')
    assert main(["parse", str(EXAMPLES / "lighthouse_tidy.txt"), "--characters", str(characters)]) == 2
    assert capsys.readouterr().err == "error (invalid_characters): character #0 needs a non-empty 'name'\n"
