from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.cms.session import code_path, default_setting, line_label, sessions, upper_first


@register
class HcpcsCodeDates(Rule):
    """A HCPCS Level II code used on a date it is not valid: before it was added or after it ended.

    What it checks:
        Every claim line and order with a HCPCS Level II code (a letter and four digits) that the loaded
        HCPCS Level II file lists: the date of service must fall on or after the code's add date and on
        or before its termination date. A line without a date is not judged. Codes the file does not list
        are left to GEN001.
    Why:
        CMS adds and ends Level II codes every quarter; a claim with a code that was not valid on the
        date of service is rejected as an invalid code.
    Example:
        A Level II code terminated on 2023-12-31 on a claim line dated 2024-07-15.
    Fix:
        Report the code in force on the date of service (the HCPCS file's cross-reference names the
        replacement when CMS gives one).
    Source:
        CMS HCPCS Level II code file (quarterly release: add, action and termination dates, cross-reference).
    """

    id = "HCP001"
    name = "cms.hcpcs-dates"
    family = "cms"
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for session in sessions(ctx.submission, default_setting(ctx.tx)):
            d = session.date
            if d is None:
                continue
            for line in session.lines:
                code = line.cpt or ""
                if not code[:1].isalpha():
                    continue
                entry = ctx.tx.hcpcs.get(code)
                if entry is None:
                    continue
                citation = entry.citation
                if entry.added is not None and d < entry.added:
                    problem = (
                        f"was added on {entry.added.isoformat()}, after the date of service {d.isoformat()}"
                    )
                elif entry.terminated is not None and d > entry.terminated:
                    problem = (
                        f"ended on {entry.terminated.isoformat()}, before the date of service {d.isoformat()}"
                    )
                else:
                    continue
                yield self.finding(
                    f"{upper_first(line_label(line))}: HCPCS {code} {problem}; report the code in force on that date.",
                    code_path(line),
                    diagnostics=f"{citation}: {code} added {entry.added or 'unknown'}, terminated "
                    f"{entry.terminated or 'not'}; action {entry.action or 'none'}.",
                )
