from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.common import join_or, sessions
from fhirplugin.rules.drainage.data import (
    GuidancePair,
    guidance_pairs,
    guidance_primaries,
    guidance_secondaries,
)
from fhirplugin.tx.ncci import PtpEdit

# which kinds of line a guidance line is compared with: a bill with bills and the procedures they
# document, an order with orders
_PARTNERS = {"Claim": ("Claim", "Procedure"), "ServiceRequest": ("ServiceRequest",)}


def _edit_words(edit: PtpEdit | None, drainage: str, guidance: str) -> str:
    if edit is None:
        return f"The loaded NCCI PTP table has no row for {drainage}/{guidance}."
    origin = (
        "" if edit.verified else " (built-in row inferred from the CPT instruction, not read from a CMS file)"
    )
    deleted = f", deleted {edit.deletion.isoformat()}" if edit.deletion else ""
    return (
        f"NCCI PTP {edit.column1}/{edit.column2}: effective {edit.effective.isoformat()}{deleted}, modifier "
        f"indicator {edit.modifier_indicator}, {edit.rationale or 'no rationale'}; source {edit.source}{origin}."
    )


@register
class GuidanceIncluded(Rule):
    """Imaging guidance billed or ordered with an image-guided drainage code that already includes it.

    What it checks:
        A line coded 75989, 76942, 77002, 77003, 77012 or 77021 for the same patient, provider and date
        as a line coded 10030, 49405, 49406 or 49407 (claim lines with claim lines and the Procedures
        they document; orders with orders). The pairs come from ``terminology/drainage/guidance-included.csv``.
        On another date there is no finding. When the loaded NCCI PTP table has the pair with modifier
        indicator 1 and the guidance line carries an NCCI PTP-associated modifier (59, XS, ...), the
        finding drops to a warning that asks for the documentation.
    Why:
        Since CPT 2014 the catheter drainage codes include the imaging guidance (the old separate
        supervision-and-interpretation pairing was retired); guidance billed beside them is unbundling
        and is denied.
    Example:
        ``49407`` and ``76942`` on one claim, same date of service; an order for ``49406`` and an order for
        ``77012`` signed the same day.
    Fix:
        Remove the guidance line (or the guidance order). Keep it only if the guidance served another,
        separately reportable procedure, add the fitting modifier and document it.
    Source:
        CPT guidance for image-guided fluid collection drainage by catheter (10030, 49405-49407:
        imaging guidance included, 75989, 76942, 77002, 77003, 77012 and 77021 not reported with them);
        CMS NCCI PTP edits and their modifier indicators (NCCI Policy Manual, chapter I).
    """

    id = "DRN001"
    name = "drainage.guidance-included"
    family = "drainage"
    triggers = staticmethod(guidance_primaries)
    restates_ptp = staticmethod(lambda: guidance_pairs().keys())
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        pairs = guidance_pairs()
        guidance_codes = guidance_secondaries()
        lines = ctx.submission.lines()
        for line in lines:
            code = line.cpt
            if code not in guidance_codes or line.resource_type not in _PARTNERS:
                continue
            kinds = _PARTNERS[line.resource_type]
            partners: list[tuple[ServiceLine, GuidancePair]] = []
            # the session's lines by code (rules/common.sessions): one look-up per code, not per line
            for other, pair in sessions(ctx.submission).paired(line, pairs, kinds):
                if all(p.primary != pair.primary for _, p in partners):
                    partners.append((other, pair))
            if partners:
                yield self._finding(ctx, line, partners)

    def _finding(self, ctx: RuleContext, line: ServiceLine, partners: list[tuple[ServiceLine, GuidancePair]]):
        code = line.cpt or ""
        drains = [p.primary for _, p in partners]
        edits = [ctx.tx.ptp.lookup(p.primary, code, line.date) for _, p in partners]
        bypass = [m.code for m in line.modifiers]
        allowed = all(e is not None and e.modifier_indicator == "1" and e.bypassed_by(bypass) for e in edits)
        what = "order" if line.resource_type == "ServiceRequest" else "line"
        drains_words = join_or(drains, "and")
        noun = "drainage code" if len(drains) == 1 else "drainage codes"
        sources = "; ".join(f"{p.primary}/{p.guidance}: {p.source}" for _, p in partners)
        diagnostics = (
            f"CPT instruction: {drains_words} {'includes' if len(drains) == 1 else 'include'} the imaging "
            f"guidance; {code} is not reported with {'it' if len(drains) == 1 else 'them'} ({sources}). "
            + " ".join(_edit_words(e, d, code) for e, d in zip(edits, drains, strict=True))
        )
        fix = {"action": "delete-line", "path": line.path}
        where = "ordered" if what == "order" else "reported"
        if allowed:
            mods = ", ".join(m for m in bypass if m)
            return self.finding(
                f"Imaging guidance {code} carries modifier {mods} beside {drains_words} {where} for the same "
                f"patient and date: keep it only if the record shows the guidance was for a different "
                f"procedure than the drainage, otherwise remove the {what}.",
                line.code.path if line.code else line.code_path,
                diagnostics=diagnostics,
                severity=Severity.WARNING,
                fix=fix,
                unverified=any(not e.verified for e in edits if e is not None),
            )
        return self.finding(
            f"Imaging guidance {code} is included in {noun} {drains_words} {where} for the same "
            f"patient, provider and date; remove the {code} {what}.",
            line.code.path if line.code else line.code_path,
            diagnostics=diagnostics,
            fix=fix,
            unverified=any(not p.verified for _, p in partners),
        )
