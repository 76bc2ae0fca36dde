from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.tx.cpt import looks_like_cpt


@register
class CptUnknown(Rule):
    """A CPT code that is malformed or not in the loaded CPT table.

    What it checks:
        Every code under the CPT system on a claim line, Procedure or ServiceRequest: it must have the CPT
        form (five digits, or four digits and F/T/U) and be in the loaded code table. With your licensed
        CPT file loaded a missing code is a warning; with only the built-in table (the codes the rule
        families cover) it is an information issue saying no CPT rule checked the code.
    Why:
        A code that does not exist, or was deleted, is denied; a typo in a code bills a different service.
    Example:
        ``49047`` for ``49407``; ``4940`` (four digits).
    Fix:
        Correct the code. If it is valid this year, load your licensed CPT file (``terminology.cpt_file``) so
        the table knows it.
    Source:
        AMA CPT code set (your licensed file); built-in table ``terminology/cpt/codes.csv``.
    """

    id = "GEN001"
    name = "generic.cpt-unknown"
    severity = Severity.WARNING
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        cpt = ctx.tx.cpt
        known = cpt.cpt_shaped
        for line in ctx.submission.lines():
            for c in line.codes:
                if not c.is_cpt or c.code in known:
                    continue
                if not looks_like_cpt(c.code):
                    yield self.finding(
                        f"{c.code!r} is not a CPT code: CPT codes are five digits, or four digits and F, T or U.",
                        c.path,
                        severity=Severity.ERROR,
                        diagnostics="CPT code format (Category I, II, III and PLA codes).",
                    )
                elif cpt.complete:
                    yield self.finding(
                        f"CPT {c.code} is not in the loaded CPT table; check that it exists in this year's CPT.",
                        c.path,
                        diagnostics=f"Loaded CPT table (licensed file) holds {len(cpt)} codes.",
                    )
                else:
                    yield self.finding(
                        f"CPT {c.code} is outside the codes fhirplugin's built-in table covers, so no CPT rule "
                        "checked it; load your licensed CPT file to check that it exists.",
                        c.path,
                        severity=Severity.INFORMATION,
                        diagnostics=f"Built-in CPT table holds {len(cpt)} codes (the rule families' codes).",
                    )
