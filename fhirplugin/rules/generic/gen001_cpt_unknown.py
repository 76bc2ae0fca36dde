from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.systems import HCPCS_ALIASES
from fhirplugin.tx.cpt import looks_like_cpt, looks_like_hcpcs


@register
class CptUnknown(Rule):
    """A CPT code that is malformed or not in the loaded CPT table.

    What it checks:
        Every code under a CPT or HCPCS system (any of their URIs) on a claim line, EOB item, ChargeItem,
        Procedure or ServiceRequest: it must have the CPT form (five digits, or four digits and F/T/U; under
        a HCPCS URI also a letter and four digits) and be in the loaded code table. With your licensed CPT
        file loaded a missing code is a warning; with only the built-in table (the codes the rule families
        cover) the input gets one information issue listing how many codes no CPT rule checked.
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
        outside: dict[str, list[str]] = {}  # code -> paths, codes the built-in table does not hold
        for line in ctx.submission.lines():
            for c in line.codes:
                if not c.is_cpt or c.code in known:
                    continue
                hcpcs = c.system in HCPCS_ALIASES and looks_like_hcpcs(c.code)
                if hcpcs and c.code.upper() in cpt:
                    continue
                if not hcpcs and not looks_like_cpt(c.code):
                    what = "CPT/HCPCS" if c.system in HCPCS_ALIASES else "CPT"
                    yield self.finding(
                        f"{c.code!r} is not a {what} code: CPT codes are five digits, or four digits and F, T "
                        "or U"
                        + (", and HCPCS Level II codes a letter and four digits." if what != "CPT" else "."),
                        c.path,
                        severity=Severity.ERROR,
                        diagnostics="CPT code format (Category I, II, III and PLA codes); HCPCS Level II format.",
                    )
                elif cpt.complete:
                    yield self.finding(
                        f"CPT {c.code} is not in the loaded CPT table; check that it exists in this year's CPT.",
                        c.path,
                        diagnostics=f"Loaded CPT table (licensed file) holds {len(cpt)} codes.",
                    )
                else:
                    outside.setdefault(c.code, []).append(c.path)
        if outside:
            codes = sorted(outside)
            shown = ", ".join(codes[:10]) + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")
            n = len(codes)
            yield self.finding(
                f"{n} {'code is' if n == 1 else 'codes are'} outside the loaded CPT tables ({shown}), so no CPT "
                "rule checked them; import your licensed CPT file (terminology.cpt_file) to check that they "
                "exist.",
                [p for code in codes for p in outside[code]],
                severity=Severity.INFORMATION,
                issue_type="informational",
                diagnostics=f"Built-in CPT table holds {len(cpt)} codes (the rule families' codes).",
            )
