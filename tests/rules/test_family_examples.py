"""Each family's example Bundle (``examples/<family>/bundle.json``) gives the findings of
``examples/<family>/expected.txt`` and shows every rule of the family that the example is meant to show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAMILIES = {
    "drainage": ("DRN", ["DRN001", "DRN002", "DRN004", "DRN005", "DRN006", "DRN007"]),
    "devices": ("DEV", [f"DEV00{i}" for i in range(1, 7)]),
}


def _blocks(text: str, prefix: str) -> list[list[str]]:
    """The finding blocks (header line, text, diagnostics) of rules whose id starts with ``prefix``."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        parts = line.split()
        if (
            len(parts) >= 3
            and parts[1].startswith(prefix)
            and parts[0] in ("error", "warning", "information", "fatal")
        ):
            out.append([line, *(nxt for nxt in lines[i + 1 : i + 3] if nxt.startswith("      "))])
    return out


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_example_output_matches_expected(family: str) -> None:
    prefix, rules = FAMILIES[family]
    example = ROOT / "examples" / family
    expected = (example / "expected.txt").read_text(encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "fhirplugin", "validate", f"examples/{family}/bundle.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # errors found
    got = _blocks(proc.stdout, prefix)
    assert got == _blocks(expected, prefix), (
        f"examples/{family}/expected.txt is out of date; regenerate it with `python -m fhirplugin validate "
        f"examples/{family}/bundle.json > examples/{family}/expected.txt`\n" + proc.stdout
    )
    assert sorted({b[0].split()[1] for b in got}) == rules
