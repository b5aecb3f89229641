"""The ``parse`` and ``weave`` subcommands, called the way the main CLI will call them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from scene_weaver.script.cli import register

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "scripts"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_parse_json_prints_the_documented_structure(capsys):
    assert run(["parse", str(EXAMPLES / "lighthouse_messy.txt"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stats"]["entries"] == 7 and data["entries"][0]["id"] == "0107"
    assert data["warnings"][0]["code"] == "id_out_of_order"


def test_parse_summary_and_strict_failure(tmp_path, capsys):
    assert run(["parse", str(EXAMPLES / "lighthouse_tidy.txt"), "--strict"]) == 0
    assert "6 entries (bracketed)" in capsys.readouterr().out
    broken = tmp_path / "broken.txt"
    broken.write_text("[0001] Iris: <<open\n[0001] >> x\n")
    assert run(["parse", str(broken), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "script_invalid" in err and "unclosed_quote" in err and "duplicate_id" in err
    assert "stray_close_quote" in err


def test_weave_prints_prompts_with_style_and_limit(capsys):
    code = run([
        "weave", str(EXAMPLES / "lighthouse.fountain"), "--style", "neo-noir", "--json", "--max-length", "200",
        "--characters", str(EXAMPLES / "characters.json"),
    ])  # fmt: skip
    assert code == 0
    prompts = json.loads(capsys.readouterr().out)
    assert [p["entry_id"] for p in prompts] == ["0001", "0002", "0003"]
    assert all(p["style"] == "neo-noir" and len(p["text"]) <= 200 for p in prompts)


def test_weave_unknown_style_exits_2(capsys):
    assert run(["weave", str(EXAMPLES / "lighthouse_tidy.txt"), "--style", "cubist"]) == 2
    assert "invalid_style" in capsys.readouterr().err


def test_cli_in_a_fresh_interpreter():
    code = (
        "import argparse, sys\n"
        "from scene_weaver.script.cli import register\n"
        "p = argparse.ArgumentParser(); register(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "weave", str(EXAMPLES / "lighthouse_tidy.txt"), "--style", "manga"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(manga)") == 6 and "manga illustration" in done.stdout
