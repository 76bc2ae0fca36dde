from __future__ import annotations

from collections import Counter
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
    upper_first,
)
from fhirplugin.rules.common import join_or

_SHOWN = 8  # primaries named in the text; the rest are counted


def _listed(primaries: frozenset[str]) -> str:
    codes = sorted(primaries)
    if len(codes) <= _SHOWN:
        return join_or(codes)
    return ", ".join(codes[:_SHOWN]) + f" or one of {len(codes) - _SHOWN} more"


def _diagnostics(edit) -> str:
    citation = edit.citation
    kinds = {
        1: "type 1: CMS lists every eligible primary code",
        2: "type 2: CMS lists no primary codes; the Medicare contractor decides which are eligible",
        3: "type 3: CMS lists some eligible primary codes; the contractor may accept others",
    }
    listed = f" Listed primaries: {len(edit.primaries)}." if edit.primaries else ""
    origin = "" if edit.verified else " The row is the built-in excerpt's, not read from a CMS file."
    return (
        f"{citation}: add-on code {edit.add_on}, edit {kinds.get(edit.edit_type, edit.edit_type)}.{listed} "
        f"Payers usually deny an add-on code without its primary with CARC 107 (the related or qualifying "
        f"service was not paid or identified on the claim).{origin}"
    )


@register
class AddOnNeedsPrimary(CmsEdit):
    """An add-on code without one of its primary procedures for the same patient, provider and date.

    What it checks:
        Every line (claim line or order) whose code is an add-on code in the loaded NCCI add-on code edit
        table, against the other lines of its session (same patient, provider and date of service; bills
        with bills, orders with orders). Type 1 (CMS lists every primary): an error unless one of the
        listed primaries is there. Type 3 (CMS lists some): a warning naming the listed ones when none is
        there but another procedure is. Type 2 (the Medicare contractor defines the primaries): no finding
        while another procedure is there. Any type with no other procedure at all in the session: an error.
        On orders every finding is a warning (the primary may be ordered apart).
    Why:
        An add-on code describes work done in addition to a primary procedure and is never paid alone;
        Medicare denies it when none of its eligible primaries is reported by the same practitioner for
        the same patient and date.
    Example:
        ``77002`` (fluoroscopic guidance) on a claim whose only other line is ``99213`` (type 1: error);
        ``49412`` alone on a claim (type 2, nothing else: error).
    Fix:
        Report the primary procedure the add-on was done with (same date, same provider), or remove the
        add-on line if no such procedure was done.
    Source:
        CMS National Correct Coding Initiative, add-on code edit tables (types 1, 2 and 3), quarterly
        releases; CPT add-on code conventions; NCCI Policy Manual for Medicare Services, chapter I.
    """

    id = "AOC001"
    name = "cms.add-on-primary"
    family = "cms"
    restates = "restates_aoc"
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        aoc = ctx.tx.aoc
        for session in sessions(ctx.submission, default_setting(ctx.tx)):
            counts: dict[str, int] | None = None  # the session's codes in order, with their line counts
            for line in session.lines:
                if line.cpt in self.restated:
                    continue
                edit = aoc.get(line.cpt or "", session.date)
                if edit is not None:
                    if counts is None:
                        counts = dict(Counter(o.cpt or "" for o in session.lines))
                    yield from self._judge(ctx, session, line, edit, counts)

    def _judge(
        self, ctx: RuleContext, session: Session, line: ServiceLine, edit, counts: dict[str, int]
    ) -> Iterator[Finding]:
        aoc = ctx.tx.aoc
        # the other lines' codes (lines of the add-on's own code do not count), by code: flat per line
        others = [c for c in counts if c != (line.cpt or "")]
        codes = {c for c in others if c}
        if edit.primaries & codes:
            return
        procedures = [c for c in others if not aoc.is_add_on(c, session.date)]
        order = session.kind == "order"
        label = line_label(line)
        where = "for this patient, provider and date" if not order else "for this patient and date"
        fix = {"action": "delete-line", "path": line.path}
        if not procedures:
            yield self.finding(
                f"{upper_first(label)} is an add-on code, and no primary procedure is "
                f"{'ordered' if order else 'reported'} {where}"
                + (f" (eligible primaries include {_listed(edit.primaries)})" if edit.primaries else "")
                + ": report it with the procedure it was done with, or remove it.",
                code_path(line),
                diagnostics=_diagnostics(edit),
                severity=Severity.WARNING if order else None,
                fix=fix,
                unverified=not edit.verified,
            )
            return
        if edit.edit_type == 2:
            return  # the contractor decides which primaries are eligible: nothing to judge here
        present = join_or(sorted(procedures), "and")
        lines = sum(counts[c] for c in procedures)
        if edit.edit_type == 1:
            yield self.finding(
                f"{upper_first(label)} is an add-on code whose primary must be {_listed(edit.primaries)}; "
                f"{present} {'is' if lines == 1 else 'are'} not eligible: report the primary it was "
                f"done with, or remove the add-on.",
                code_path(line),
                diagnostics=_diagnostics(edit),
                severity=Severity.WARNING if order else None,
                fix=fix,
                unverified=not edit.verified,
            )
            return
        yield self.finding(
            f"{upper_first(label)} is an add-on code; CMS lists {_listed(edit.primaries)} among its primaries "
            f"and none of them is {'ordered' if order else 'reported'} {where}: confirm with the payer that "
            f"{present} is an accepted primary, or report the listed primary it was done with.",
            code_path(line),
            diagnostics=_diagnostics(edit),
            severity=Severity.WARNING,
            unverified=not edit.verified,
        )
