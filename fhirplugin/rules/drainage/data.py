"""Data of the drainage rules, read once, and the helpers the rules share.

Tables (``terminology/drainage/``, each row with ``source`` and ``verified``):

* ``codes.csv`` — the drainage codes and, per code, the site class it implies, the ValueSet of the
  diagnoses that support it and what to report when no catheter stays in place;
* ``guidance-included.csv`` — (drainage code, imaging-guidance code) pairs CPT says are not reported
  together;
* ``modifiers.csv`` — modifiers that mark a further same-day line of one drainage code as a separate
  collection (XS, 59) or a repeat (76, 77).

The site/approach decision (:func:`decide_code`) reads two ConceptMaps: SNOMED CT site → site class
(and vagina/rectum → access route), then site class + approach → CPT. A broken table raises
:class:`DrainageDataError` naming the file and line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from fhirplugin.fhir.case import SNOMED, Coded, ProcedureInfo, ServiceLine, Submission
from fhirplugin.fhir.extract import APPROACH_SYSTEM
from fhirplugin.findings import CANONICAL_BASE
from fhirplugin.resources import data_dir
from fhirplugin.rules import common
from fhirplugin.rules.common import (
    OPTIONAL_COLUMNS,
    GuidancePair,
    csv_bool,
    csv_rows,
    is_unverified,
    lines_with,
)
from fhirplugin.tx.cpt import normalize_code

if TYPE_CHECKING:
    from fhirplugin.tx.fhirterm import Translation
    from fhirplugin.tx.store import Terminology

SITE_MAP = f"{CANONICAL_BASE}/ConceptMap/drainage-snomed-to-site-class"
CODE_MAP = f"{CANONICAL_BASE}/ConceptMap/drainage-site-class-to-cpt"
SITE_CLASS_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/drainage-site-class"
SEPARATE_COLLECTION = "separate-collection"
REPEAT = "repeat"
ROUTES = ("transvaginal", "transrectal")


class DrainageDataError(ValueError):
    """A drainage table cannot be read; the message names the file, the line and the problem."""


@dataclass(frozen=True, slots=True)
class DrainageCode:
    code: str
    site_class: str  # class the code itself implies (CodeSystem drainage-site-class)
    region: str  # words for the region, used in messages
    dx_valueset: str  # id of the ValueSet of supporting diagnoses
    aspiration_codes: tuple[str, ...]
    aspiration_guidance: tuple[str, ...]
    source: str
    verified: bool
    note: str


@dataclass(frozen=True, slots=True)
class ModifierUse:
    code: str
    use: str  # separate-collection | repeat
    provider: str  # for a repeat: "same" (the physician who did the first) or "other"; else ""
    source: str
    verified: bool
    note: str


def _bool(path: Path, lineno: int, column: str, value: str) -> bool:
    return csv_bool(path, lineno, column, value, DrainageDataError)


def _folder() -> Path:
    return data_dir("terminology") / "drainage"


def _rows(
    path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    return csv_rows(path, columns, DrainageDataError, (*OPTIONAL_COLUMNS, *optional))


def _split(value: str) -> tuple[str, ...]:
    return tuple(normalize_code(v) for v in value.replace(",", ";").split(";") if v.strip())


def read_codes(path: Path) -> dict[str, DrainageCode]:
    """Read a ``codes.csv``; DrainageDataError names the file and line of a bad row."""
    out: dict[str, DrainageCode] = {}
    cols = (
        "code",
        "site_class",
        "region",
        "dx_valueset",
        "aspiration_codes",
        "aspiration_guidance",
        "verified",
    )
    # no aspiration code: it depends on the site; no aspiration guidance: the code includes it
    for lineno, r in _rows(path, (*cols, "source", "note"), ("aspiration_codes", "aspiration_guidance")):
        code = normalize_code(r["code"])
        if code in out:
            raise DrainageDataError(f"{path}: line {lineno}: code {code} is listed twice")
        out[code] = DrainageCode(
            code=code,
            site_class=r["site_class"],
            region=r["region"],
            dx_valueset=r["dx_valueset"],
            aspiration_codes=_split(r["aspiration_codes"]),
            aspiration_guidance=_split(r["aspiration_guidance"]),
            source=r["source"],
            verified=_bool(path, lineno, "verified", r["verified"]),
            note=r["note"],
        )
    return out


def read_guidance_pairs(path: Path) -> dict[tuple[str, str], GuidancePair]:
    """Read a ``guidance-included.csv``: (drainage code, guidance code) → pair."""
    return common.read_guidance_pairs(path, "drainage_code", DrainageDataError)


def read_modifiers(path: Path) -> dict[str, ModifierUse]:
    """Read a ``modifiers.csv``: modifier → its use (separate-collection | repeat)."""
    out: dict[str, ModifierUse] = {}
    for lineno, r in _rows(path, ("code", "use", "provider", "source", "verified", "note"), ("provider",)):
        code = normalize_code(r["code"])
        if r["use"] not in (SEPARATE_COLLECTION, REPEAT):
            raise DrainageDataError(
                f"{path}: line {lineno}: use must be {SEPARATE_COLLECTION} or {REPEAT}, not {r['use']!r}"
            )
        if r["provider"] not in ("", "same", "other") or (r["use"] == REPEAT) != bool(r["provider"]):
            raise DrainageDataError(
                f"{path}: line {lineno}: provider must be same or other for a repeat modifier and empty "
                f"otherwise, not {r['provider']!r}"
            )
        if code in out:
            raise DrainageDataError(f"{path}: line {lineno}: modifier {code} is listed twice")
        out[code] = ModifierUse(
            code,
            r["use"],
            r["provider"],
            r["source"],
            _bool(path, lineno, "verified", r["verified"]),
            r["note"],
        )
    return out


@cache
def drainage_codes() -> Mapping[str, DrainageCode]:
    """The drainage codes (10030, 49405, 49406, 49407) by code."""
    return MappingProxyType(read_codes(_folder() / "codes.csv"))


@cache
def guidance_pairs() -> Mapping[tuple[str, str], GuidancePair]:
    """(drainage code, guidance code) → the pair, for imaging guidance included in a drainage code."""
    return MappingProxyType(read_guidance_pairs(_folder() / "guidance-included.csv"))


@cache
def modifier_uses() -> Mapping[str, ModifierUse]:
    """Modifiers for a further same-day line of one drainage code, in table order."""
    return MappingProxyType(read_modifiers(_folder() / "modifiers.csv"))


@cache
def modifiers_for(use: str, provider: str | None = None) -> tuple[str, ...]:
    """Modifier codes for ``use`` (and, for a repeat, by the ``same`` or ``other`` provider) in table
    order (the preferred one first)."""
    return tuple(
        m.code
        for m in modifier_uses().values()
        if m.use == use and (provider is None or m.provider == provider)
    )


# ---------------------------------------------------------------- lines and sessions
def drainage_code(line: ServiceLine) -> DrainageCode | None:
    return drainage_codes().get(line.cpt) if line.cpt else None


def drainage_lines(sub: Submission, *types: str) -> list[ServiceLine]:
    """Lines billed/ordered/documented with a drainage code (of the given resource types, or all)."""
    return lines_with(sub, drainage_codes(), *types)


def session_groups(lines: Iterable[ServiceLine]) -> dict[tuple, list[ServiceLine]]:
    """Lines grouped by (resource type, patient, provider, date, CPT code), in input order."""
    groups: dict[tuple, list[ServiceLine]] = {}
    for line in lines:
        date: dt.date | str | None = line.date if line.date is not None else f"?{line.resource_path}"
        key = (line.resource_type, line.patient, line.provider, date, line.cpt)
        groups.setdefault(key, []).append(line)
    return groups


def documented_procedures(lines: Iterable[ServiceLine], *types: str) -> list[ProcedureInfo]:
    """Linked Procedure (or given types) documentation of ``lines``, each once, in order."""
    types = types or ("Procedure",)
    seen: set[str] = set()
    out = []
    for line in lines:
        for p in line.procedures:
            if p.resource_type in types and p.path not in seen:
                seen.add(p.path)
                out.append(p)
    return out


def count(n: float, singular: str, plural: str | None = None) -> str:
    """``1 unit``, ``2 units``."""
    return f"{n:g} {singular if n == 1 else plural or singular + 's'}"


# ---------------------------------------------------------------- site and approach
@dataclass(slots=True)
class SiteDecision:
    """What the documented site and approach call for."""

    expected: dict[str, Translation]  # CPT code -> ConceptMap target
    basis: str  # words: what was documented
    unverified: bool
    site_paths: list[str]


def approach_facts(codes: Iterable[str]) -> dict[str, str] | None:
    """The ``dependsOn`` facts for the approach codes documented: ``{}`` none, None contradictory.

    ``approach`` is open, transvaginal, transrectal or percutaneous (in that order of weight; other
    codes such as laparoscopic pass through and match no target); ``route`` goes with open.
    """
    vals = {c.strip().lower() for c in codes if c and c.strip()}
    routes = sorted(vals & set(ROUTES))
    if len(routes) > 1:
        return None
    if "open" in vals:
        if "percutaneous" in vals:
            return None
        return {"approach": "open", **({"route": routes[0]} if routes else {})}
    if routes:
        return {"approach": routes[0]}
    if "percutaneous" in vals:
        return {"approach": "percutaneous"}
    return {"approach": min(vals)} if vals else {}


def _site_codes(line: ServiceLine) -> list[Coded]:
    """SNOMED codings that may name the collection's site: body sites, then SNOMED procedure codes."""
    out = [c for c in line.all_body_sites() if c.system == SNOMED]
    out += [c for c in line.codes if c.system == SNOMED]
    for p in line.procedures:
        out += [c for c in p.codes if c.system == SNOMED]
    return out


