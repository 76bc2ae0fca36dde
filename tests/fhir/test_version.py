"""FHIR version detection: exact, from profiles and from what only one version's models allow."""

from __future__ import annotations

import copy

import orjson
import pytest

from builders import build
from fhirplugin.engine import Engine
from fhirplugin.fhir import version


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


R4_VENT_ORDER = {
    # R4 has ServiceRequest.orderDetail too (CodeableConcept); R5 made it a backbone element
    "resourceType": "ServiceRequest",
    "id": "vent",
    "status": "completed",
    "intent": "original-order",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "40617009"}]},
    "orderDetail": [{"coding": [{"system": "http://snomed.info/sct", "code": "243144002"}], "text": "IPPV"}],
    "subject": {"reference": "Patient/example"},
}


def test_r4_order_detail_is_r4(engine: Engine) -> None:
    assert version.detect(R4_VENT_ORDER) == "R4"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": R4_VENT_ORDER}]}
    [result] = engine.check_bytes(orjson.dumps(bundle))
    assert result.fhir_version == "R4"
    assert not [f for f in result.findings if f.rule_id.startswith("STR")], result.findings


def test_r5_evidence_only_in_a_contained_resource() -> None:
    claim = build({"claim": {"lines": [{"code": "49406"}]}}, "R4")  # valid in R4 and R5 alike
    assert version.analyse(claim).evidence == "default"
    claim["contained"] = [
        {
            "resourceType": "Coverage",
            "id": "cov",
            "status": "active",
            "kind": "insurance",  # R5 only
            "beneficiary": {"reference": "Patient/p1"},
            "insurer": {"reference": "Organization/o1"},
        }
    ]
    assert version.detect(claim) == "R5"


def test_profiles_name_r4b_and_r5() -> None:
    claim = build({"claim": {"lines": [{"code": "49406"}]}}, "R4")
    claim["meta"] = {"profile": ["http://hl7.org/fhir/R4B/StructureDefinition/Claim"]}
    assert version.detect(claim) == "R4B"
    claim["meta"] = {"profile": ["http://example.org/StructureDefinition/my-claim|4.3.0"]}
    assert version.detect(claim) == "R4B"
    claim["meta"] = {"profile": ["http://hl7.org/fhir/R5/StructureDefinition/Claim"]}
    assert version.detect(claim) == "R5"


def test_r4b_reported_as_r4b(engine: Engine) -> None:
    claim = build({"claim": {"lines": [{"code": "49406"}]}}, "R4")
    claim["meta"] = {"profile": ["http://hl7.org/fhir/R4B/StructureDefinition/Claim"]}
    [result] = engine.check_bytes(orjson.dumps(claim))
    assert result.fhir_version == "R4B"


def test_a_broken_r4_claim_is_not_turned_into_r5(engine: Engine) -> None:
    """R5 made Claim.provider optional: a required element left out is the sender's R4 error, not
    evidence of R5."""
    claim = build({"claim": {"lines": [{"code": "49406", "site": "82849001"}]}}, "R4")
    del claim["provider"]
    [result] = engine.check_bytes(orjson.dumps(claim))
    assert result.fhir_version == "R4"
    assert ("STR002", ["Claim.provider"]) in [(f.rule_id, f.expression) for f in result.findings]


def test_every_resource_of_a_bundle_counts() -> None:
    r5 = build({"procedures": [{"code": "49406"}]}, "R5")
    assert version.detect(r5) == "R5"
    mixed = copy.deepcopy(r5)
    mixed["entry"].append(build({"procedures": [{"code": "49406"}]}, "R4")["entry"][0])
    found = version.analyse(mixed)
    assert found.conflict and "no single FHIR version" in found.conflict


def test_values_neither_version_accepts_are_no_version_evidence() -> None:
    bad = {"resourceType": "Claim", "status": 5, "item": "x"}
    found = version.analyse(bad)
    assert found.conflict is None and found.version == "R4"
