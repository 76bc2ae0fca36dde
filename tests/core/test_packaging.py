"""profiles/ and terminology/ ship inside the wheel and are found from a checkout / editable install."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fhirplugin.resources import data_dir

ROOT = Path(__file__).resolve().parents[2]


def test_data_found_from_checkout_or_install():
    for kind in ("terminology", "profiles"):
        assert data_dir(kind).is_dir()
    assert (data_dir("terminology") / "cpt" / "codes.csv").is_file()


@pytest.mark.slow
def test_wheel_contains_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        timeout=300,
    )
    if proc.returncode != 0 and b"No module named build" in proc.stderr:
        pytest.skip("python -m build not installed")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    wheel = next(tmp_path.glob("fhirplugin-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "fhirplugin/_data/terminology/cpt/codes.csv" in names
    assert any(n.startswith("fhirplugin/_data/profiles/") for n in names)
    assert "fhirplugin/cli.py" in names
    # the try-it page and its examples work from a wheel install
    for name in ("try.html", "try.js", "try.css"):
        assert f"fhirplugin/service/static/{name}" in names
    from fhirplugin.service.tryit import EXAMPLES

    for ex in EXAMPLES:
        assert f"fhirplugin/_data/examples/{ex.path}" in names
