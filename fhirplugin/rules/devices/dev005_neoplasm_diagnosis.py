"""DEV005, a diagnosis-supports-the-code rule (:mod:`fhirplugin.rules.templates.diagnosis`) on the
device ValueSet."""

from __future__ import annotations

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.rules.base import RuleContext, register
from fhirplugin.rules.devices.data import FAMILY, DeviceCode, dx_elsewhere, region_words
from fhirplugin.rules.templates import diagnosis


@register
class NeoplasmDiagnosis(diagnosis.DiagnosisSupportsCode):
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
    name = "devices.neoplasm-diagnosis"
    family = "devices"
    data = FAMILY
    no_diagnosis = (
        "{code} has no diagnosis: link the neoplasm of the {region} that the devices mark for radiation therapy."
    )
    unsupported = (
        "None of the diagnoses for {code} ({listed}) is a neoplasm of the {region}; link the tumour the devices "
        "mark for radiation therapy."
    )
    diagnostics = (
        "ValueSet {valueset} (ICD-10-CM April 2026, coding-rules reference §6b); seed 002_8dafaa6a1b2c017b."
    )
    no_diagnosis_diagnostics = diagnostics

    def region(self, row: DeviceCode) -> str:
        return region_words(row.region)

    def defers(self, ctx: RuleContext, line: ServiceLine, row: DeviceCode) -> bool:
        return dx_elsewhere(ctx, line, row)  # the diagnoses put the target elsewhere: DEV002 names the code
