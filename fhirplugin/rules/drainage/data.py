"""Data of the drainage family, read once, and the site decision its rules share.

Tables (``terminology/drainage/``, each row with ``source`` and ``verified``), read through
:mod:`fhirplugin.rules.tables` (a broken row raises :class:`TableError` naming file, line and column):

* ``codes.csv`` — the drainage codes and, per code, the site class it implies, the ValueSet of the
  diagnoses that support it and what to report when no catheter stays in place;
* ``guidance-included.csv`` — (drainage code, imaging-guidance code) pairs CPT says are not reported
  together;
* ``modifiers.csv`` — modifiers that mark a further same-day line of one drainage code as a separate
  collection (XS, 59) or a repeat (76, 77).

The site/approach decision (:func:`decide_code`) reads two ConceptMaps: SNOMED CT site → site class
(and vagina/rectum → access route), then site class + approach → CPT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from fhirplugin.fhir.case import Coded, ServiceLine, Submission
from fhirplugin.rules.tables import Code, Codes, TableError, VerifiedRow
from fhirplugin.rules.templates.family import CodeRow, Family, GuidancePair
from fhirplugin.rules.templates.site import SiteDecision, decision, targets
from fhirplugin.rules.templates.units import count, documented_procedures, session_groups
from fhirplugin.systems import APPROACH_SYSTEM, CANONICAL_BASE, SNOMED

if TYPE_CHECKING:
    from fhirplugin.rules.base import RuleContext
    from fhirplugin.tx.fhirterm import Translation
    from fhirplugin.tx.store import Terminology

__all__ = ["TableError", "count", "documented_procedures", "session_groups"]

SITE_MAP = f"{CANONICAL_BASE}/ConceptMap/drainage-snomed-to-site-class"
CODE_MAP = f"{CANONICAL_BASE}/ConceptMap/drainage-site-class-to-cpt"
SITE_CLASS_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/drainage-site-class"
SEPARATE_COLLECTION = "separate-collection"
REPEAT = "repeat"
ROUTES = ("transvaginal", "transrectal")


class DrainageCode(CodeRow):
    site_class: str  # class the code itself implies (CodeSystem drainage-site-class)
    region: str  # words for the region, used in messages
    dx_valueset: str  # id of the ValueSet of supporting diagnoses
    # no aspiration code: it depends on the site; no aspiration guidance: the code includes it
    aspiration_codes: Codes = ()
    aspiration_guidance: Codes = ()


class ModifierUse(VerifiedRow):
    code: Code
    use: Literal["separate-collection", "repeat"]
    provider: Literal["", "same", "other"] = ""  # for a repeat: the physician who did the first, or another

    @model_validator(mode="after")
    def _provider(self) -> ModifierUse:
        if (self.use == REPEAT) != bool(self.provider):
            raise ValueError(
                f"provider must be same or other for a repeat modifier and empty otherwise, not {self.provider!r}"
            )
        return self


FAMILY: Family[DrainageCode] = Family("drainage", DrainageCode)


def drainage_codes() -> Mapping[str, DrainageCode]:
    """The drainage codes (10030, 49405, 49406, 49407) by code."""
    return FAMILY.codes()


def guidance_pairs() -> Mapping[tuple[str, str], GuidancePair]:
    """(drainage code, guidance code) → the pair, for imaging guidance included in a drainage code."""
    return FAMILY.guidance_pairs()


def modifier_uses() -> Mapping[str, ModifierUse]:
    """Modifiers for a further same-day line of one drainage code, in table order."""
    return FAMILY.keyed("modifiers.csv", ModifierUse, lambda r: r.code, lambda k: f"modifier {k}")


@cache
def modifiers_for(use: str, provider: str | None = None) -> tuple[str, ...]:
    """Modifier codes for ``use`` (and, for a repeat, by the ``same`` or ``other`` provider) in table
    order (the preferred one first)."""
    return tuple(
        m.code
        for m in modifier_uses().values()
        if m.use == use and (provider is None or m.provider == provider)
    )


# ---------------------------------------------------------------- lines
def drainage_code(line: ServiceLine) -> DrainageCode | None:
    return FAMILY.code(line)


def drainage_lines(sub: Submission, *types: str) -> list[ServiceLine]:
    """Lines billed/ordered/documented with a drainage code (of the given resource types, or all)."""
    return FAMILY.lines(sub, *types)


# ---------------------------------------------------------------- site and approach
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


def site_decision(ctx: RuleContext, line: ServiceLine, dc: DrainageCode) -> SiteDecision | None:
    """The decision of DRN004 (the template's ``decide``)."""
    return decided_code(ctx.submission, ctx.tx, line, dc)


def site_rules_other_code(ctx: RuleContext, line: ServiceLine, dc: DrainageCode) -> bool:
    """True when the documented site calls for another code than the line's (DRN004 says so)."""
    if line.code is None:
        return False
    decision = decided_code(ctx.submission, ctx.tx, line, dc)
    return decision is not None and line.cpt not in decision.expected


def decide_code(tx: Terminology, line: ServiceLine, dc: DrainageCode) -> SiteDecision | None:
    """The CPT code(s) the documented site and approach call for; None when they decide nothing.

    Sites are mapped to classes; with no mapped site but a documented approach, the class the billed
    code implies is used. A ConceptMap target counts only when its ``dependsOn`` facts are exactly the
    documented ones (no approach documented → the targets without conditions).
    """
    classes: list[tuple[Translation, Coded]] = []
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
    expected, used = targets(tx, CODE_MAP, SITE_CLASS_SYSTEM, items, facts)
    used += [t for t, _ in routes]
    sites = [f"{c.display or 'SNOMED ' + c.code} ({(t.display or t.code).lower()})" for t, c in classes]
    sites += [f"{c.display or 'SNOMED ' + c.code} (route {t.code})" for t, c in routes]
    approach = ""
    if facts:
        approach = "approach " + facts["approach"] + (f" {facts['route']}" if "route" in facts else "")
    return decision(
        expected,
        used,
        "site " + ", ".join(dict.fromkeys(sites)) if sites else "",
        approach,
        f"the scope of {dc.code}: {dc.region}",
        [c.path for _, c in classes] + [c.path for _, c in routes],
    )
