from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.cms.policy import deleted_codes, status_meanings
from fhirplugin.rules.cms.session import code_path, default_setting, line_label, mods, sessions, upper_first
from fhirplugin.systems import CPT

# modifiers that say the patient was told Medicare will not pay (advance notice, statutory exclusion)
_LIABILITY_MODIFIERS = frozenset({"GA", "GX", "GY", "GZ"})


@register
class CodeStatus(Rule):
    """A code that is deleted, not valid for Medicare or not paid, by its fee schedule status.

    What it checks:
        Every claim line and order: a CPT code deleted by CPT (``terminology/cms/deleted-codes.csv``,
        with the code that replaced it), then the code's status in the loaded Medicare Physician Fee
        Schedule relative value file on the date of service (``terminology/cms/pfs-status.csv`` says
        what each status means): deleted (D, F) and not valid for Medicare (G, I) are errors; bundled
        (B, P), excluded (E, X) and not covered (N) are warnings, and N or X lines that carry GA, GX,
        GY or GZ (the patient was told) get none. The fee schedule status is read for practitioner
        claims and orders; institutional claims are paid under other systems, so only the deleted-code
        check applies to them.
    Why:
        A deleted or invalid code is rejected outright; a bundled or non-covered code is denied unless
        the claim says the patient was told. Old order sets and charge masters still carry codes CPT
        deleted years ago (58823 was replaced by 49407 in 2014).
    Example:
        ``58823`` on a 2026 claim (deleted 2014: report 49407); a code whose fee schedule status is ``I``.
    Fix:
        Report the replacement code (the fix replaces it when there is one); for a non-covered service,
        append GA, GY or GZ as the advance notice situation calls for.
    Source:
        CPT code changes (the 2014 image-guided fluid collection drainage codes); Medicare Physician Fee
        Schedule relative value file (RVU) and its status indicator definitions, Medicare Claims
        Processing Manual (Pub. 100-04), chapter 23.
    """

    id = "PFS001"
    name = "cms.code-status"
    family = "cms"
    severity = Severity.ERROR
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        deleted = deleted_codes()
        meanings = status_meanings()
        for session in sessions(ctx.submission, default_setting(ctx.tx)):
            for line in session.lines:
                code = line.cpt or ""
                gone = deleted.get(code)
                if gone is not None and (session.date is None or session.date >= gone.deleted):
                    yield self._deleted(line, gone)
                    continue
                if session.setting != "practitioner" and session.kind == "bill":
                    continue
                row = ctx.tx.pfs.get(code, session.date)
                if row is None:
                    continue
                meaning = meanings.get(row.status)
                if meaning is None or not meaning.severity:
                    continue
                if row.status in ("N", "X") and mods(line) & _LIABILITY_MODIFIERS:
                    continue
                citation = row.citation
                yield self.finding(
                    f"{upper_first(line_label(line))}: the Medicare fee schedule status of {code} is "
                    f"{row.status}, {meaning.meaning}" + (f"; {meaning.advice}." if meaning.advice else "."),
                    code_path(line),
                    diagnostics=(
                        f"{citation}: {code} status {row.status}. Status definitions: Medicare Claims "
                        f"Processing Manual (Pub. 100-04), chapter 23."
                    ),
                    severity=Severity.WARNING if meaning.severity == "warning" else None,
                    unverified=not row.verified,
                )

    def _deleted(self, line: ServiceLine, gone) -> Finding:
        code = line.cpt or ""
        fix = None
        if line.code is not None:
            fix = {
                "action": "replace-code",
                "path": line.code.path,
                "from": code,
                "to": gone.replacement,
                "system": line.code.system or CPT,
            }
        return self.finding(
            f"{upper_first(line_label(line))}: {code} was deleted from CPT on {gone.deleted.isoformat()}; "
            f"report {gone.replacement} instead.",
            code_path(line),
            diagnostics=f"{gone.source}: {code} deleted {gone.deleted.isoformat()}, replaced by {gone.replacement}.",
            fix=fix,
            unverified=not gone.verified,
        )
