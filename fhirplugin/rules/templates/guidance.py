"""Template: imaging guidance billed or ordered beside a family code that already includes it.

Parameterised by the family's ``guidance-included.csv`` (:meth:`Family.guidance_pairs`) and its
wording. Rests on the CMS NCCI PTP tables: the loaded row for the pair says whether a modifier may
bypass it (indicator 1 only), and the pairs are named in ``restates_ptp`` so PTP001 does not say the
same thing twice while the family rule is enabled.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import ClassVar

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext
from fhirplugin.rules.common import join_or, sessions
from fhirplugin.rules.templates.family import Family, GuidancePair
from fhirplugin.tx.ncci import PtpEdit

# which kinds of line a guidance line is compared with: a bill with bills and the procedures they
# document, an order with orders
PARTNERS = {"Claim": ("Claim", "Procedure"), "ServiceRequest": ("ServiceRequest",)}


def edit_words(edit: PtpEdit | None, primary: str, guidance: str, inferred: str) -> str:
    """The loaded PTP row of the pair in words (``inferred`` follows a built-in, unverified row)."""
    if edit is None:
        return f"The loaded NCCI PTP table has no row for {primary}/{guidance}."
    origin = "" if edit.verified else inferred
    deleted = f", deleted {edit.deletion.isoformat()}" if edit.deletion else ""
    return (
        f"NCCI PTP {edit.column1}/{edit.column2}: effective {edit.effective.isoformat()}{deleted}, modifier "
        f"indicator {edit.modifier_indicator}, {edit.rationale or 'no rationale'}; source {edit.source}{origin}."
    )


class GuidanceIncluded(Rule):
    """Template (not registered): a family declares ``data`` and the wording below."""

    data: ClassVar[Family]
    severity = Severity.ERROR
    issue_type = "business-rule"
    # wording; fields: code (the guidance code), primaries ("49406 and 10030"), where (reported |
    # ordered), what (line | order), mods, noun (noun_one / noun_many), includes, it, sources, edits
    included: ClassVar[str]
    bypassed: ClassVar[str]
    noun_one: ClassVar[str] = ""
    noun_many: ClassVar[str] = ""
    diagnostics: ClassVar[str]
    pair_source: ClassVar[str] = "{primary}/{guidance}: {source}"  # one pair, in {sources}
    inferred: ClassVar[str] = " (not read from a CMS file)"

    @classmethod
    def pairs(cls) -> Mapping[tuple[str, str], GuidancePair]:
        return cls.data.guidance_pairs()

    @classmethod
    def primaries(cls) -> frozenset[str]:
        """The family codes of the guidance pairs (what the rule is about: its triggers)."""
        return frozenset(p for p, _ in cls.pairs())

    @classmethod
    def restated(cls) -> Iterable[tuple[str, str]]:
        return cls.pairs().keys()

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls.triggers = staticmethod(cls.primaries)
        cls.restates_ptp = staticmethod(cls.restated)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        pairs = self.pairs()
        guidance_codes = frozenset(g for _, g in pairs)
        for line in ctx.submission.lines():
            code = line.cpt
            if code not in guidance_codes or line.resource_type not in PARTNERS:
                continue
            found: list[tuple[ServiceLine, GuidancePair]] = []
            # the session's lines by code (rules/common.sessions): one look-up per code, not per line
            for other, pair in sessions(ctx.submission).paired(line, pairs, PARTNERS[line.resource_type]):
                if all(p.primary != pair.primary for _, p in found):
                    found.append((other, pair))
            if found:
                yield self._finding(ctx, line, found)

    def _finding(
        self, ctx: RuleContext, line: ServiceLine, found: list[tuple[ServiceLine, GuidancePair]]
    ) -> Finding:
        code = line.cpt or ""
        primaries = [p.primary for _, p in found]
        edits = [ctx.tx.ptp.lookup(p, code, line.date) for p in primaries]
        mods = [m.code for m in line.modifiers if m.code]
        # a modifier lowers the finding only where every loaded row allows one (indicator 1): an
        # indicator 0 row is never bypassed, and 9 (not applicable) leaves the CPT instruction standing
        bypassed = bool(mods) and all(
            e is not None and e.modifier_indicator == "1" and e.bypassed_by(mods) for e in edits
        )
        what = "order" if line.resource_type == "ServiceRequest" else "line"
        one = len(primaries) == 1
        words = {
            "code": code,
            "primaries": join_or(primaries, "and"),
            "where": "ordered" if what == "order" else "reported",
            "what": what,
            "mods": ", ".join(mods),
            "noun": self.noun_one if one else self.noun_many,
            "includes": "includes" if one else "include",
            "it": "it" if one else "them",
            "sources": "; ".join(
                self.pair_source.format(primary=p.primary, guidance=p.guidance, source=p.source, note=p.note)
                for _, p in found
            ),
            "edits": " ".join(
                edit_words(e, p, code, self.inferred) for e, p in zip(edits, primaries, strict=True)
            ),
        }
        fix = {"action": "delete-line", "path": line.path}
        expression = line.code.path if line.code else line.code_path
        if bypassed:
            return self.finding(
                self.bypassed.format(**words),
                expression,
                diagnostics=self.diagnostics.format(**words),
                severity=Severity.WARNING,
                fix=fix,
                unverified=any(not e.verified for e in edits if e is not None),
            )
        return self.finding(
            self.included.format(**words),
            expression,
            diagnostics=self.diagnostics.format(**words),
            fix=fix,
            unverified=any(not p.verified for _, p in found),
        )
