"""Template: a family code that does not fit the documented site and approach (or diagnosis).

Parameterised by the family's decision (``decide``: the code(s) its ConceptMaps call for, from the
line's documentation) and the wording of the diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext
from fhirplugin.rules.common import code_label, is_unverified, join_or
from fhirplugin.rules.templates.family import Family
from fhirplugin.systems import CPT

if TYPE_CHECKING:
    from fhirplugin.tx.fhirterm import Translation
    from fhirplugin.tx.store import Terminology


@dataclass(slots=True)
class SiteDecision:
    """What the documented site (or diagnosis) and approach call for."""

    expected: dict[str, Translation]  # CPT code -> ConceptMap target
    basis: str  # words: what was documented
    unverified: bool
    evidence: list[str]  # FHIRPaths of the sites / diagnoses used


def targets(
    tx: Terminology,
    concept_map: str,
    system: str,
    items: Iterable[tuple[str, Translation | None]],
    facts: dict[str, str],
) -> tuple[dict[str, Translation], list[Translation]]:
    """The CPT codes ``concept_map`` gives each ``(value, origin)`` of ``system`` (a site class or
    region, and the translation it came from), counting a target only when its ``dependsOn`` facts are
    exactly the documented ``facts``; and every translation used (origins with a target, and targets),
    whose comments say whether the decision is verified."""
    expected: dict[str, Translation] = {}
    used: list[Translation] = []
    for value, origin in items:
        found = [
            t
            for t in tx.conceptmaps.translate(concept_map, system, value, facts)
            if len(t.depends_on) == len(facts)
        ]
        if found and origin is not None:
            used.append(origin)
        for t in found:
            expected.setdefault(t.code, t)
            used.append(t)
    return expected, used


def decision(
    expected: dict[str, Translation],
    used: list[Translation],
    what: str,
    approach: str,
    scope: str,
    evidence: list[str],
) -> SiteDecision | None:
    """The decision from :func:`targets`: ``what`` was documented (empty: no site, so the billed code's
    ``scope`` was judged on the ``approach`` alone); None when no code was found."""
    if not expected:
        return None
    if what:
        basis = what + (f" and {approach}" if approach else "")
    else:
        basis = f"{approach} (no site documented; judged within {scope})"
    return SiteDecision(expected, basis, any(is_unverified(t.comment) for t in used), evidence)


# (rule context, line, the line's family row) -> the decision, None when the documentation decides nothing
Decide = Callable[..., "SiteDecision | None"]


class SiteDecidesCode(Rule):
    """Template (not registered): a family declares ``data``, ``decide`` and ``diagnostics``."""

    data: ClassVar[Family]
    decide: ClassVar[Decide]
    severity = Severity.ERROR
    issue_type = "code-invalid"
    needs = frozenset({"Procedure"})
    # fields: code, reasons (the ConceptMap comments), where (the evidence paths), source (the row's)
    diagnostics: ClassVar[str]

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls.triggers = staticmethod(cls.data.codes)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        decide = type(self).decide
        for line in self.data.lines(ctx.submission):
            row = self.data.code(line)
            code = line.cpt
            if row is None or code is None or line.code is None:
                continue
            decision = decide(ctx, line, row)
            if decision is None or code in decision.expected:
                continue
            expected = list(decision.expected)
            fix = None
            if len(expected) == 1:
                fix = {
                    "action": "replace-code",
                    "path": line.code.path,
                    "from": code,
                    "to": expected[0],
                    "system": CPT,
                }
            reasons = "; ".join(
                dict.fromkeys(f"{c}: {t.comment}" for c, t in decision.expected.items() if t.comment)
            )
            where = ", ".join(decision.evidence) or "approach extension only"
            yield self.finding(
                f"{code} does not fit the documented {decision.basis}: report "
                f"{join_or(code_label(ctx.tx, c) for c in expected)} instead.",
                line.code.path,
                diagnostics=self.diagnostics.format(
                    code=code, reasons=reasons, where=where, source=row.source
                ),
                fix=fix,
                unverified=decision.unverified,
            )
