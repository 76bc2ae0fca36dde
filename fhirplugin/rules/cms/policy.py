"""The CMS rules' own tables (``terminology/cms/``): what each fee schedule status and payment-policy
indicator means for a claim line, the CPT codes deleted with the code that replaced them, and the
assigned CMS place-of-service codes.

The fee schedule rows themselves (a code's status and indicators) come from the loaded Physician Fee
Schedule relative value file (``Terminology.pfs``); these tables say how to read them. They are read
through :mod:`fhirplugin.rules.tables`: a broken row raises TableError naming file, line and column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from fhirplugin.resources import data_dir
from fhirplugin.rules.tables import Code, Row, VerifiedRow, read_keyed


def _folder() -> Path:
    return data_dir("terminology") / "cms"


def _upper(value: object) -> str:
    return str(value).strip().upper()


def _modifiers(value: object) -> frozenset[str]:
    return value if isinstance(value, frozenset) else frozenset(str(value).upper().split())


class StatusMeaning(Row):
    status: Annotated[str, BeforeValidator(_upper)]
    severity: Literal["", "error", "warning"] = ""  # "" (no finding), "error" or "warning"
    meaning: str
    advice: str = ""


class IndicatorRule(Row):
    indicator: Literal["bilateral", "pctc", "assistant", "co_surgeon", "team"]
    value: str
    modifiers: Annotated[frozenset[str], BeforeValidator(_modifiers)]
    severity: Literal["error", "warning"]
    meaning: str


class DeletedCode(VerifiedRow):
    code: Code
    deleted: dt.date
    replacement: Code


@cache
def status_meanings() -> Mapping[str, StatusMeaning]:
    return read_keyed(
        _folder() / "pfs-status.csv", StatusMeaning, lambda r: r.status, lambda k: f"status {k}"
    )


@cache
def indicator_rules() -> Mapping[tuple[str, str], IndicatorRule]:
    return read_keyed(
        _folder() / "pfs-modifier-indicators.csv",
        IndicatorRule,
        lambda r: (r.indicator, r.value),
        lambda k: f"{k[0]} {k[1]}",
    )


@cache
def deleted_codes() -> Mapping[str, DeletedCode]:
    return read_keyed(_folder() / "deleted-codes.csv", DeletedCode, lambda r: r.code, str)


class PlaceOfService(Row):
    code: Annotated[str, Field(pattern=r"^[0-9]{2}$")]  # two digits
    setting: Literal["facility", "non-facility"]  # which fee schedule rate a practitioner is paid there
    name: str


@cache
def places_of_service() -> Mapping[str, PlaceOfService]:
    """The assigned CMS place-of-service codes (``terminology/cms/place-of-service.csv``)."""
    return read_keyed(
        _folder() / "place-of-service.csv", PlaceOfService, lambda r: r.code, lambda k: f"code {k}"
    )