def decided_code(
    sub: Submission, tx: Terminology, line: ServiceLine, dc: DrainageCode
) -> SiteDecision | None:
    """:func:`decide_code` once per line and submission (DRN004 and DRN006 both ask)."""
    return sub.memo(("drainage.decide", id(line)), lambda: decide_code(tx, line, dc))


def decide_code(tx: Terminology, line: ServiceLine, dc: DrainageCode) -> SiteDecision | None:
    """The CPT code(s) the documented site and approach call for; None when they decide nothing.

    Sites are mapped to classes; with no mapped site but a documented approach, the class the billed
    code implies is used. A ConceptMap target counts only when its ``dependsOn`` facts are exactly the
    documented ones (no approach documented → the targets without conditions).
    """
    classes: list[tuple[Translation, Coded | None]] = []
    routes: list[tuple[Translation, Coded]] = []
    for c in _site_codes(line):
        for t in tx.conceptmaps.translate(SITE_MAP, SNOMED, c.code):
            if t.system == SITE_CLASS_SYSTEM:
                classes.append((t, c))
            elif t.system == APPROACH_SYSTEM:
                routes.append((t, c))
    approach_codes = [c.code for c in line.all_approaches() if c.system in (None, APPROACH_SYSTEM)]
    facts = approach_facts(approach_codes + [t.code for t, _ in routes])
    if facts is None:
        return None
    if not classes and not facts:
        return None
    # no mapped site: the class the billed code implies, judged on the approach alone
    items: list[tuple[str, Translation | None]] = (
        [(t.code, t) for t, _ in classes] if classes else [(dc.site_class, None)]
    )
    expected: dict[str, Translation] = {}
    used: list[Translation] = [t for t, _ in routes]
    for cls, origin in items:
        found = [
            t
            for t in tx.conceptmaps.translate(CODE_MAP, SITE_CLASS_SYSTEM, cls, facts)
            if len(t.depends_on) == len(facts)
        ]
        if found and origin is not None:
            used.append(origin)
        for t in found:
            expected.setdefault(t.code, t)
            used.append(t)
    if not expected:
        return None
    sites = [f"{c.display or 'SNOMED ' + c.code} ({(t.display or t.code).lower()})" for t, c in classes]
    sites += [f"{c.display or 'SNOMED ' + c.code} (route {t.code})" for t, c in routes]
    approach = ""
    if facts:
        approach = "approach " + facts["approach"] + (f" {facts['route']}" if "route" in facts else "")
    if sites:
        basis = "site " + ", ".join(dict.fromkeys(sites)) + (f" and {approach}" if approach else "")
    else:
        basis = f"{approach} (no site documented; judged within the scope of {dc.code}: {dc.region})"
    return SiteDecision(
        expected=expected,
        basis=basis,
        unverified=any(is_unverified(t.comment) for t in used),
        site_paths=[c.path for _, c in classes] + [c.path for _, c in routes],
    )


@cache
def guidance_secondaries() -> frozenset[str]:
    """The imaging-guidance codes of the guidance pairs."""
    return frozenset(g for _, g in guidance_pairs())


@cache
def guidance_primaries() -> frozenset[str]:
    """The drainage codes of the guidance pairs (what DRN001 is about)."""
    return frozenset(d for d, _ in guidance_pairs())
