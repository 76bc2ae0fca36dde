from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import RuleContext, register
from fhirplugin.rules.cms.session import (
    CmsEdit,
    Session,
    code_path,
    default_setting,
    is_em,
    line_label,
    mods,
    sessions,
    upper_first,
)
from fhirplugin.tx.ncci import (
    ANATOMIC_MODIFIERS,
    DISTINCT_MODIFIERS,
    PtpEdit,
)

_INDICATOR_WORDS = {
    "0": "0, no modifier allows the pair",
    "1": "1, an NCCI PTP-associated modifier allows the pair when the record supports it",
}
# modifiers that say an E/M visit was a separate service (on the E/M line)
_EM_MODIFIERS = frozenset({"24", "25", "57"})
# modifiers that say a procedure was in another (postoperative) context
_POSTOP_MODIFIERS = frozenset({"58", "78", "79"})
_OTHER_BYPASS = DISTINCT_MODIFIERS | frozenset({"27", "91"})


def bypass_modifiers(edit: PtpEdit, col1: ServiceLine, col2: ServiceLine) -> list[str]:
    """The NCCI PTP-associated modifiers on the pair that, used as NCCI intends, bypass an indicator-1
    edit: 59/X{EPSU}/27/91 on either line; 24/25/57 on the line of an E/M code; 58/78/79 on either line;
    anatomic modifiers only when the two lines name different sites (RT and LT, F1 and F2)."""
    found: list[str] = []
    m1, m2 = mods(col1), mods(col2)
    for line, own in ((col2, m2), (col1, m1)):
        found += sorted(own & _OTHER_BYPASS)
        found += sorted(own & _POSTOP_MODIFIERS)
        if is_em(line.cpt or ""):
            found += sorted(own & _EM_MODIFIERS)
    a1, a2 = m1 & ANATOMIC_MODIFIERS, m2 & ANATOMIC_MODIFIERS
    if a1 and a2 and a1 != a2:
        found += sorted(a2 - a1) or sorted(a1 - a2)
    return list(dict.fromkeys(found))


def diagnostics(edit: PtpEdit) -> str:
    ind = _INDICATOR_WORDS.get(edit.modifier_indicator, edit.modifier_indicator)
    citation = edit.citation
    deleted = f", deleted {edit.deletion.isoformat()}" if edit.deletion else ""
    origin = "" if edit.verified else " The row is the built-in excerpt's, not read from a CMS file."
    return (
        f"{citation}: column 1 {edit.column1}, column 2 {edit.column2}, modifier indicator {ind}; "
        f"rationale: {edit.rationale or 'not given'}; in force from {edit.effective.isoformat()}{deleted}. "
        f"Payers usually deny the column 2 line with CARC 97 (paid as part of another service) or 236 (not "
        f"compatible with another procedure the same day under NCCI).{origin}"
    )


