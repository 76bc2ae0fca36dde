"""Headless Debian Chromium driven by Playwright (``executable_path``, never a browser download), for
the pages the service serves (the ``browser`` fixture; ``tests/service/conftest.py`` provides it).

Without Chromium or Playwright the tests skip, saying why; ``.ci/run`` sets
``FHIRPLUGIN_BROWSER_TESTS=required``, which makes that a failure instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FHIRPLUGIN_CHROMIUM", "/usr/bin/chromium")
# without the background-networking flags Chromium keeps calling out, and this machine refuses it
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    if os.environ.get("FHIRPLUGIN_BROWSER_TESTS") == "required":
        pytest.fail(f"browser tests are required here, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).is_file() and shutil.which(CHROMIUM)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (the test extra has it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()
