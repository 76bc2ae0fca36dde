"""DRN006, a diagnosis-supports-the-code rule (:mod:`fhirplugin.rules.templates.diagnosis`) on the
drainage ValueSets."""

from __future__ import annotations

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.rules.base import RuleContext, register
from fhirplugin.rules.drainage.data import FAMILY, DrainageCode, site_rules_other_code
from fhirplugin.rules.templates import diagnosis


@register
class MedicalNecessity(diagnosis.DiagnosisSupportsCode):
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
    name = "drainage.medical-necessity"
    family = "drainage"
    data = FAMILY
    no_diagnosis = (
        "{code} has no diagnosis: link the diagnosis of the collection drained (an abscess, hematoma, seroma, "
        "lymphocele or cyst in {region})."
    )
    no_diagnosis_diagnostics = "Seed 000_fd25ab081c3e8cfb: a symptomatic fluid collection establishes the need."
    unsupported = (
        "None of the diagnoses for {code} ({listed}) is a fluid collection (abscess, hematoma, seroma, "
        "lymphocele, cyst) in {region}; link the diagnosis of the collection drained."
    )
    diagnostics = (
        "ValueSet {valueset} (ICD-10-CM April 2026, coding-rules reference §6a); seed 000_fd25ab081c3e8cfb."
    )

    def defers(self, ctx: RuleContext, line: ServiceLine, row: DrainageCode) -> bool:
        # while DRN004 runs, a line whose documented site calls for another code is left to it (the code
        # is what is wrong, said once)
        return "DRN004" in self.peers and site_rules_other_code(ctx, line, row)
