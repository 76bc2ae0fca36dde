from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.profiles import PROFILE_BASE, ProfileRegistry
from fhirplugin.rules.base import Rule, RuleContext, register


@register
class UnknownProfile(Rule):
    """A resource names a profile in ``meta.profile`` that fhirplugin cannot check it against.

    What it checks:
        Every ``meta.profile`` entry of each submitted resource (the version suffix ``|x`` is ignored).
        A profile under ``https://fhirplugin.dev/fhir/StructureDefinition/`` that fhirplugin does not
        define, or defines only for another FHIR version, is a warning; a profile of another publisher
        (US Core, CARIN...) is reported as information: it was not checked.
    Why:
        A sender that claims a profile expects the resource to be checked against it. Saying plainly
        which claims were not checked avoids a silent "valid" for constraints nobody looked at; an
        unknown fhirplugin profile is usually a misspelt URL, so its constraints were not applied either.
    Example:
        ``"meta": {"profile": ["https://fhirplugin.dev/fhir/StructureDefinition/fhirplugin-claims"]}``
        (one letter too many).
    Fix:
        Use one of the fhirplugin profiles (fhirplugin-claim, fhirplugin-procedure,
        fhirplugin-servicerequest; see ``profiles/README.md``), or check the resource against the other
        publisher's profile with a validator that has it.
    Source:
        FHIR Resource.meta.profile (profile claims); fhirplugin profiles (``profiles/``).
    """

    id = "PRF001"
    name = "profiles.unknown-profile"
    family = "profiles"
    severity = Severity.WARNING
    issue_type = "not-found"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        registry = ProfileRegistry.builtin()
        version = ctx.submission.fhir_version
        for raw in ctx.submission.resources:
            rtype = raw.resource.get("resourceType") if isinstance(raw.resource, dict) else None
            for claim in registry.claims(raw.resource, raw.path, version):
                if claim.status == "unknown":
                    ours = ", ".join(sorted({sd.label for sd in registry.profiles()}))
                    yield self.finding(
                        f"{rtype} names profile {claim.url}, which fhirplugin does not define; the resource was "
                        f"not checked against it. Check the spelling (fhirplugin profiles: {ours}).",
                        claim.expression,
                        diagnostics=f"Known fhirplugin profiles are the StructureDefinitions under {PROFILE_BASE}"
                        " shipped in profiles/.",
                    )
                elif claim.status == "other-version":
                    yield self.finding(
                        f"{rtype} names profile {claim.url}, which fhirplugin defines only for FHIR "
                        f"{', '.join(claim.versions)}, not {version}; the resource was not checked against it.",
                        claim.expression,
                    )
                elif claim.status == "foreign":
                    yield self.finding(
                        f"{rtype} names profile {claim.url}, which is not a fhirplugin profile; fhirplugin did "
                        "not check the resource against it.",
                        claim.expression,
                        severity=Severity.INFORMATION,
                        issue_type="informational",
                    )
