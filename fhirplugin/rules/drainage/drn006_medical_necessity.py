from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ICD10CM
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.drainage.data import decided_code, drainage_code, drainage_codes, drainage_lines

# the rule that says the documented site calls for another code; while it runs, this one does not
# judge the diagnosis against the code billed (the code is what is wrong, said once)
_SITE_RULE = "DRN004"


@register
class MedicalNecessity(Rule):
    """A drainage line without a diagnosis of a fluid collection in the region the code covers.

    What it checks:
        The diagnoses of each 10030, 49405, 49406 or 49407 line (the claim's diagnosis pointers, else the
        Procedure or order reasons): at least one ICD-10-CM code must be in the ValueSet for the code's region
        (``drainage-dx-soft-tissue``, ``drainage-dx-visceral``, ``drainage-dx-peritoneal``): an abscess,
        hematoma, seroma, lymphocele or cyst there, or a postprocedural collection. A line with no diagnosis
        at all also gets a warning. Pointers that lead nowhere are left to GEN004 and invalid codes to GEN003.
    Why:
        The drainage is paid when a symptomatic collection justifies it; a symptom code alone (pain, fever) or
        a diagnosis of another region does not show that.
    Example:
        ``49406`` pointing only to ``R10.9`` (abdominal pain); ``10030`` pointing to ``K65.1`` (peritoneal
        abscess, not a soft-tissue collection).
    Fix:
        Point the line to the diagnosis of the collection drained (e.g. ``K65.1`` peritoneal abscess,
        ``K68.19`` retroperitoneal abscess, ``L02.211`` abdominal-wall abscess).
    Source:
        CPT code descriptors of 10030 and 49405-49407 (abscess, hematoma, seroma, lymphocele, cyst);
        ICD-10-CM April 2026. That these diagnoses support the drainage codes is an inference, so
        findings say unverified.
    """

    id = "DRN006"
    needs = frozenset({"Condition"})
    name = "drainage.medical-necessity"
    family = "drainage"
    triggers = staticmethod(drainage_codes)
    severity = Severity.WARNING
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        icd = ctx.tx.icd
        for line in drainage_lines(ctx.submission):
            dc = drainage_code(line)
            code = line.cpt or ""
            if dc is None:
                continue
            if line.diagnosis_pointers and all(p.target is None for p in line.diagnosis_pointers):
                continue  # dangling pointers: GEN004
            diagnoses = line.diagnoses()
            if not diagnoses:
                yield self.finding(
                    f"{code} has no diagnosis: link the diagnosis of the collection drained (an abscess, "
                    f"hematoma, seroma, lymphocele or cyst in {dc.region}).",
                    line.path,
                    diagnostics="Seed 000_fd25ab081c3e8cfb: a symptomatic fluid collection establishes the need.",
                )
                continue
            codes = [c for d in diagnoses for c in d.icd10()]
            valid = [c for c in codes if icd.is_valid(c.code)]
            if not valid:
                continue  # no ICD-10-CM to judge, or only invalid codes (GEN003)
            if any(ctx.tx.valuesets.contains(dc.dx_valueset, ICD10CM, c.code) for c in valid):
                continue
            if _SITE_RULE in self.peers and line.code is not None:
                decision = decided_code(ctx.submission, ctx.tx, line, dc)
                if decision is not None and code not in decision.expected:
                    continue  # DRN004: the documented site calls for another code
            listed = ", ".join(dict.fromkeys(c.code for c in valid))
            yield self.finding(
                f"None of the diagnoses for {code} ({listed}) is a fluid collection (abscess, hematoma, seroma, "
                f"lymphocele, cyst) in {dc.region}; link the diagnosis of the collection drained.",
                list(dict.fromkeys(c.path for c in valid)),
                diagnostics=(
                    f"ValueSet {dc.dx_valueset} (ICD-10-CM April 2026, coding-rules reference §6a); "
                    "seed 000_fd25ab081c3e8cfb."
                ),
                unverified=True,
            )
