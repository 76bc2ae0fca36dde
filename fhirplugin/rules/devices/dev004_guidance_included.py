from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.common import join_or, sessions
from fhirplugin.rules.devices.data import (
    GuidancePair,
    guidance_pairs,
    guidance_primaries,
    guidance_secondaries,
)
from fhirplugin.tx.ncci import PtpEdit

# a guidance bill is compared with bills and the Procedures they document, an order with orders
_PARTNERS = {"Claim": ("Claim", "Procedure"), "ServiceRequest": ("ServiceRequest",)}


def _edit_words(edit: PtpEdit | None, primary: str, guidance: str) -> str:
    if edit is None:
        return f"The loaded NCCI PTP table has no row for {primary}/{guidance}."
    deleted = f", deleted {edit.deletion.isoformat()}" if edit.deletion else ""
    origin = "" if edit.verified else " (not read from a CMS file)"
    return (
        f"NCCI PTP {edit.column1}/{edit.column2}: effective {edit.effective.isoformat()}{deleted}, modifier "
        f"indicator {edit.modifier_indicator}, {edit.rationale or 'no rationale'}; source {edit.source}{origin}."
    )


@register
class GuidanceIncluded(Rule):
    """Imaging guidance billed or ordered with open device placement (49412), which includes it.

    What it checks:
        A line coded 76942, 77002, 77012 or 77021 for the same patient, provider and date as a 49412
        line (claim lines with claim lines and the Procedures they document; orders with orders). The
        pairs come from ``terminology/devices/guidance-included.csv``. Guidance beside 49411 gets no
        finding: it is reported separately with the percutaneous code, so 49411 is not in that table. On
        another date there is no finding. When the loaded NCCI PTP table has the pair with modifier
        indicator 1 and the guidance line carries an NCCI PTP-associated modifier, the finding drops to a
        warning that asks for the documentation.
    Why:
        The 49412 descriptor includes imaging guidance when it is performed; guidance billed beside it is
        unbundling and is denied. With 49411 the guidance is a separate service and is paid.
    Example:
        ``49412`` and ``76942`` on one claim for one date (error on the 76942 line); ``49411`` and
        ``77012`` (no finding).
    Fix:
        Remove the guidance line or order (fix ``delete-line``). Keep it only if the guidance served another,
        separately reportable procedure; then add the fitting modifier and document it.
    Source:
        CPT code descriptor of 49412 (imaging guidance included); CPT guidance that imaging guidance
        is reported separately with 49411 (from memory, unverified); CMS NCCI PTP edits and their modifier
        indicators (NCCI Policy Manual, chapter I).
    """

    id = "DEV004"
    name = "devices.guidance-included"
    family = "devices"
    triggers = staticmethod(guidance_primaries)
    restates_ptp = staticmethod(lambda: guidance_pairs().keys())
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        pairs = guidance_pairs()
        guidance_codes = guidance_secondaries()
        for line in ctx.submission.lines():
            code = line.cpt
            if code not in guidance_codes or line.resource_type not in _PARTNERS:
                continue
            found: list[tuple[ServiceLine, GuidancePair]] = []
            # the session's lines by code (rules/common.sessions): one look-up per code, not per line
            for other, pair in sessions(ctx.submission).paired(line, pairs, _PARTNERS[line.resource_type]):
                if all(p.primary != pair.primary for _, p in found):
                    found.append((other, pair))
            if found:
                yield self._finding(ctx, line, found)

    def _finding(self, ctx: RuleContext, line: ServiceLine, found: list[tuple[ServiceLine, GuidancePair]]):
        code = line.cpt or ""
        primaries = [p.primary for _, p in found]
        edits = [ctx.tx.ptp.lookup(p, code, line.date) for p in primaries]
        mods = [m.code for m in line.modifiers]
        bypassed = all(e is not None and e.modifier_indicator == "1" and e.bypassed_by(mods) for e in edits)
        what = "order" if line.resource_type == "ServiceRequest" else "line"
        where = "ordered" if what == "order" else "reported"
        words = join_or(primaries, "and")
        sources = "; ".join(f"{p.primary}/{p.guidance}: {p.note} ({p.source})" for _, p in found)
        diagnostics = (
            f"{sources}. Imaging guidance with 49411 is reported separately and is not flagged. "
            + " ".join(_edit_words(e, p, code) for e, p in zip(edits, primaries, strict=True))
        )
        fix = {"action": "delete-line", "path": line.path}
        expression = line.code.path if line.code else line.code_path
        if bypassed:
            return self.finding(
                f"Imaging guidance {code} carries modifier {', '.join(m for m in mods if m)} beside {words} "
                f"{where} for the same patient and date: keep it only if the record shows the guidance served "
                f"another procedure, otherwise remove the {what}.",
                expression,
                diagnostics=diagnostics,
                severity=Severity.WARNING,
                fix=fix,
                unverified=any(not e.verified for e in edits if e is not None),
            )
        return self.finding(
            f"Imaging guidance {code} is included in open device placement {words} {where} for the same "
            f"patient, provider and date; remove the {code} {what}.",
            expression,
            diagnostics=diagnostics,
            fix=fix,
            unverified=any(not p.verified for _, p in found),
        )
