from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.profiles import ProfileRegistry
from fhirplugin.findings import Finding
from fhirplugin.rules.base import Rule, RuleContext, register


@register
class ProfileConstraint(Rule):
    """A resource breaks a constraint of the fhirplugin profile it claims.

    What it checks:
        For each resource whose ``meta.profile`` names fhirplugin-claim, fhirplugin-procedure or
        fhirplugin-servicerequest (any ``|version``), the constraints of that profile's differential and
        of the extension definitions it uses: cardinality (min/max, per slice), allowed types of choice
        elements, fixed and pattern values (e.g. a coding with the CPT system), minimum/maximum values,
        and required ValueSet bindings (CPT/HCPCS bindings are checked by code system). One finding per
        broken constraint, at the element at fault.
    Why:
        The profiles say where the facts a CPT code depends on go (units, modifiers, body site, approach,
        devices, imaging guidance); a resource that claims a profile but breaks it is either wrongly
        labelled or missing data the coding rules need, and a receiver that validates profiles rejects it.
    Example:
        A Claim with ``meta.profile`` fhirplugin-claim whose ``item[0]`` has no ``quantity``; a Procedure
        whose ``code`` has only a SNOMED CT coding (the profile requires one CPT coding); a
        ``focalDevice`` without ``action``.
    Fix:
        Add or correct the element named in the message as the profile says (``profiles/README.md`` has an
        example for each element), or remove the profile from ``meta.profile`` if the resource is not
        meant to conform.
    Source:
        fhirplugin StructureDefinitions in ``profiles/`` (FHIR profiling: differential, slicing, bindings).
    """

    id = "PRF002"
    name = "profiles.constraint"
    family = "profiles"
    issue_type = "structure"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        registry = ProfileRegistry.builtin()
        version = ctx.submission.fhir_version
        for raw in ctx.submission.resources:
            for v in registry.check(raw.resource, raw.path, version, ctx.tx):
                sd = registry.profile(v.definition, version)
                where = f"{v.definition}|{sd.version}" if sd is not None and sd.version else v.definition
                yield self.finding(
                    v.text,
                    v.expression,
                    diagnostics=f"StructureDefinition {where}, element {v.element}, constraint {v.constraint}.",
                    issue_type=v.issue_type,
                )
