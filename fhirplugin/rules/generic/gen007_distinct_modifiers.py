from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding
from fhirplugin.rules.base import Rule, RuleContext, register

X_MODIFIERS = {"XE", "XS", "XP", "XU"}


@register
class FiftyNineWithX(Rule):
    """Modifier 59 and an X modifier (XE, XS, XP, XU) on the same line.

    What it checks:
        No claim line carries 59 together with XE, XS, XP or XU.
    Why:
        The X modifiers are more specific subsets of 59; CMS asks for one or the other, never both, and
        prefers the X modifier when it applies.
    Example:
        ``modifier: [59, XS]`` on a second 49406 line.
    Fix:
        Keep the X modifier that describes the circumstance (XS for a separate site) and remove 59.
    Source:
        NCCI Policy Manual, chapter I (modifiers 59 and XE, XS, XP, XU); CMS MLN fact sheet on
        modifier 59 and the X modifiers.
    """

    id = "GEN007"
    name = "generic.59-with-x-modifier"
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for line in ctx.submission.lines():
            if len(line.modifiers) < 2:
                continue
            codes = {m.code.upper(): m for m in line.modifiers}
            xs = sorted(X_MODIFIERS & codes.keys())
            if "59" in codes and xs:
                yield self.finding(
                    f"Modifiers 59 and {', '.join(xs)} are both on this line; report only {xs[0]}.",
                    codes["59"].path,
                    fix={"action": "remove-modifier", "path": codes["59"].path, "code": "59"},
                )
