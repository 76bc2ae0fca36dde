from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding
from fhirplugin.rules.base import Rule, RuleContext, register


@register
class UnitsInvalid(Rule):
    """Units of service that are zero, negative or fractional.

    What it checks:
        ``Claim.item.quantity.value`` (and ``ServiceRequest.quantityQuantity.value``) is a whole number of at
        least 1.
    Why:
        CPT procedure codes are reported in whole units; zero, negative or fractional units are rejected.
    Example:
        ``quantity: {"value": 0}``, ``{"value": 1.5}``.
    Fix:
        Report the number of times the service was performed as a whole number (at least 1).
    Source:
        CMS Claims Processing Manual (units of service); X12 837 SV1-04.
    """

    id = "GEN006"
    name = "generic.units-invalid"
    issue_type = "value"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for line in ctx.submission.lines():
            v, path = line.units.value, line.units.path
            if v is None or path is None:
                continue
            if v <= 0:
                yield self.finding(f"Units must be at least 1; this line has {v:g}.", path)
            elif v != int(v):
                yield self.finding(f"Units must be a whole number; this line has {v:g}.", path)
