"""Data of the device placement rules, read once, and the helpers the rules share.

Tables (``terminology/devices/``, each row with ``source`` and ``verified``):

* ``codes.csv`` — the device codes of the family (49411, 49412): the approach each one describes,
  the region it covers, whether one unit covers any number of devices, and the ValueSet of the
  diagnoses that support it;
* ``guidance-included.csv`` — (device code, imaging-guidance code) pairs where the guidance is part of
  the device code (49412); 49411 is absent on purpose, its guidance is reported separately;
* ``open-primary.csv`` — what counts as the open primary procedure an add-on device code needs: the
  CPT code range, approaches that do or do not count, CPT code families that never count;
* ``device-site-region.json`` — CodeSystem of the regions used by ConceptMap ``device-site-to-cpt``.

The site decision (:func:`decide_code`) reads ConceptMap ``device-site-to-cpt``: SNOMED CT site (or a
diagnosis that places the target by itself, e.g. prostate cancer) → region, then region + approach →
CPT. A broken table raises :class:`DeviceDataError` naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from fhirplugin.fhir.case import ICD10CM, SNOMED, Coded, ServiceLine, Submission
from fhirplugin.fhir.extract import APPROACH_SYSTEM
from fhirplugin.findings import CANONICAL_BASE
from fhirplugin.resources import data_dir
from fhirplugin.rules import common
from fhirplugin.rules.common import (
    GuidancePair,
    csv_bool,
    csv_rows,
    is_unverified,
    join_or,
    lines_with,
    sessions,
)
from fhirplugin.tx.cpt import normalize_code

if TYPE_CHECKING:
    from fhirplugin.tx.fhirterm import Translation
    from fhirplugin.tx.store import Terminology

SITE_MAP = f"{CANONICAL_BASE}/ConceptMap/device-site-to-cpt"
REGION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/device-site-region"
# the columns of every terminology/<family>/guidance-included.csv (first column named per family)
GUIDANCE_COLUMNS = ("primary_code", "guidance_code", "source", "verified", "note")
CRITERIA = ("range", "approach", "family")


class DeviceDataError(ValueError):
    """A device table cannot be read; the message names the file, the line and the problem."""


@dataclass(frozen=True, slots=True)
class DeviceCode:
    code: str
    approach: str  # approach the code describes (CodeSystem approach): percutaneous | open
    region: str  # region code (CodeSystem device-site-region)
    one_unit: bool  # one unit per session, however many devices
    dx_valueset: str  # id of the ValueSet of supporting diagnoses
    source: str
    verified: bool
    note: str


@dataclass(frozen=True, slots=True)
class PrimaryCriterion:
    criterion: str  # range | approach | family
    value: str
    counts: bool  # True: makes a line an open primary (range: required); False: rules it out
    source: str
    verified: bool
    note: str

    def contains(self, code: str) -> bool:
        """For a ``range`` row: is the 5-digit CPT ``code`` inside it."""
        low, _, high = self.value.partition("-")
        return code.isdigit() and len(code) == 5 and low <= code <= (high or low)


def _folder() -> Path:
    return data_dir("terminology") / "devices"


def _bool(path: Path, lineno: int, column: str, value: str) -> bool:
    return csv_bool(path, lineno, column, value, DeviceDataError)


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    return csv_rows(path, columns, DeviceDataError)


def read_codes(path: Path) -> dict[str, DeviceCode]:
    """Read a ``codes.csv``: device code → its row."""
    out: dict[str, DeviceCode] = {}
    cols = ("code", "approach", "region", "one_unit", "dx_valueset", "source", "verified", "note")
    for lineno, r in _rows(path, cols):
        code = normalize_code(r["code"])
        if code in out:
            raise DeviceDataError(f"{path}: line {lineno}: code {code} is listed twice")
        out[code] = DeviceCode(
            code=code,
            approach=r["approach"].lower(),
            region=r["region"],
            one_unit=_bool(path, lineno, "one_unit", r["one_unit"]),
            dx_valueset=r["dx_valueset"],
            source=r["source"],
            verified=_bool(path, lineno, "verified", r["verified"]),
            note=r["note"],
        )
    return out


def read_guidance_pairs(path: Path) -> dict[tuple[str, str], GuidancePair]:
    """Read a ``guidance-included.csv``: (device code, guidance code) → pair."""
    return common.read_guidance_pairs(path, GUIDANCE_COLUMNS[0], DeviceDataError)


def read_primary_criteria(path: Path) -> tuple[PrimaryCriterion, ...]:
    """Read an ``open-primary.csv``: the criteria, in file order."""
    out: list[PrimaryCriterion] = []
    seen: set[tuple[str, str]] = set()
    for lineno, r in _rows(path, ("criterion", "value", "counts", "source", "verified", "note")):
        kind, value = r["criterion"].lower(), r["value"].strip()
        if kind not in CRITERIA:
            raise DeviceDataError(
                f"{path}: line {lineno}: criterion must be {', '.join(CRITERIA)}, not {r['criterion']!r}"
            )
        if kind == "range":
            low, _, high = value.partition("-")
            if not (low.isdigit() and len(low) == 5 and (not high or (high.isdigit() and len(high) == 5))):
                raise DeviceDataError(
                    f"{path}: line {lineno}: range must be two 5-digit CPT codes like 10004-69990, not {value!r}"
                )
        else:
            value = value.lower()
        if (kind, value) in seen:
            raise DeviceDataError(f"{path}: line {lineno}: {kind} {value} is listed twice")
        seen.add((kind, value))
        counts = _bool(path, lineno, "counts", r["counts"])
        out.append(
            PrimaryCriterion(
                kind, value, counts, r["source"], _bool(path, lineno, "verified", r["verified"]), r["note"]
            )
        )
    return tuple(out)


@cache
def device_codes() -> Mapping[str, DeviceCode]:
    """The device codes of the family (49411, 49412) by code."""
    return MappingProxyType(read_codes(_folder() / "codes.csv"))


@cache
def guidance_pairs() -> Mapping[tuple[str, str], GuidancePair]:
    """(device code, guidance code) → the pair, for imaging guidance included in a device code."""
    return MappingProxyType(read_guidance_pairs(_folder() / "guidance-included.csv"))


@cache
def primary_criteria() -> tuple[PrimaryCriterion, ...]:
    """What counts as an open primary procedure for an add-on device code."""
    return read_primary_criteria(_folder() / "open-primary.csv")


@cache
def region_displays() -> Mapping[str, str]:
    """Region code → display, from ``device-site-region.json``."""
    path = _folder() / "device-site-region.json"
    try:
        cs = json.loads(path.read_text(encoding="utf-8"))
        return MappingProxyType({c["code"]: c.get("display") or c["code"] for c in cs["concept"]})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeviceDataError(f"{path}: not a readable CodeSystem ({exc})") from None


def region_words(region: str) -> str:
    return region_displays().get(region, region).lower()


# ---------------------------------------------------------------- lines and sessions
def device_code(line: ServiceLine) -> DeviceCode | None:
    return device_codes().get(line.cpt) if line.cpt else None


def device_lines(sub: Submission, *types: str) -> list[ServiceLine]:
    """Lines billed/ordered/documented with a device code (of the given resource types, or all)."""
    return lines_with(sub, device_codes(), *types)


def session_partners(sub: Submission, line: ServiceLine, types: Iterable[str]) -> list[ServiceLine]:
    """Other lines of the given resource types in the same session as ``line``, in input order."""
    return sessions(sub).lines(line, types)


def approaches(line: ServiceLine) -> list[str]:
    """Distinct approach codes documented for the line (item and linked documentation), sorted."""
    return sorted(
        {c.code.strip().lower() for c in line.all_approaches() if c.system in (None, APPROACH_SYSTEM)}
    )


# ---------------------------------------------------------------- open primary procedure
@dataclass(frozen=True, slots=True)
class PrimaryJudgement:
    """Whether a line is an open primary procedure for an add-on device code, and why."""

    counts: bool
    reason: str
    verified: bool


def judge_primary(tx: Terminology, line: ServiceLine) -> PrimaryJudgement:
    """Judge ``line`` against ``open-primary.csv`` and the add-on flag of ``cpt/codes.csv``.

    Order: a CPT code; not an add-on; inside a counting range; a documented approach that counts
    (open) makes it one, one that does not (laparoscopic, percutaneous, ...) rules it out; else a
    code family that never counts rules it out; otherwise it counts (a surgical code with no approach
    documented is taken as the open procedure; a code missing from the built-in table as well, since
    its add-on status is unknown).
    """
    code = line.cpt
    if code is None:
        shown = line.code.code if line.code is not None else "the line"
        return PrimaryJudgement(False, f"{shown} is not a CPT code", True)
    entry = tx.cpt.get(code)
    if entry is not None and entry.add_on:
        return PrimaryJudgement(False, f"{code} is an add-on code itself", entry.verified)
    criteria = primary_criteria()
    ranges = [c for c in criteria if c.criterion == "range" and c.counts]
    if ranges and not any(r.contains(code) for r in ranges):
        where = join_or(r.value for r in ranges)
        return PrimaryJudgement(
            False,
            f"{code} is not an abdominal, pelvic or retroperitoneal procedure code ({where})",
            all(r.verified for r in ranges),
        )
    for r in criteria:
        if r.criterion == "range" and not r.counts and r.contains(code):
            what = r.note.removeprefix("[M] ").removeprefix("[I] ").split(":", 1)[0]
            return PrimaryJudgement(
                False, f"{code} is in {r.value} ({what}), not an open procedure", r.verified
            )
    by_approach = {c.value: c for c in criteria if c.criterion == "approach"}
    documented = [by_approach[a] for a in approaches(line) if a in by_approach]
    opened = [c for c in documented if c.counts]
    if opened:
        return PrimaryJudgement(
            True, f"{code} documented with an {opened[0].value} approach", opened[0].verified
        )
    if documented:
        c = documented[0]
        return PrimaryJudgement(False, f"{code} is documented as {c.value}, not open", c.verified)
    family = entry.family if entry is not None else None
    for c in criteria:
        if c.criterion == "family" and not c.counts and c.value == family:
            return PrimaryJudgement(
                False, f"{code} is in the CPT family {family}, not open surgery", c.verified
            )
    if entry is None:
        return PrimaryJudgement(True, f"{code} (not in the built-in CPT table: taken as the primary)", False)
    return PrimaryJudgement(True, f"{code} (no approach documented: taken as the open primary)", True)


# ---------------------------------------------------------------- site and approach
@dataclass(slots=True)
class SiteDecision:
    """What the documented site (or diagnosis) and approach call for."""

    expected: dict[str, Translation]  # CPT code -> ConceptMap target
    basis: str  # words: what was documented
    unverified: bool
    evidence: list[str]  # FHIRPaths of the sites / diagnoses used


def _site_regions(tx: Terminology, line: ServiceLine) -> list[tuple[Translation, Coded, str]]:
    out = []
    for c in line.all_body_sites():
        if c.system != SNOMED:
            continue
        for t in tx.conceptmaps.translate(SITE_MAP, SNOMED, c.code):
            if t.system == REGION_SYSTEM:
                out.append((t, c, f"site {c.display or 'SNOMED ' + c.code}"))
    return out


def dx_regions(tx: Terminology, line: ServiceLine, dc: DeviceCode) -> list[tuple[Translation, Coded, str]]:
    """Regions the line's diagnoses place the target in, when no diagnosis supports the billed code.

    A diagnosis in the code's supporting ValueSet (an abdominal or pelvic neoplasm) means the target may
    well be there: then the diagnoses decide nothing.
    """
    codes = [c for d in line.diagnoses() for c in d.icd10() if tx.icd.is_valid(c.code)]
    if not codes or any(tx.valuesets.contains(dc.dx_valueset, ICD10CM, c.code) for c in codes):
        return []
    out = []
    for c in codes:
        for t in tx.conceptmaps.translate(SITE_MAP, ICD10CM, c.code):
            if t.system == REGION_SYSTEM:
                out.append((t, c, f"diagnosis {c.code}"))
    return out


def decide_code(tx: Terminology, line: ServiceLine, dc: DeviceCode) -> SiteDecision | None:
    """The CPT code(s) the documented site and approach call for; None when they decide nothing.

    The region comes from the SNOMED CT body sites (line and linked documentation), else from the
    diagnoses when every one that places the target points to one region (prostate cancer), else —
    with an approach documented — from the billed code itself. Several different approaches decide
    nothing. A ConceptMap target counts only when its ``dependsOn`` facts are exactly the documented
    ones (no approach → the targets without conditions).
    """
    documented = approaches(line)
    if len(documented) > 1:
        return None
    facts = {"approach": documented[0]} if documented else {}
    found = _site_regions(tx, line) or dx_regions(tx, line, dc)
    items: list[tuple[str, Translation | None]] = [(t.code, t) for t, _, _ in found]
    if not items:
        if not facts:
            return None
        items = [(dc.region, None)]
    expected: dict[str, Translation] = {}
    used: list[Translation] = []
    seen: set[str] = set()
    for region, origin in items:
        if region in seen:
            continue
        seen.add(region)
        targets = [
            t
            for t in tx.conceptmaps.translate(SITE_MAP, REGION_SYSTEM, region, facts)
            if len(t.depends_on) == len(facts)
        ]
        if targets and origin is not None:
            used.append(origin)
        for t in targets:
            expected.setdefault(t.code, t)
            used.append(t)
    if not expected:
        return None
    approach = f"approach {facts['approach']}" if facts else ""
    if found:
        what = ", ".join(dict.fromkeys(f"{words} ({region_words(t.code)})" for t, _, words in found))
        basis = what + (f" and {approach}" if approach else "")
    else:
        basis = f"{approach} (no site documented; judged within the region of {dc.code}: {region_words(dc.region)})"
    return SiteDecision(
        expected=expected,
        basis=basis,
        unverified=any(is_unverified(t.comment) for t in used),
        evidence=list(dict.fromkeys(c.path for _, c, _ in found)),
    )


@cache
def guidance_secondaries() -> frozenset[str]:
    """The imaging-guidance codes of the guidance pairs."""
    return frozenset(g for _, g in guidance_pairs())


@cache
def guidance_primaries() -> frozenset[str]:
    """The device codes of the guidance pairs (what DEV004 is about)."""
    return frozenset(p for p, _ in guidance_pairs())
