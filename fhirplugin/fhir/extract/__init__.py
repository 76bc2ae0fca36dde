"""Build the case model (:mod:`fhirplugin.fhir.case`) from plain JSON dicts, R4/R4B and R5.

The reader is defensive: structure errors are reported by :mod:`fhirplugin.fhir.structure`; here a
value of the wrong shape is skipped, never raised on. Its parts:

- :mod:`.values`: FHIR datatypes in JSON (codings, dates, extensions, quantities);
- :mod:`.index`: the resources of one input and references between them;
- :mod:`.procedures`: Procedure / ServiceRequest documentation (sites, devices, reasons, reports);
- :mod:`.claims`: Claim and ExplanationOfBenefit items; :mod:`.charges`: ChargeItem;
- :mod:`.orders`: standalone Procedures and ServiceRequests;
- :mod:`.subjects`: the patient;
- here: :func:`read_submission`, which puts them together.

Code-system and extension URIs are in :mod:`fhirplugin.systems` (re-exported here for older imports).
"""

from __future__ import annotations

from fhirplugin.fhir.case import RawResource, Submission
from fhirplugin.fhir.extract.charges import charge_item_case
from fhirplugin.fhir.extract.claims import claim_case, eob_case, has_item_extensions, link_requested_services
from fhirplugin.fhir.extract.index import build_index
from fhirplugin.fhir.extract.orders import order_case
from fhirplugin.fhir.extract.subjects import patient_of
from fhirplugin.fhir.extract.values import JSONObject
from fhirplugin.systems import (
    APPROACH_SYSTEM,
    DEVICE_ACTION_SYSTEM,
    EXT_APPROACH,
    EXT_COLLECTIONS,
    EXT_GUIDANCE,
    EXT_METHOD,
    EXT_MODIFIER,
)

__all__ = [
    "APPROACH_SYSTEM",
    "DEVICE_ACTION_SYSTEM",
    "EXT_APPROACH",
    "EXT_COLLECTIONS",
    "EXT_GUIDANCE",
    "EXT_METHOD",
    "EXT_MODIFIER",
    "read_submission",
]


def read_submission(top: JSONObject, base: str, version: str) -> Submission:
    """All cases in one top-level input (a resource, a Bundle, or Parameters wrapping one)."""
    idx = build_index(top, base)
    sub = Submission(fhir_version=version, resources=[RawResource(loc.path, loc.resource) for loc in idx.all])
    claimed: set[str] = set()
    for loc in idx.of_type("Claim"):
        case = claim_case(loc, idx, claimed)
        if has_item_extensions(loc.resource):
            link_requested_services(loc, case, idx, claimed)
        sub.cases.append(case)
    for loc in idx.of_type("ExplanationOfBenefit"):
        sub.cases.append(eob_case(loc, idx, claimed))
    for loc in idx.of_type("ChargeItem"):
        sub.cases.append(charge_item_case(loc, idx, claimed))
    for loc in idx.all:
        rtype = loc.resource.get("resourceType")
        if rtype in ("Procedure", "ServiceRequest") and loc.path not in claimed:
            sub.cases.append(order_case(loc, idx))
    for case in sub.cases:
        case.subject = patient_of(idx, case.patient)
    sub.missing = idx.missing
    return sub.seal()
