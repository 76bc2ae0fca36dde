from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding
from fhirplugin.rules.base import Rule, RuleContext, register


@register
class IcdInvalid(Rule):
    """An ICD-10-CM diagnosis code that does not exist or is not billable.

    What it checks:
        Every ICD-10-CM coding in ``Claim.diagnosis``, Procedure and ServiceRequest reasons and referenced
        Conditions: it must be in the ICD-10-CM code set and be a billable (leaf) code.
    Why:
        Claims with invalid or non-billable diagnosis codes are rejected. A category header such as ``K65``
        needs more characters; a code without its required 7th character is incomplete.
    Example:
        ``K65`` (category), ``T81.4`` (needs more characters), ``K99.9`` (no such code).
    Fix:
        Use the most specific code the documentation supports, e.g. ``K65.1`` for a peritoneal abscess.
    Source:
        ICD-10-CM code set (April 2026 release, via the simple-icd-10-cm package).
    """

    id = "GEN003"
    needs = frozenset({"Condition"})
    name = "generic.icd10cm-invalid"
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        icd = ctx.tx.icd
        seen: set[str] = set()
        for case in ctx.submission.cases:
            diagnoses = list(case.diagnoses)
            for proc in case.procedures:
                diagnoses.extend(proc.reasons)
            for dx in diagnoses:
                for c in dx.icd10():
                    if c.path in seen:
                        continue
                    seen.add(c.path)
                    if not icd.is_valid(c.code):
                        yield self.finding(
                            f"ICD-10-CM {c.code} is not a code in the ICD-10-CM code set; check the code.",
                            c.path,
                        )
                    elif not icd.is_billable(c.code):
                        yield self.finding(
                            f"ICD-10-CM {c.code} ({icd.title(c.code) or 'category'}) is a header, not a billable "
                            "code; report a more specific code below it.",
                            c.path,
                        )
