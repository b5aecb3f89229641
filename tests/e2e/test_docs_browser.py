"""`/docs` renders the API in a real browser (headless Chromium), with no outside network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.browser import chromium_executable

from .stack import Stack

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=8000",
]


def test_docs_page_renders_every_operation(stack: Stack, tmp_path: Path) -> None:
    browser = chromium_executable()
    result = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         f"{stack.base}/docs"],
        capture_output=True, text=True, timeout=90, check=False,
    )
    dom = result.stdout
    assert "Scene Weaver API" in dom, result.stderr[-2000:]
    # Swagger UI built one block per operation from /openapi.json, served locally.
    assert dom.count('class="opblock opblock-') >= 15
    for path in ("/v1/process", "/v1/jobs/{job_id}/events", "/v1/parse", "/health"):
        assert path in dom
