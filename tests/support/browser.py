"""Headless Chromium for page tests: Debian's ``chromium`` driven through Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

__all__ = ["chromium_executable", "open_page", "ARTIFACTS"]

# Screenshots the tests keep, for a person to look at (ignored by git).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium_executable() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
    pytest.skip("no chromium on this machine (Debian package `chromium`); CI installs and runs it")


@contextmanager
def open_page(width: int = 1280, height: int = 900) -> Iterator[Page]:
    """A fresh page in a headless Chromium of its own, closed afterwards."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()
