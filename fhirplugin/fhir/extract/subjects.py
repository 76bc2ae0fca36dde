"""Who and where a case is about: the Patient."""

from __future__ import annotations

from fhirplugin.fhir.case import Patient
from fhirplugin.fhir.extract.index import Index
from fhirplugin.fhir.extract.values import as_str, parse_date


def patient_of(idx: Index, reference: str | None) -> Patient | None:
    """The Patient resource ``reference`` names, when the input holds it (gender and birth date only)."""
    if not reference:
        return None
    loc = idx.resolve({"reference": reference})
    if loc is None or loc.resource.get("resourceType") != "Patient":
        return None
    gender = as_str(loc.resource.get("gender"))
    return Patient(loc.path, gender.lower() if gender else None, parse_date(loc.resource.get("birthDate")))
