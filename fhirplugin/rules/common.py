"""What the rule families share: reading their CSV tables, finding their lines, and wording.

Each family (``rules/drainage``, ``rules/devices``) keeps its own tables and data classes in its
``data.py``; the mechanics below are the same for all of them, so they live here once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fhirplugin.fhir.case import Case, ServiceLine, Submission
from fhirplugin.tx.cpt import normalize_code

if TYPE_CHECKING:
    from fhirplugin.tx.store import Terminology

# columns that may be empty in every family table
OPTIONAL_COLUMNS = ("note", "source")


# ---------------------------------------------------------------- tables
def csv_rows(
    path: Path,
    columns: tuple[str, ...],
    error: type[ValueError],
    optional: tuple[str, ...] = OPTIONAL_COLUMNS,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a family CSV table as ``(line number, {column: stripped value})``.

    Raises ``error`` naming the file and line when the file cannot be read, a column is missing, a
    row has more cells than columns, or a required cell (any but the ``optional`` ones, by default
    note and source) is empty.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise error(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    for lineno, row in enumerate(reader, start=2):
        if None in row:
            raise error(f"{path}: line {lineno}: more cells than columns")
        empty = [c for c in columns if c not in optional and not (row.get(c) or "").strip()]
        if empty:
            raise error(f"{path}: line {lineno}: empty {', '.join(empty)}")
        yield lineno, {k: (v or "").strip() for k, v in row.items() if k}


def csv_bool(path: Path, lineno: int, column: str, value: str, error: type[ValueError]) -> bool:
    """A ``true``/``false`` cell; anything else raises ``error`` naming the file, line and column."""
    v = (value or "").strip().lower()
    if v not in ("true", "false"):
        raise error(f"{path}: line {lineno}: {column} must be true or false, not {value!r}")
    return v == "true"


@dataclass(frozen=True, slots=True)
class GuidancePair:
    """A row of a family's ``guidance-included.csv``: imaging guidance included in a primary code."""

    primary: str  # the code that includes the guidance (a drainage or a device code)
    guidance: str
    source: str
    verified: bool
    note: str


def read_guidance_pairs(
    path: Path, first_column: str, error: type[ValueError]
) -> dict[tuple[str, str], GuidancePair]:
    """Read a ``guidance-included.csv`` (first column named per family): (primary, guidance) → pair."""
    out: dict[tuple[str, str], GuidancePair] = {}
    for lineno, r in csv_rows(path, (first_column, "guidance_code", "source", "verified", "note"), error):
        key = (normalize_code(r[first_column]), normalize_code(r["guidance_code"]))
        if key in out:
            raise error(f"{path}: line {lineno}: pair {key[0]}/{key[1]} is listed twice")
        verified = csv_bool(path, lineno, "verified", r["verified"], error)
        out[key] = GuidancePair(*key, r["source"], verified, r["note"])
    return out


# ---------------------------------------------------------------- lines and sessions
def lines_with(sub: Submission, codes: Mapping[str, object], *types: str) -> list[ServiceLine]:
    """Lines whose CPT code is a key of ``codes`` (of the given resource types, or all), in order.

    Several rules of a family ask the same question of one submission: the answer is kept on it.
    """
    return sub.memo(("lines_with", id(codes), types), lambda: _lines_with(sub, codes, types))


def _lines_with(sub: Submission, codes: Mapping[str, object], types: tuple[str, ...]) -> list[ServiceLine]:
    return [
        line
        for line in sub.lines()
        if line.cpt is not None and line.cpt in codes and (not types or line.resource_type in types)
    ]


def same_session(line: ServiceLine, other: ServiceLine) -> bool:
    """Same patient, provider and date of service; an unknown date matches only within one resource."""
    if other.patient != line.patient or other.provider != line.provider or other.date != line.date:
        return False
    return line.date is not None or other.resource_path == line.resource_path


def case_of(sub: Submission, line: ServiceLine) -> Case | None:
    """The case (claim or order) that holds ``line``."""
    for case in sub.cases:
        if any(x is line for x in case.lines):
            return case
    return None


# ---------------------------------------------------------------- words
def code_label(tx: Terminology, code: str) -> str:
    """``49406 (our short description)``; the bare code when the table does not know it."""
    entry = tx.cpt.get(code)
    return f"{code} ({entry.description})" if entry is not None and entry.description else code


def join_or(items: Iterable[str], word: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c`` (``word="and"`` for a list of all)."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def is_unverified(comment: str | None) -> bool:
    """A ConceptMap target, ValueSet include or table note whose tag says memory [M] or inference [I]."""
    return bool(comment) and ("[M]" in comment or "[I]" in comment)
