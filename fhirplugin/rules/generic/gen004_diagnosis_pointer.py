from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding
from fhirplugin.rules.base import Rule, RuleContext, register


@register
class DanglingDiagnosisPointer(Rule):
    """A claim line points to a diagnosis that the claim does not have.

    What it checks:
        Each ``Claim.item.diagnosisSequence`` value matches the ``sequence`` of a ``Claim.diagnosis``.
    Why:
        The pointer links the service to the diagnosis that justifies it; a dangling pointer leaves the line
        without a diagnosis and the claim is rejected.
    Example:
        ``item[0].diagnosisSequence: [3]`` on a claim whose diagnoses are numbered 1 and 2.
    Fix:
        Point to an existing diagnosis sequence, or add the missing diagnosis.
    Source:
        FHIR Claim (item.diagnosisSequence); X12 837 / CMS-1500 diagnosis pointer.
    """

    id = "GEN004"
    needs = frozenset({"Condition"})
    name = "generic.diagnosis-pointer"
    issue_type = "value"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for case in ctx.submission.cases:
            have = sorted(d.sequence for d in case.diagnoses if d.sequence is not None)
            for line in case.lines:
                for ptr in line.diagnosis_pointers:
                    if ptr.target is None:
                        listed = ", ".join(map(str, have)) if have else "none"
                        yield self.finding(
                            f"This line points to diagnosis {ptr.sequence}, but the claim has no diagnosis with "
                            f"that sequence (it has: {listed}).",
                            ptr.path,
                        )
