from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding
from fhirplugin.rules.base import Rule, RuleContext, register


@register
class ModifierInvalid(Rule):
    """A modifier that is not a valid CPT or HCPCS Level II modifier.

    What it checks:
        Every ``Claim.item.modifier`` (and the modifier extension on orders) against the modifier table.
    Why:
        An invalid modifier gets the line rejected; a made-up modifier copied from a bad reference (there is no
        CPT modifier 11) is a common source.
    Example:
        ``modifier: [{"coding": [{"code": "11"}]}]``.
    Fix:
        Remove the modifier or use the valid one the circumstances call for (e.g. 59/XS for a distinct site,
        76 for a repeat procedure).
    Source:
        CPT Appendix A modifiers; HCPCS Level II modifiers; table ``terminology/modifiers/modifiers.csv``.
    """

    id = "GEN005"
    name = "generic.modifier-invalid"
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for line in ctx.submission.lines():
            for m in line.modifiers:
                if not ctx.tx.modifiers.is_valid(m.code):
                    yield self.finding(
                        f"Modifier {m.code} is not a valid CPT or HCPCS Level II modifier; remove it or use the "
                        "modifier that fits.",
                        m.path,
                        fix={"action": "remove-modifier", "path": m.path, "code": m.code},
                    )
