from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import CPT
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.common import code_label, join_or
from fhirplugin.rules.drainage.data import (
    CODE_MAP,
    SITE_MAP,
    decided_code,
    drainage_code,
    drainage_codes,
    drainage_lines,
)


@register
class SiteApproachCode(Rule):
    """A drainage code that does not fit the documented site or approach of the collection.

    What it checks:
        For lines coded 10030, 49405, 49406 or 49407: the SNOMED CT body site (claim item bodySite, the
        linked Procedure's bodySite, or a SNOMED procedure code listed in the site map) and the approach
        (procedure-method / procedure-approach extensions; a vagina or rectum site counts as the route).
        Sites map to a class (soft tissue, visceral organ, peritoneal, retroperitoneal, pelvic, ovary) and
        the class with the approach to the fitting code(s), through the ConceptMaps
        ``drainage-snomed-to-site-class`` and ``drainage-site-class-to-cpt``. Soft tissue → 10030; visceral
        organ → 49405; peritoneal or retroperitoneal, percutaneous → 49406, transvaginal or transrectal →
        49407; open transrectal drainage of a pelvic abscess → 45000; open vaginal drainage of an ovarian cyst
        or abscess → 58800 / 58820. Nothing documented, or nothing the maps decide: no finding.
    Why:
        Each drainage code covers one kind of site and route; the wrong one is denied or pays the wrong
        amount.
    Example:
        ``49406`` (percutaneous) with a transvaginal approach to a pelvic abscess → ``49407``; ``49407`` for
        an abdominal-wall seroma → ``10030``.
    Fix:
        Replace the code with the one the site and approach call for (a single expected code comes with a
        replace-code fix), or correct the documented site/approach if it is wrong.
    Source:
        CPT code descriptors and cross-references of 10030 (soft tissue), 49405 (visceral), 49406
        (peritoneal or retroperitoneal, percutaneous) and 49407 (transvaginal or transrectal); SNOMED CT
        body structures. Site mappings marked unverified in the ConceptMap make the finding unverified.
    """

    id = "DRN004"
    needs = frozenset({"Procedure"})
    name = "drainage.site-approach-code"
    family = "drainage"
    triggers = staticmethod(drainage_codes)
    severity = Severity.ERROR
    issue_type = "code-invalid"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for line in drainage_lines(ctx.submission):
            dc = drainage_code(line)
            code = line.cpt
            if dc is None or code is None or line.code is None:
                continue
            decision = decided_code(ctx.submission, ctx.tx, line, dc)
            if decision is None or code in decision.expected:
                continue
            expected = list(decision.expected)
            labels = join_or(code_label(ctx.tx, c) for c in expected)
            fix = None
            if len(expected) == 1:
                fix = {
                    "action": "replace-code",
                    "path": line.code.path,
                    "from": code,
                    "to": expected[0],
                    "system": CPT,
                }
            reasons = "; ".join(
                dict.fromkeys(f"{c}: {t.comment}" for c, t in decision.expected.items() if t.comment)
            )
            yield self.finding(
                f"{code} does not fit the documented {decision.basis}: report {labels} instead.",
                line.code.path,
                diagnostics=(
                    f"ConceptMaps {SITE_MAP.rsplit('/', 1)[-1]} and {CODE_MAP.rsplit('/', 1)[-1]}. {reasons}. "
                    f"Documented at: {', '.join(decision.site_paths) or 'approach extension only'}."
                ),
                fix=fix,
                unverified=decision.unverified,
            )
