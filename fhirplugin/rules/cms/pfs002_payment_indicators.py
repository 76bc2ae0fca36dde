from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.cms.policy import indicator_rules
from fhirplugin.rules.cms.session import default_setting, line_label, sessions, upper_first

# the fee schedule field of each indicator (PfsRow attribute) and how a coder names it
_FIELDS = {
    "bilateral": ("bilateral", "bilateral surgery indicator"),
    "pctc": ("pctc", "PC/TC indicator"),
    "assistant": ("assistant", "assistant at surgery indicator"),
    "co_surgeon": ("co_surgeon", "co-surgeon indicator"),
    "team": ("team", "team surgery indicator"),
}
_WATCHED = frozenset({"50", "26", "TC", "80", "81", "82", "AS", "62", "66"})


@register
class PaymentPolicyIndicator(Rule):
    """A modifier that the code's fee schedule payment-policy indicator does not allow.

    What it checks:
        On practitioner claim lines: modifier 50 (bilateral), 26 or TC (professional or technical
        component), 80, 81, 82 or AS (assistant at surgery), 62 (co-surgeons) and 66 (team surgery)
        against the code's indicators in the loaded Medicare Physician Fee Schedule relative value file
        for the date of service. ``terminology/cms/pfs-modifier-indicators.csv`` says which indicator
        values forbid which modifier (an error) and which pay only with documentation (a warning).
    Why:
        Medicare pays these modifiers only where the fee schedule allows them: 50 on a code that is not
        bilateral, 26 on a code with no professional/technical split, or an assistant surgeon where none is
        ever paid, gets the line rejected or reduced.
    Example:
        ``49411-50`` (bilateral indicator 0); ``49406-26`` (PC/TC indicator 0); ``49406-80`` (assistant at
        surgery indicator 1: never paid).
    Fix:
        Remove the modifier (the fix does it). For a procedure really done on both sides of a code that is
        not bilateral, report the sides as the payer instructs (RT and LT lines); for an assistant or
        co-surgeon that is paid only with documentation, send the operative note.
    Source:
        Medicare Physician Fee Schedule relative value file (RVU) payment-policy indicators and their
        definitions; Medicare Claims Processing Manual (Pub. 100-04), chapter 12 (surgery: bilateral,
        assistant, co-surgeon and team surgery; professional and technical components).
    """

    id = "PFS002"
    name = "cms.payment-policy-indicator"
    family = "cms"
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        rules = indicator_rules()
        for session in sessions(ctx.submission, default_setting(ctx.tx)):
            if session.kind != "bill" or session.setting != "practitioner":
                continue
            for line in session.lines:
                watched = [m for m in line.modifiers if m.code.strip().upper() in _WATCHED]
                if not watched:
                    continue
                code = line.cpt or ""
                row = ctx.tx.pfs.get(code, session.date)
                if row is None:
                    continue
                citation = row.citation
                for m in watched:
                    mod = m.code.strip().upper()
                    for indicator, (attr, words) in _FIELDS.items():
                        value = str(getattr(row, attr, "") or "")
                        rule = rules.get((indicator, value))
                        if rule is None or mod not in rule.modifiers:
                            continue
                        warn = rule.severity == "warning"
                        yield self.finding(
                            f"{upper_first(line_label(line))} carries modifier {mod}, but {rule.meaning} "
                            f"({words} {value}): "
                            + (
                                "send the documentation with the claim, or remove the modifier."
                                if warn
                                else "remove the modifier."
                            ),
                            m.path,
                            diagnostics=f"{citation}: {code} {words} {value}.",
                            severity=Severity.WARNING if warn else None,
                            fix=None
                            if warn
                            else {"action": "remove-modifier", "path": m.path, "code": m.code},
                            unverified=not row.verified,
                        )