@register
class NcciPtp(CmsEdit):
    """Two codes that NCCI does not pay together for one patient, provider and date of service.

    What it checks:
        Every pair of lines in one session (same patient, same provider, same date of service; claim
        lines with claim lines, orders with orders) whose codes form an active NCCI procedure-to-procedure
        (PTP) edit in the loaded table for that date: the practitioner table for professional claims, the
        outpatient hospital table for institutional claims. Modifier indicator 0: error on the column 2
        line, no modifier helps. Indicator 1: error unless one of the lines carries an NCCI PTP-associated
        modifier used as NCCI intends (59, XE, XS, XP, XU, 27, 91 on either line; 24, 25 or 57 on the E/M
        line; 58, 78, 79; anatomic modifiers naming different sites on the two lines); with one, a warning
        asking for the documentation. Indicator 9 and edits deleted before the date of service: no finding.
        Pairs a family rule explains in its own words (for example imaging guidance included in a
        drainage code) are left to that rule while it is enabled.
    Why:
        Medicare and most payers run the NCCI PTP edits on every claim: the column 2 code is denied when
        both are reported for one patient by one provider on one date, unless a modifier shows a separate
        service that the record supports.
    Example:
        ``20610`` (arthrocentesis, major joint) and ``76942`` (ultrasound guidance) on one claim for the same
        date without a modifier (indicator 1: error); ``55876`` with ``49411`` (indicator 0: error whatever the
        modifiers).
    Fix:
        Remove the column 2 line. Keep it only when it was a separate service (another site, another session
        or encounter, another structure) that the record documents; then append the modifier that says so
        (XS for a separate site or organ, XE for a separate encounter, XP for another practitioner, XU for an
        unusual non-overlapping service, 59 when no X modifier fits; 25 on a separately identifiable E/M
        visit).
    Source:
        CMS National Correct Coding Initiative, procedure-to-procedure edit tables (practitioner and
        outpatient hospital), quarterly releases; NCCI Policy Manual for Medicare Services, chapter I
        (modifiers and modifier indicators).
    """

    id = "PTP001"
    name = "cms.ncci-ptp"
    family = "cms"
    restates = "restates_ptp"
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for session in sessions(ctx.submission, default_setting(ctx.tx)):
            if len(session.lines) < 2:
                continue
            codes = session.codes()
            if len(codes) < 2:
                continue
            edits = ctx.tx.ptp_for(session.setting).among(codes, session.date)
            for edit in edits:
                if edit.modifier_indicator == "9" or (edit.column1, edit.column2) in self.restated:
                    continue
                yield from self._pair(session, edit)

    def _pair(self, session: Session, edit: PtpEdit) -> Iterator[Finding]:
        firsts = [ln for ln in session.lines if ln.cpt == edit.column1]
        # column 1 lines by their modifiers, first occurrence first: every line of a group gives the same
        # bypass answer (it depends on the modifiers and the code), so one call per group, not per line
        groups: dict[frozenset[str], list[ServiceLine]] = {}
        for ln in firsts:
            groups.setdefault(frozenset(mods(ln)), []).append(ln)
        for col2 in (ln for ln in session.lines if ln.cpt == edit.column2):
            col1 = next((ln for ln in firsts[:2] if ln is not col2), None)
            if col1 is None:
                continue
            bypass: list[str] = []
            if edit.modifier_indicator == "1":
                # the pair is bypassed if any column 1 line pairs with this one by a modifier
                for members in groups.values():
                    cand = next((ln for ln in members[:2] if ln is not col2), None)
                    if cand is None:
                        continue
                    found = bypass_modifiers(edit, cand, col2)
                    if found:
                        col1, bypass = cand, found
                        break
            yield self._finding(session, edit, col1, col2, bypass)

    def _finding(
        self, session: Session, edit: PtpEdit, col1: ServiceLine, col2: ServiceLine, bypass: list[str]
    ) -> Finding:
        order = session.kind == "order"
        second, first = line_label(col2), line_label(col1)
        where = "ordered" if order else "reported"
        what = "order" if order else "line"
        diag = diagnostics(edit)
        fix = {"action": "delete-line", "path": col2.path}
        exprs = [code_path(col2), code_path(col1)]
        if bypass:
            return self.finding(
                f"{upper_first(second)} and {first} are {where} for the same patient, provider and date, a pair "
                f"NCCI pays together only for separate services; modifier {', '.join(bypass)} says this one "
                f"was: keep it only if the record documents the separate site, session or service, otherwise "
                f"remove the {edit.column2} {what}.",
                exprs,
                diagnostics=diag,
                severity=Severity.WARNING,
                fix=fix,
                unverified=not edit.verified,
            )
        if edit.modifier_indicator == "0":
            advice = f"remove the {edit.column2} {what}; no modifier allows the pair."
        else:
            hint = (
                "append 25 to the visit if it was significant and separately identifiable"
                if is_em(edit.column2) or is_em(edit.column1)
                else "append XS, XE, XP or XU (or 59) if it was a separate service the record documents"
            )
            advice = f"remove the {edit.column2} {what}, or {hint}."
        return self.finding(
            f"NCCI does not pay {edit.column2} with {edit.column1} for the same patient, provider and date: "
            f"{second} is {where} beside {first}; {advice}",
            exprs,
            diagnostics=diag,
            fix=fix,
            unverified=not edit.verified,
        )
