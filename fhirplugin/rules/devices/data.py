"""Data of the device placement family, read once, and the site decision its rules share.

Tables (``terminology/devices/``, each row with ``source`` and ``verified``), read through
:mod:`fhirplugin.rules.tables` (a broken row raises :class:`TableError` naming file, line and column):

* ``codes.csv`` — the device codes of the family (49411, 49412): the approach each one describes,
  the region it covers, whether one unit covers any number of devices, and the ValueSet of the
  diagnoses that support it;
* ``guidance-included.csv`` — (device code, imaging-guidance code) pairs where the guidance is part of
  the device code (49412); 49411 is absent on purpose, its guidance is reported separately;
* ``open-primary.csv`` — what counts as the open primary procedure an add-on device code needs
  (:class:`fhirplugin.rules.templates.addon.PrimaryCriterion` rows);
* ``device-site-region.json`` — CodeSystem of the regions used by ConceptMap ``device-site-to-cpt``.

The site decision (:func:`decide_code`) reads ConceptMap ``device-site-to-cpt``: SNOMED CT site (or a
diagnosis that places the target by itself, e.g. prostate cancer) → region, then region + approach →
CPT.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from fhirplugin.fhir.case import Coded, ServiceLine, Submission
from fhirplugin.rules.common import is_unverified
from fhirplugin.rules.tables import Bool, Lower, TableError
from fhirplugin.rules.templates.addon import PrimaryCriterion, approaches, read_criteria
from fhirplugin.rules.templates.family import CodeRow, Family, GuidancePair
from fhirplugin.rules.templates.site import SiteDecision, decision, targets
from fhirplugin.systems import CANONICAL_BASE, ICD10CM, SNOMED

if TYPE_CHECKING:
    from fhirplugin.rules.base import RuleContext
    from fhirplugin.tx.fhirterm import Translation
    from fhirplugin.tx.store import Terminology

__all__ = ["TableError", "approaches", "is_unverified"]

SITE_MAP = f"{CANONICAL_BASE}/ConceptMap/device-site-to-cpt"
REGION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/device-site-region"


class DeviceCode(CodeRow):
    approach: Lower  # approach the code describes (CodeSystem approach): percutaneous | open
    region: str  # region code (CodeSystem device-site-region)
    one_unit: Bool  # one unit per session, however many devices
    dx_valueset: str  # id of the ValueSet of supporting diagnoses


FAMILY: Family[DeviceCode] = Family("devices", DeviceCode)


def device_codes() -> Mapping[str, DeviceCode]:
    """The device codes of the family (49411, 49412) by code."""
    return FAMILY.codes()


def guidance_pairs() -> Mapping[tuple[str, str], GuidancePair]:
    """(device code, guidance code) → the pair, for imaging guidance included in a device code."""
    return FAMILY.guidance_pairs()


def primary_criteria() -> tuple[PrimaryCriterion, ...]:
    """What counts as an open primary procedure for an add-on device code."""
    return FAMILY.table("open-primary.csv", read_criteria)


def _read_regions(path: Path) -> Mapping[str, str]:
    try:
        cs = json.loads(path.read_text(encoding="utf-8"))
        return MappingProxyType({c["code"]: c.get("display") or c["code"] for c in cs["concept"]})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TableError(f"{path}: not a readable CodeSystem ({exc})") from None


def region_displays() -> Mapping[str, str]:
    """Region code → display, from ``device-site-region.json``."""
    return FAMILY.table("device-site-region.json", _read_regions)


def region_words(region: str) -> str:
    return region_displays().get(region, region).lower()


def device_code(line: ServiceLine) -> DeviceCode | None:
    return FAMILY.code(line)


def device_lines(sub: Submission, *types: str) -> list[ServiceLine]:
    """Lines billed/ordered/documented with a device code (of the given resource types, or all)."""
    return FAMILY.lines(sub, *types)


def site_decision(ctx: RuleContext, line: ServiceLine, dc: DeviceCode) -> SiteDecision | None:
    """The decision of DEV002 (the template's ``decide``)."""
    return decide_code(ctx.tx, line, dc)


def dx_elsewhere(ctx: RuleContext, line: ServiceLine, dc: DeviceCode) -> bool:
    """The diagnoses put the target in another region (C61: prostate): DEV002 names the code."""
    placed = dx_regions(ctx.tx, line, dc)
    return bool(placed) and all(t.code != dc.region for t, _, _ in placed)


# ---------------------------------------------------------------- site and approach
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
    first: dict[str, Translation | None] = {}
    for region, origin in items:
        first.setdefault(region, origin)  # a region judged once, from its first origin
    expected, used = targets(tx, SITE_MAP, REGION_SYSTEM, first.items(), facts)
    what = ", ".join(dict.fromkeys(f"{words} ({region_words(t.code)})" for t, _, words in found))
    return decision(
        expected,
        used,
        what,
        f"approach {facts['approach']}" if facts else "",
        f"the region of {dc.code}: {region_words(dc.region)}",
        list(dict.fromkeys(c.path for _, c, _ in found)),
    )
