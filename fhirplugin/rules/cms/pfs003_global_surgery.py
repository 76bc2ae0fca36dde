from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.cms.session import (
    code_path,
    default_setting,
    is_em,
    line_label,
    mods,
    sessions,
    upper_first,
)

_MINOR = frozenset({"000", "010"})
_MAJOR = "090"


@register
class GlobalSurgeryVisit(Rule):
    """An E/M visit inside a procedure's global surgery package without modifier 25 or 57.

    What it checks:
        On practitioner claim lines, for one patient and provider: an E/M visit (99202–99499) on the same
        date as a procedure whose fee schedule global period is 000 or 010 (minor) needs modifier 25; an
        E/M visit on the date of, or the day before, a procedure with a 090 global period (major) needs
        modifier 57. Without it the visit is an error. Pairs that the loaded NCCI PTP table already edits
        (reported by PTP001 while it is enabled) are left to PTP001.
    Why:
        The global surgery package of a procedure includes the usual pre-operative evaluation: Medicare
        pays a visit on the day of a minor procedure only when it was a significant, separately
        identifiable service (25), and a visit on the day of or before major surgery only when it was the
        visit at which the decision to operate was made (57).
    Example:
        ``99203`` and ``10030`` (global 000) on one claim for the same date, no modifier; ``99214`` on
        2026-03-01 and ``58820`` (global 090) on 2026-03-02.
    Fix:
        Append 25 (minor procedure) or 57 (decision for major surgery) to the visit when the record shows
        it was that kind of visit; otherwise remove the visit line, it is paid as part of the procedure.
    Source:
        Medicare Physician Fee Schedule relative value file (global days); Medicare Claims Processing
        Manual (Pub. 100-04), chapter 12, section 40 (surgeons and global surgery); NCCI Policy Manual for
        Medicare Services, chapter I (modifiers 25 and 57).
    """

    id = "PFS003"
    name = "cms.global-surgery-visit"
    family = "cms"
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        # one patient and provider, every date: the day-before check crosses sessions
        people: dict[tuple, list[tuple[dt.date, ServiceLine, str]]] = {}
        for session in sessions(ctx.submission, default_setting(ctx.tx)):
            if session.kind != "bill" or session.setting != "practitioner" or session.date is None:
                continue
            for line in session.lines:
                people.setdefault((line.patient, line.provider), []).append(
                    (session.date, line, session.setting)
                )
        for lines in people.values():
            visits = [(d, ln, s) for d, ln, s in lines if is_em(ln.cpt or "")]
            if not visits:
                continue
            procedures = []
            for d, ln, _setting in lines:
                if is_em(ln.cpt or ""):
                    continue
                row = ctx.tx.pfs.get(ln.cpt or "", d)
                if row is not None and (row.global_days in _MINOR or row.global_days == _MAJOR):
                    procedures.append((d, ln, row))
            for d, visit, setting in visits:
                finding = self._judge(ctx, d, visit, setting, procedures)
                if finding is not None:
                    yield finding

    def _judge(self, ctx, d: dt.date, visit: ServiceLine, setting: str, procedures) -> Finding | None:
        visit_mods = mods(visit)
        em = visit.cpt or ""
        for pd, proc, row in procedures:
            major = row.global_days == _MAJOR
            if major and pd not in (d, d + dt.timedelta(days=1)):
                continue
            if not major and pd != d:
                continue
            needed = "57" if major else "25"
            if needed in visit_mods:
                return None
            if "PTP001" in self.peers and self._edited(ctx, setting, proc.cpt or "", em, pd):
                continue
            code = proc.cpt or ""
            when = "the same date as" if pd == d else "the day before"
            if major:
                advice = (
                    "append 57 if this visit is where the decision to operate was made; otherwise remove it, "
                    "it is part of the surgery's global package."
                )
            else:
                advice = (
                    "append 25 if the visit was significant and separately identifiable from the procedure; "
                    "otherwise remove it, it is part of the procedure's global package."
                )
            citation = row.citation
            return self.finding(
                f"{upper_first(line_label(visit))} is an E/M visit on {when} {line_label(proc)}, a procedure with "
                f"a {row.global_days}-day global period: {advice}",
                [code_path(visit), code_path(proc)],
                diagnostics=(
                    f"{citation}: {code} global period {row.global_days} "
                    f"({'major' if major else 'minor'} surgery); a visit needs modifier {needed} "
                    f"(Medicare Claims Processing Manual, chapter 12, section 40)."
                ),
                fix={"action": "delete-line", "path": visit.path},
                unverified=not row.verified,
            )
        return None

    @staticmethod
    def _edited(ctx, setting: str, proc: str, em: str, d: dt.date) -> bool:
        table = ctx.tx.ptp_for(setting)
        edit = table.lookup(proc, em, d) or table.lookup(em, proc, d)
        return edit is not None and edit.modifier_indicator != "9"
