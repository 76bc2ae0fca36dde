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
    line_label,
    sessions,
    units_words,
    upper_first,
)
from fhirplugin.tx.ncci import MueEntry

_MAI_WORDS = {
    1: "per claim line (MAI 1): units above it on one line are denied; medically necessary extra units go on "
    "another line with the modifier that fits (76, 77, 91 or an anatomic modifier)",
    2: "per date of service, a policy limit (MAI 2): units above it are not paid, and no modifier or appeal "
    "changes that",
    3: "per date of service, a clinical limit (MAI 3): units above it are denied; an appeal with records that "
    "show the extra units were medically necessary can succeed",
}


def _where(line: ServiceLine) -> str:
    return line.units.path or code_path(line)


def _diagnostics(entry: MueEntry, counted: str) -> str:
    citation = entry.citation
    origin = "" if entry.verified else " The value is the built-in excerpt's, not read from a CMS file."
    return (
        f"{citation}: {entry.code} MUE {entry.value}, adjudication indicator {entry.mai_text}; rationale: "
        f"{entry.rationale or 'not given'}. Counted: {counted}. Payers usually deny the line(s) with CARC 151 "
        f"(the number of services is more than the payer allows).{origin}"
    )


@register
class NcciMue(CmsEdit):
    """More units of a code than the NCCI medically unlikely edit (MUE) allows.

    What it checks:
        Every claim line (and order with a quantity) whose code has an MUE in the loaded table (practitioner
        or outpatient hospital, by claim type). MUE adjudication indicator (MAI) 1: the units of each line
        alone. MAI 2 and 3: the units of every line of the code for the same patient, provider and date of
        service added up, across all the claims of one submission. More than the MUE value: an error on
        bills, a warning on orders. MAI 2 is a policy limit no modifier or appeal lifts; MAI 3 is a clinical
        benchmark that an appeal with documentation can overcome; the text says which. Codes a family rule
        judges in its own words (one unit per session for device placement) are left to that rule while it
        is enabled.
    Why:
        Medicare and most payers deny units above the MUE (the whole line for MAI 1, every line of the code
        for the date for MAI 2 and 3) without review; over-reported units are also a common audit finding.
    Example:
        ``99213`` with 3 units on one date (MUE 2, MAI 3); ``49406`` with 5 units (MUE 2); two ``49407`` lines
        on one date (MUE 1, MAI 3).
    Fix:
        Report the units the record supports, at most the MUE; for a line edit (MAI 1), put medically
        necessary extra units on another line with 76, 77, 91 or an anatomic modifier; for MAI 3, keep the
        units only with records that show the medical necessity and expect to appeal.
    Source:
        CMS National Correct Coding Initiative, medically unlikely edit tables (practitioner, outpatient
        hospital, DME supplier), quarterly releases; NCCI Policy Manual for Medicare Services, chapter I.
    """

    id = "MUE001"
    name = "cms.ncci-mue"
    family = "cms"
    restates = "restates_mue"
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for session in sessions(ctx.submission, default_setting(ctx.tx)):
            table = ctx.tx.mue_for(session.setting)
            by_code: dict[str, list[ServiceLine]] = {}
            for line in session.lines:
                if line.cpt is not None and line.cpt not in self.restated:
                    by_code.setdefault(line.cpt, []).append(line)
            for code, lines in by_code.items():
                entry = table.get(code, session.date)
                if entry is not None:
                    yield from self._judge(session, entry, lines)

    def _judge(self, session: Session, entry: MueEntry, lines: list[ServiceLine]) -> Iterator[Finding]:
        order = session.kind == "order"
        severity = Severity.WARNING if order else None
        limit = _MAI_WORDS.get(entry.mai, f"MAI {entry.mai}")
        if entry.mai == 1:
            for line in lines:
                n = line.unit_count
                if n > entry.value:
                    yield self.finding(
                        f"{upper_first(line_label(line))} {'orders' if order else 'reports'} {units_words(n)}; "
                        f"the Medicare limit for {entry.code} is {units_words(entry.value)} {limit}.",
                        _where(line),
                        diagnostics=_diagnostics(entry, f"{units_words(n)} on this line"),
                        severity=severity,
                        fix=_set_units(line, entry.value),
                        unverified=not entry.verified,
                    )
            return
        total = sum(line.unit_count for line in lines)
        if total <= entry.value:
            return
        if len(lines) == 1:
            what = (
                f"{upper_first(line_label(lines[0]))} {'orders' if order else 'reports'} {units_words(total)}"
            )
            fix = _set_units(lines[0], entry.value)
        else:
            labels = ", ".join(line_label(ln) for ln in lines)
            what = (
                f"{len(lines)} {'orders' if order else 'lines'} of {entry.code} for the same patient, provider "
                f"and date add up to {units_words(total)} ({labels})"
            )
            fix = None
        yield self.finding(
            f"{what}; the Medicare limit for {entry.code} is {units_words(entry.value)} {limit}.",
            [_where(line) for line in lines],
            diagnostics=_diagnostics(
                entry,
                f"{units_words(total)} on {len(lines)} line(s) for "
                f"{session.date.isoformat() if session.date else 'one resource without a date'}",
            ),
            severity=severity,
            fix=fix,
            unverified=not entry.verified,
        )


def _set_units(line: ServiceLine, value: int) -> dict | None:
    if line.units.path is None or value < 1:
        return None
    return {"action": "set-units", "path": line.units.path.removesuffix(".value"), "value": value}
