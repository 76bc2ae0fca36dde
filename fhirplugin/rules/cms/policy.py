"""The CMS rules' own tables (``terminology/cms/``): what each fee schedule status and payment-policy
indicator means for a claim line, and the CPT codes deleted with the code that replaced them.

The fee schedule rows themselves (a code's status and indicators) come from the loaded Physician Fee
Schedule relative value file (``Terminology.pfs``); these tables say how to read them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fhirplugin.resources import data_dir
from fhirplugin.rules.common import csv_bool, csv_rows
from fhirplugin.tx.cpt import normalize_code

SEVERITIES = ("", "error", "warning")
INDICATORS = ("bilateral", "pctc", "assistant", "co_surgeon", "team")


class PolicyDataError(ValueError):
    """A table under ``terminology/cms/`` cannot be read; the message names the file and line."""


def _folder() -> Path:
    return data_dir("terminology") / "cms"


@dataclass(frozen=True, slots=True)
class StatusMeaning:
    status: str
    severity: str  # "" (no finding), "error" or "warning"
    meaning: str
    advice: str


@dataclass(frozen=True, slots=True)
class IndicatorRule:
    indicator: str  # bilateral | pctc | assistant | co_surgeon | team
    value: str
    modifiers: frozenset[str]
    severity: str
    meaning: str


@dataclass(frozen=True, slots=True)
class DeletedCode:
    code: str
    deleted: dt.date
    replacement: str
    source: str
    verified: bool


def _severity(path: Path, lineno: int, value: str) -> str:
    if value not in SEVERITIES:
        raise PolicyDataError(
            f"{path}: line {lineno}: severity must be error, warning or empty, not {value!r}"
        )
    return value


@cache
def status_meanings() -> dict[str, StatusMeaning]:
    path = _folder() / "pfs-status.csv"
    out: dict[str, StatusMeaning] = {}
    for lineno, r in csv_rows(
        path, ("status", "severity", "meaning", "advice"), PolicyDataError, ("severity", "advice")
    ):
        status = r["status"].upper()
        if status in out:
            raise PolicyDataError(f"{path}: line {lineno}: status {status} is listed twice")
        out[status] = StatusMeaning(status, _severity(path, lineno, r["severity"]), r["meaning"], r["advice"])
    return out


@cache
def indicator_rules() -> dict[tuple[str, str], IndicatorRule]:
    path = _folder() / "pfs-modifier-indicators.csv"
    out: dict[tuple[str, str], IndicatorRule] = {}
    for lineno, r in csv_rows(
        path, ("indicator", "value", "modifiers", "severity", "meaning"), PolicyDataError
    ):
        if r["indicator"] not in INDICATORS:
            raise PolicyDataError(
                f"{path}: line {lineno}: indicator must be one of {', '.join(INDICATORS)}, not {r['indicator']!r}"
            )
        key = (r["indicator"], r["value"])
        if key in out:
            raise PolicyDataError(f"{path}: line {lineno}: {key[0]} {key[1]} is listed twice")
        sev = _severity(path, lineno, r["severity"])
        if not sev:
            raise PolicyDataError(f"{path}: line {lineno}: empty severity")
        out[key] = IndicatorRule(key[0], key[1], frozenset(r["modifiers"].upper().split()), sev, r["meaning"])
    return out


@cache
def deleted_codes() -> dict[str, DeletedCode]:
    path = _folder() / "deleted-codes.csv"
    out: dict[str, DeletedCode] = {}
    for lineno, r in csv_rows(
        path, ("code", "deleted", "replacement", "source", "verified", "note"), PolicyDataError
    ):
        code = normalize_code(r["code"])
        if code in out:
            raise PolicyDataError(f"{path}: line {lineno}: {code} is listed twice")
        try:
            when = dt.date.fromisoformat(r["deleted"])
        except ValueError:
            raise PolicyDataError(
                f"{path}: line {lineno}: deleted {r['deleted']!r} is not a date YYYY-MM-DD"
            ) from None
        verified = csv_bool(path, lineno, "verified", r["verified"], PolicyDataError)
        out[code] = DeletedCode(code, when, normalize_code(r["replacement"]), r["source"], verified)
    return out
