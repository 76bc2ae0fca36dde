"""Da Vinci PAS and CRD shapes, read as they are published, and ``structure_scope``.

The PAS bundle here is written for this test in the PAS shape: a Bundle (collection) whose first entry
is a ``use: preauthorization`` Claim with PAS item extensions (trace number, certification type,
``requestedService`` pointing at the ServiceRequest that carries the details), then the Patient,
Coverage, Organizations, Practitioner and the ServiceRequest.
"""

from __future__ import annotations

import copy
import json

import orjson
import pytest

from fhirplugin.config import Settings
from fhirplugin.engine import Engine
from fhirplugin.fhir.extract import read_submission
from fhirplugin.systems import CPT, ICD10CM

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
BASE = "https://payer.example.org/fhir"


def _cc(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def pas_bundle() -> dict:
    claim = {
        "resourceType": "Claim",
        "id": "pa-1",
        "meta": {"profile": [f"{PAS}/profile-claim"]},
        "extension": [
            {
                "url": f"{PAS}/extension-levelOfServiceCode",
                "valueCodeableConcept": _cc("http://codesystem.x12.org/005010/1338", "U"),
            }
        ],
        "identifier": [{"system": f"{BASE}/trace", "value": "T-1"}],
        "status": "active",
        "type": _cc("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
        "use": "preauthorization",
        "patient": {"reference": "Patient/pat-1"},
        "created": "2026-03-02T10:00:00-05:00",
        "insurer": {"reference": "Organization/payer-1"},
        "provider": {"reference": "Organization/clinic-1"},
        "priority": _cc("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "careTeam": [{"sequence": 1, "provider": {"reference": "Practitioner/dr-1"}}],
        "supportingInfo": [
            {
                "sequence": 1,
                "category": _cc(
                    "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASSupportingInfoType", "patientEvent"
                ),
                "timingPeriod": {"start": "2026-03-02"},
            }
        ],
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": _cc(ICD10CM, "K65.1")}],
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}],
        "item": [
            {
                "extension": [
                    {
                        "url": f"{PAS}/extension-itemTraceNumber",
                        "valueIdentifier": {"system": f"{BASE}/item", "value": "I-1"},
                    },
                    {
                        "url": f"{PAS}/extension-certificationType",
                        "valueCodeableConcept": _cc("http://codesystem.x12.org/005010/1322", "I"),
                    },
                    {
                        "url": f"{PAS}/extension-requestedService",
                        "valueReference": {"reference": "ServiceRequest/sr-1"},
                    },
                ],
                "sequence": 1,
                "careTeamSequence": [1],
                "diagnosisSequence": [1],
                "productOrService": _cc(CPT, "49406"),
                "servicedDate": "2026-03-10",
                "quantity": {"value": 1},
                "locationCodeableConcept": _cc(
                    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
                    "22",
                ),
            }
        ],
    }
    sr = {
        "resourceType": "ServiceRequest",
        "id": "sr-1",
        "meta": {"profile": [f"{PAS}/profile-servicerequest"]},
        "status": "active",
        "intent": "order",
        "code": _cc(CPT, "49406"),
        "subject": {"reference": "Patient/pat-1"},
        "bodySite": [_cc("http://snomed.info/sct", "82849001")],
        "authoredOn": "2026-03-02",
    }
    others = [
        {"resourceType": "Patient", "id": "pat-1", "name": [{"family": "Doe", "given": ["Jo"]}]},
        {
            "resourceType": "Coverage",
            "id": "cov-1",
            "status": "active",
            # beneficiary (required in R4) left out: a structure error outside the checked resources
            "payor": [{"reference": "Organization/payer-1"}],
        },
        {"resourceType": "Organization", "id": "payer-1", "name": "Payer"},
        {"resourceType": "Organization", "id": "clinic-1", "name": "Clinic"},
        {"resourceType": "Practitioner", "id": "dr-1", "name": [{"family": "Lee"}]},
    ]
    entries = [claim, *others, sr]
    return {
        "resourceType": "Bundle",
        "id": "pas-request",
        "meta": {"profile": [f"{PAS}/profile-pas-request-bundle"]},
        "identifier": {"system": f"{BASE}/submitter", "value": "S-1"},
        "type": "collection",
        "timestamp": "2026-03-02T10:00:00-05:00",
        "entry": [{"fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}", "resource": r} for r in entries],
    }


def test_pas_claim_bundle_is_read_with_its_requested_service() -> None:
    bundle = pas_bundle()
    sub = read_submission(bundle, "Bundle", "R4")
    [case] = sub.cases  # the ServiceRequest carries the line's code: taken over by the line, not an order
    [line] = case.lines
    assert line.cpt == "49406" and case.claim_type == "professional"
    [info] = line.procedures
    assert info.resource_type == "ServiceRequest" and [c.code for c in info.body_sites] == ["82849001"]
    assert [d.codes[0].code for d in line.diagnoses()] == ["K65.1"]


@pytest.mark.parametrize("scope", ["all", "checked"])
def test_structure_errors_outside_checked_resources_and_the_switch(scope: str) -> None:
    engine = Engine(Settings(structure_scope=scope))
    [result] = engine.check_bytes(orjson.dumps(pas_bundle()))
    structure = [(f.rule_id, f.expression[0]) for f in result.findings if f.rule_id.startswith("STR")]
    coverage = ("STR002", "Bundle.entry[2].resource.beneficiary")
    if scope == "all":
        assert structure == [coverage]
    else:
        assert structure == []
    # a structure error inside the Claim is reported in both scopes
    broken = pas_bundle()
    broken["entry"][0]["resource"]["item"][0]["quantity"] = {"value": "one"}
    [result] = engine.check_bytes(orjson.dumps(broken))
    where = {f.expression[0] for f in result.findings if f.rule_id.startswith("STR")}
    assert "Bundle.entry[0].resource.item[0].quantity.value" in where
    assert (coverage[1] in where) is (scope == "all")
    profiles = [f for f in result.findings if f.rule_id == "PRF001"]
    assert (
        len(profiles) == 1
        and "Da Vinci PAS" in profiles[0].text
        and profiles[0].severity.value == "information"
    )


def test_crd_order_sign_draft_orders_as_published(shared) -> None:
    """The Inferno CRD order-sign preset: a ServiceRequest with a HCPCS code under Blue Button's URI."""
    path = shared / "reference" / "cds-hooks" / "crd-fixtures" / "inferno-ri-preset_order_sign_2.json"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in ../shared")
    draft = json.loads(path.read_text())["context"]["draftOrders"]
    [result] = Engine().check_bytes(orjson.dumps(draft))
    assert result.fhir_version == "R4"
    got = {(f.rule_id, f.severity.value) for f in result.findings}
    assert ("GEN001", "information") in got  # G0180 read as HCPCS (no rule covers it)
    assert not [f for f in result.findings if f.rule_id.startswith(("STR", "INP"))]


def test_crd_draft_orders_of_other_request_types_with_checked_scope(shared) -> None:
    """CRD drafts published without Bundle.type and with DeviceRequests: with structure_scope "checked"
    nothing fhirplugin does not code-check is reported."""
    path = (
        shared / "reference" / "cds-hooks" / "crd-fixtures" / "crd-ri_requestWithHydratedPrefetchBundle.json"
    )
    if not path.is_file():
        pytest.skip(f"{path.name} is not in ../shared")
    draft = json.loads(path.read_text())["context"]["draftOrders"]
    [loud] = Engine().check_bytes(orjson.dumps(draft))
    assert [f for f in loud.findings if f.rule_id.startswith("STR")]
    [quiet] = Engine(Settings(structure_scope="checked")).check_bytes(orjson.dumps(copy.deepcopy(draft)))
    assert [f.rule_id for f in quiet.findings] == ["INP008"]
