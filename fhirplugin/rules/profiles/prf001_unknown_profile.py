from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.profiles import PROFILE_BASE, ProfileRegistry
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register

# published HL7 implementation guides (canonical prefix -> name): known, not checked here
HL7_IGS = (
    ("http://hl7.org/fhir/us/core/", "US Core"),
    ("http://hl7.org/fhir/us/carin-bb/", "CARIN Blue Button"),
    ("http://hl7.org/fhir/us/davinci-pas/", "Da Vinci PAS"),
    ("http://hl7.org/fhir/us/davinci-crd/", "Da Vinci CRD"),
    ("http://hl7.org/fhir/us/davinci-dtr/", "Da Vinci DTR"),
    ("http://hl7.org/fhir/us/davinci-pdex/", "Da Vinci PDex"),
    ("http://hl7.org/fhir/us/davinci-hrex/", "Da Vinci HRex"),
    ("http://hl7.org/fhir/us/qicore/", "QI-Core"),
    ("http://hl7.org/fhir/us/mcode/", "mCODE"),
    ("http://hl7.org/fhir/uv/ips/", "International Patient Summary"),
    ("http://hl7.org/fhir/us/", "an HL7 US implementation guide"),
    ("http://hl7.org/fhir/uv/", "an HL7 international implementation guide"),
    ("http://hl7.org/fhir/StructureDefinition/", "the FHIR specification"),
)


def hl7_ig(url: str) -> str | None:
    """The published HL7 guide a profile URL belongs to, or None."""
    return next((name for prefix, name in HL7_IGS if url.startswith(prefix)), None)


@register
class UnknownProfile(Rule):
    """A resource names a profile in ``meta.profile`` that fhirplugin cannot check it against.

    What it checks:
        Every ``meta.profile`` entry of each submitted resource (the version suffix ``|x`` is ignored).
        A profile under ``https://fhirplugin.dev/fhir/StructureDefinition/`` that fhirplugin does not
        define, or defines only for another FHIR version, is a warning. Profiles of other publishers are
        one information issue per input (and per file: later inputs of the same file naming the same
        profiles do not repeat it), listing them; profiles of published HL7 implementation guides
        (US Core, CARIN Blue Button, Da Vinci PAS/CRD, QI-Core...) are named as known, not checked here.
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
        foreign: dict[str, list[str]] = {}
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
                    foreign.setdefault(claim.url, []).append(claim.expression)
        if foreign:
            yield self.foreign_finding(foreign)

    def foreign_finding(self, foreign: dict[str, list[str]]) -> Finding:
        known = sorted(u for u in foreign if hl7_ig(u))
        other = sorted(u for u in foreign if not hl7_ig(u))
        parts = []
        if known:
            named = ", ".join(f"{u} ({hl7_ig(u)})" for u in known)
            parts.append(f"known, not checked here: {named}")
        if other:
            parts.append(f"not known to fhirplugin, not checked: {', '.join(other)}")
        n = len(foreign)
        return self.finding(
            f"The input names {n} profile{'s' if n > 1 else ''} fhirplugin does not check against; "
            + "; ".join(parts)
            + ". Use a validator that has these profiles for their constraints.",
            [e for u in sorted(foreign) for e in foreign[u]],
            severity=Severity.INFORMATION,
            issue_type="informational",
            diagnostics="fhirplugin checks its own profiles (profiles/) and the FHIR core structure.",
        )
