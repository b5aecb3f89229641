"""JSON log events: one a line, with time, level, role and the ids of the context."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from scene_weaver import logs


@pytest.fixture
def json_root() -> Iterator[None]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
    root.setLevel(level)


def test_events_are_json_lines_with_role_and_ids(json_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("worker")
    log = logging.getLogger("scene_weaver.test")
    with logs.bind(job_id="job-1", request_id="req-9"):
        log.info("job %s runs", "job-1", extra={"queue": "high"})
    log.warning("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    inside, outside = lines[-2], lines[-1]
    assert inside["message"] == "job job-1 runs" and inside["level"] == "INFO" and inside["time"]
    assert (inside["role"], inside["job_id"], inside["request_id"], inside["batch_id"]) == ("worker", "job-1", "req-9", None)
    assert inside["queue"] == "high" and inside["logger"] == "scene_weaver.test"
    assert outside["job_id"] is None and outside["level"] == "WARNING"


def test_text_format_on_request(json_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("api", fmt="text")
    logging.getLogger("scene_weaver.test").info("plain")
    assert "INFO [api] scene_weaver.test: plain" in capsys.readouterr().err


@pytest.mark.parametrize(("given", "kept"), [
    ("abc-123", True), ("trace.id:7/x=", True), ("a" * 128, True), ("a" * 129, False), ("", False),
    ("two words", False), ("tab\there", False), ("-leading", False), ("ünicode", False), (None, False)])
def test_only_plain_request_ids_are_kept(given: str | None, kept: bool) -> None:
    assert (logs.sane_request_id(given) is not None) is kept
    if kept:
        assert logs.sane_request_id(given) == given
