"""Locate the data folders (`profiles/`, `terminology/`) in a wheel, an editable install or a checkout."""

from __future__ import annotations

import json
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


def read_json_object(path: Path, error: type[ValueError], holding: str) -> dict:
    """A shipped or user-given data file's JSON object (a UTF-8 BOM allowed); ``error`` names the file
    and what is wrong with it (unreadable, not UTF-8, not JSON, not an object holding ``holding``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object holding {holding}")
    return data
