from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ICD10CM
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.devices.data import device_code, device_codes, device_lines, dx_regions, region_words


@register
class NeoplasmDiagnosis(Rule):
    """A fiducial-marker or dosimeter placement without a neoplasm diagnosis in the region it covers.

    What it checks:
        The diagnoses of each 49411 or 49412 line (the claim's diagnosis pointers, else the Procedure or
        order reasons): at least one valid ICD-10-CM code must be in the ValueSet named for the code in
        ``terminology/devices/codes.csv`` (``device-dx-neoplasm``: malignant or uncertain-behaviour
        neoplasms of digestive organs, peritoneum, retroperitoneum, abdominal and pelvic soft tissue,
        female genital and urinary organs, adrenal, intra-abdominal and pelvic nodes and secondaries
        there; the prostate is left out). A line with no diagnosis gets the warning too. Diagnoses that
        place the target in another region by themselves (C61 prostate) are left to DEV002, which names
        the right code; pointers that lead nowhere to GEN004, invalid codes to GEN003.
    Why:
        The devices mark a tumour for radiation therapy; the claim has to show that tumour. A symptom
        code, an encounter-for-radiotherapy code or a tumour elsewhere does not support the placement,
        and a prostate tumour calls for 55876 (DEV002).
    Example:
        ``49411`` pointing only to ``R19.00`` (abdominal mass) or to ``Z51.0`` (radiotherapy encounter).
    Fix:
        Point the line to the neoplasm the markers target (e.g. ``C25.0`` head of pancreas, ``C78.7``
        liver metastasis, ``C48.0`` retroperitoneum).
    Source:
        ICD-10-CM April 2026 (neoplasm chapter C00-D49, secondary neoplasms C77-C79); that these
        diagnoses support 49411/49412 is an inference, so findings say unverified; an overview of CPT
        49411 (typical targets: hepatic metastasis, pancreatic tumour, pelvic sarcoma).
    """

    id = "DEV005"
    needs = frozenset({"Condition"})
    name = "devices.neoplasm-diagnosis"
    family = "devices"
    triggers = staticmethod(device_codes)
    severity = Severity.WARNING
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        icd = ctx.tx.icd
        for line in device_lines(ctx.submission):
            dc = device_code(line)
            code = line.cpt or ""
            if dc is None:  # pragma: no cover - device_lines yields device codes only
                continue
            if line.diagnosis_pointers and all(p.target is None for p in line.diagnosis_pointers):
                continue  # dangling pointers: GEN004
            region = region_words(dc.region)
            diagnostics = (
                f"ValueSet {dc.dx_valueset} (ICD-10-CM April 2026, coding-rules reference §6b); "
                "seed 002_8dafaa6a1b2c017b."
            )
            diagnoses = line.diagnoses()
            if not diagnoses:
                yield self.finding(
                    f"{code} has no diagnosis: link the neoplasm of the {region} that the devices mark for "
                    f"radiation therapy.",
                    line.path,
                    diagnostics=diagnostics,
                )
                continue
            valid = [c for d in diagnoses for c in d.icd10() if icd.is_valid(c.code)]
            if not valid:
                continue  # nothing in ICD-10-CM to judge, or only invalid codes (GEN003)
            if any(ctx.tx.valuesets.contains(dc.dx_valueset, ICD10CM, c.code) for c in valid):
                continue
            placed = dx_regions(ctx.tx, line, dc)
            if placed and all(t.code != dc.region for t, _, _ in placed):
                continue  # the diagnoses put the target elsewhere (C61: prostate): DEV002 names the code
            listed = ", ".join(dict.fromkeys(c.code for c in valid))
            yield self.finding(
                f"None of the diagnoses for {code} ({listed}) is a neoplasm of the {region}; link the tumour "
                f"the devices mark for radiation therapy.",
                list(dict.fromkeys(c.path for c in valid)),
                diagnostics=diagnostics,
                unverified=True,
            )
