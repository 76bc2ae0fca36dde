"""CMS release names: how a release is named, when it takes effect, and how to tell it from a file name.

Names used across fhirplugin (``data list`` shows them, citations quote them):

* NCCI PTP and MUE, add-on code edits: ``"2024 Q3"`` (calendar quarter; in force from its first day).
  PTP file names carry ``ccipra-v302r0`` / ``ccioph-v302r0`` (NCCI version 30.2: ``v`` + year
  - 1994 + quarter - 1, ``r`` revision: v302 = 2024 Q3, v320 = 2026 Q1) or ``2024q3``; MUE file names ``…_Eff_07-01-2024``; add-on code
  edit files ``AOC_V2024Q3``.
* A month, ``"2024-06"`` (in force from its first day), for releases CMS dates by month.
* Physician fee schedule relative value files: ``"RVU24C"`` (A = January, B = April, C = July,
  D = October); file names ``RVU24C…`` or ``PPRRVU24_JUL…``.
* HCPCS Level II: ``"2024-07"`` from ``HCPC2024_JUL_ANWEB…``.

``""`` is the built-in excerpt: older than every CMS release.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["describe_release", "detect_release", "release_start"]

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_RVU_LETTER = {"a": 1, "b": 4, "c": 7, "d": 10}

_QUARTER = re.compile(r"^([0-9]{4}) Q([1-4])$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_RVU = re.compile(r"^RVU([0-9]{2})([A-D])$")
_HCPC_NAME = re.compile(r"hcpcs?[-_ ]?([0-9]{4})[-_ ]?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)")


def release_start(release: str) -> date | None:
    """The first day a release is in force, or None for ``""`` (the built-in excerpt) and names this
    module does not know (``--release`` given by hand: treated as older than every dated release)."""
    if m := _QUARTER.match(release):
        return date(int(m[1]), 3 * int(m[2]) - 2, 1)
    if m := _MONTH.match(release):
        month = int(m[2])
        return date(int(m[1]), month, 1) if 1 <= month <= 12 else None
    if m := _RVU.match(release):
        return date(2000 + int(m[1]), _RVU_LETTER[m[2].lower()], 1)
    return None


def describe_release(release: str) -> str:
    """A release as a coder reads it in a citation: ``"RVU24C (July 2024)"``, ``"2024 Q3"``."""
    if _RVU.match(release):
        start = release_start(release)
        return f"{release} ({_MONTH_NAMES[start.month - 1]} {start.year})" if start else release
    return release


def _quarter(year: int, month: int) -> str:
    return f"{year} Q{(month - 1) // 3 + 1}"


def detect_release(kind: str, name: str) -> str | None:
    """The release a CMS file name says, for ``kind`` in ptp, mue, aoc, pfs, hcpcs, modifiers; None
    when the name does not say (pass ``--release``)."""
    n = name.lower()
    if kind == "ptp" and (m := re.search(r"cci(?:pra|oph)[-_]?v([0-9]{2})([0-3])r[0-9]+", n)):
        return f"{1994 + int(m[1])} Q{int(m[2]) + 1}"
    if kind == "mue" and (m := re.search(r"eff[-_ ]?([0-9]{2})[-_]([0-9]{2})[-_]([0-9]{4})", n)):
        return _quarter(int(m[3]), int(m[1]))
    if kind == "aoc" and (m := re.search(r"aoc[-_ ]?v?([0-9]{4})[-_ ]?q([1-4])", n)):
        return f"{m[1]} Q{m[2]}"
    if kind == "pfs":
        if m := re.search(r"rvu([0-9]{2})([a-d])", n):
            return f"RVU{m[1]}{m[2].upper()}"
        if m := re.search(r"pprrvu(?:20)?([0-9]{2})[-_ ]?(jan|apr|jul|oct)", n):
            letter = "ABCD"[(_MONTHS[m[2]] - 1) // 3]
            return f"RVU{m[1]}{letter}"
    if kind in ("hcpcs", "modifiers") and (m := _HCPC_NAME.search(n)):
        return f"{m[1]}-{_MONTHS[m[2]]:02d}"
    # generic: 2024q3 / 2024-q3 / 2024_Q3 anywhere in the name (CMS zip names)
    if kind in ("ptp", "mue", "aoc") and (m := re.search(r"(20[0-9]{2})[-_ ]?q([1-4])", n)):
        return f"{m[1]} Q{m[2]}"
    return None
