"""Locate the data folders (`profiles/`, `terminology/`) in a wheel, an editable install or a checkout."""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path


@cache
def data_dir(kind: str) -> Path:
    """Return the folder holding `kind` ("profiles" or "terminology").

    Order: ``FHIRPLUGIN_DATA_DIR/<kind>``, the copy packaged in the wheel (``fhirplugin/_data``),
    then the checkout beside the package (editable installs do not see ``_data``).
    """
    if env := os.environ.get("FHIRPLUGIN_DATA_DIR"):
        return Path(env) / kind
    packaged = Path(str(files("fhirplugin"))) / "_data" / kind
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"fhirplugin data folder {kind!r} not found (looked in {packaged} and {checkout})"
    )
