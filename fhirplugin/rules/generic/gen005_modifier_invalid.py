from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.systems import PROCEDURE_SYSTEMS
from fhirplugin.tx.modifiers import is_level_one_shape


@register
class ModifierInvalid(Rule):
    """A modifier that is not a valid CPT or HCPCS Level II modifier.

    What it checks:
        Every claim line modifier (and the modifier extension on orders) against the loaded modifier
        table. A modifier of a CPT (Level I) shape (two digits, P1–P6, 1P–8P) that CPT does not have is
        an error: the built-in table holds every Level I modifier. Any other unknown modifier is an
        error once CMS's full modifier list is loaded (``fhirplugin data import`` or
        ``[terminology] modifier_paths``); against the built-in excerpt of Level II modifiers it is an
        information note, since the modifier may exist.
        Only CPT/HCPCS modifiers are judged: a coding with a CPT or HCPCS system (any of their URIs) or
        no system; a modifier of another code system (the HL7 ``rooh`` after-hours modifier of
        ``http://terminology.hl7.org/CodeSystem/modifiers``) is not a CPT modifier and is left alone.
    Why:
        An invalid modifier gets the line rejected; a made-up modifier copied from a bad reference (there is no
        CPT modifier 11) is a common source.
    Example:
        ``modifier: [{"coding": [{"code": "11"}]}]``; ``ZZ`` with the CMS modifier list loaded.
    Fix:
        Remove the modifier or use the valid one the circumstances call for (e.g. 59/XS for a distinct site,
        76 for a repeat procedure).
    Source:
        CPT Appendix A (modifiers); the CMS HCPCS Level II modifier list (quarterly HCPCS release).
    """

    id = "GEN005"
    name = "generic.modifier-invalid"
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        table = ctx.tx.modifiers
        for line in ctx.submission.lines():
            for m in line.modifiers:
                if m.system is not None and m.system not in PROCEDURE_SYSTEMS:
                    continue  # another code system's modifier (HL7 rooh, ...): not a CPT/HCPCS modifier
                if table.is_valid(m.code):
                    continue
                code = m.code.strip().upper()
                if table.complete or is_level_one_shape(code):
                    yield self.finding(
                        f"Modifier {m.code} is not a valid CPT or HCPCS Level II modifier; remove it or use the "
                        "modifier that fits.",
                        m.path,
                        fix={"action": "remove-modifier", "path": m.path, "code": m.code},
                    )
                else:
                    yield self.finding(
                        f"Modifier {m.code} is not in the built-in modifier table, which holds only some HCPCS "
                        "Level II modifiers: check that it is a current HCPCS modifier, or import the CMS "
                        "modifier list to have it checked.",
                        m.path,
                        severity=Severity.INFORMATION,
                        issue_type="informational",
                    )
