from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import CPT, HCPCS
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.tx.cpt import looks_like_cpt

CPT_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.12",
    "http://www.ama-assn.org/go/cpt/",
    "https://www.ama-assn.org/go/cpt",
    "http://ama-assn.org/go/cpt",
    "CPT",
    "cpt",
}


@register
class CptWrongSystem(Rule):
    """A CPT-looking code under another code system, or under none.

    What it checks:
        Codes on claim lines, Procedures and ServiceRequests that have the CPT form but whose ``system`` is
        missing or is not ``http://www.ama-assn.org/go/cpt``.
    Why:
        Receivers and the coding rules match codes by system and code: a CPT code without the CPT system is
        not recognised as CPT, so edits and payment rules silently do not apply.
    Example:
        ``{"code": "49407"}`` with no ``system``; ``{"system": "urn:oid:2.16.840.1.113883.6.12", ...}``.
    Fix:
        Set ``system`` to ``http://www.ama-assn.org/go/cpt``.
    Source:
        HL7 FHIR terminology registry (CPT canonical URI); US Core.
    """

    id = "GEN002"
    name = "generic.cpt-wrong-system"
    severity = Severity.WARNING
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for line in ctx.submission.lines():
            for c in line.codes:
                if c.system in (CPT, HCPCS) or not looks_like_cpt(c.code):
                    continue
                where = "no system" if not c.system else f"system {c.system!r}"
                yield self.finding(
                    f"Code {c.code} looks like CPT but has {where}; set system to {CPT}.",
                    c.path,
                    fix={"action": "set-system", "path": c.path, "system": CPT, "code": c.code},
                    diagnostics="Alternate CPT identifier; use the canonical URI."
                    if c.system in CPT_ALIASES
                    else None,
                )
