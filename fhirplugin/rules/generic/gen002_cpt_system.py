from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.systems import CPT, PROCEDURE_SYSTEMS, looks_like_cpt_system
from fhirplugin.tx.cpt import looks_like_cpt


@register
class CptWrongSystem(Rule):
    """A CPT-looking code with no code system, or under a misspelt CPT/HCPCS URI.

    What it checks:
        Codes on claim lines, EOB items, ChargeItems, Procedures and ServiceRequests that have the CPT
        form (five digits, or four digits and F/T/U) and either no ``system`` or a system that reads like
        a CPT/HCPCS URI but is none of the known ones (``http://www.ama-assn.org/go/cpt/`` with a slash,
        ``CPT``). The known CPT and HCPCS URIs (the AMA URI, the CPT and HCPCS OIDs, the CMS HCPCS URIs,
        Blue Button's HCPCS URI) are accepted as they are; a code under another known system (SNOMED CT,
        LOINC, an HL7 example code system) is that system's code and is never questioned.
    Why:
        Receivers and the coding rules match codes by system and code: a CPT code without a system, or
        under a misspelt one, is not recognised as CPT, so edits and payment rules silently do not apply.
    Example:
        ``{"code": "49407"}`` with no ``system``; ``{"system": "http://www.ama-assn.org/go/cpt/", ...}``.
    Fix:
        Set ``system`` to ``http://www.ama-assn.org/go/cpt``.
    Source:
        HL7 terminology (THO) code system pages for CPT and HCPCS (canonical URIs and OIDs); US Core.
    """

    id = "GEN002"
    name = "generic.cpt-wrong-system"
    severity = Severity.WARNING
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for line in ctx.submission.lines():
            for c in line.codes:
                if c.system in PROCEDURE_SYSTEMS or not looks_like_cpt(c.code):
                    continue
                if c.system and not looks_like_cpt_system(c.system):
                    continue  # another code system's code (SNOMED CT, LOINC, ...): not ours to relabel
                where = "no system" if not c.system else f"system {c.system!r}, which is not a CPT URI"
                yield self.finding(
                    f"Code {c.code} looks like CPT but has {where}; set system to {CPT}.",
                    c.path,
                    fix={"action": "set-system", "path": c.path, "system": CPT, "code": c.code},
                )
