from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.cms.policy import places_of_service
from fhirplugin.rules.cms.session import line_label, upper_first


@register
class PlaceOfServiceCode(Rule):
    """A place of service that is not an assigned CMS place-of-service code.

    What it checks:
        Every claim line, EOB line and order whose place of service is coded with the CMS
        place-of-service code set (Claim/EOB ``item.locationCodeableConcept``, the type of the Location
        that ``item.locationReference`` or ``Claim.facility`` names, ServiceRequest ``locationCode``, a
        Procedure's ``location``): the code must be one of the assigned two-digit codes in
        ``terminology/cms/place-of-service.csv``. A one-digit code is offered with its leading zero.
        Places coded with other systems (HL7 service delivery location types) are not judged.
    Why:
        The place of service decides which fee schedule rate (facility or non-facility) is paid and
        which edits apply; a claim with an unassigned or malformed place-of-service code is returned as
        unprocessable.
    Example:
        ``item.locationCodeableConcept`` with code ``30`` (unassigned) or ``1`` (for ``01``).
    Fix:
        Code the place where the service was rendered with its two-digit CMS code (``11`` office,
        ``22`` on-campus outpatient hospital, ``23`` emergency department, ``24`` ambulatory surgical
        center ...).
    Source:
        CMS Place of Service Code Set (Medicare Claims Processing Manual, Pub. 100-04, chapter 26,
        section 10.5).
    """

    id = "POS001"
    name = "cms.place-of-service"
    family = "cms"
    severity = Severity.ERROR
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        table = places_of_service()
        for line in ctx.submission.lines():
            pos = line.place_of_service
            if pos is None or pos.code in table:
                continue
            padded = pos.code.zfill(2)
            hint = (
                f" Did you mean {padded} ({table[padded].name})?"
                if padded != pos.code and padded in table
                else " Use the two-digit CMS code of the place where the service was rendered."
            )
            yield self.finding(
                f"{upper_first(line_label(line))}: place of service {pos.code!r} is not an assigned CMS "
                f"place-of-service code.{hint}",
                pos.path,
                diagnostics=f"{len(table)} assigned codes in terminology/cms/place-of-service.csv "
                "(CMS Place of Service Code Set).",
            )
