"""FHIR endpoints over HTTP: $validate, metadata, health, error answers."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from fhir.resources.operationoutcome import OperationOutcome as OO5
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome as OO4

from builders import build
from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(load_settings())) as c:
        yield c


def _codes(oo: dict) -> set[str]:
    return {c["code"] for i in oo["issue"] for c in i.get("details", {}).get("coding", [])}


def test_clean_claim_validates_to_one_information_issue(client):
    c = build({"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "approach": "percutaneous"}]}})
    r = client.post(
        "/fhir/Claim/$validate", content=orjson.dumps(c), headers={"Content-Type": "application/fhir+json"}
    )
    assert r.status_code == 200
    oo = r.json()
    OO4.model_validate(oo)
    assert all(i["severity"] in ("information", "warning") for i in oo["issue"])


def test_errors_are_200_with_located_issues(client):
    c = build({"claim": {"lines": [{"code": "49407", "units": 0}, {"code": "76942"}]}})
    r = client.post("/fhir/Claim/$validate", json=c)
    assert r.status_code == 200
    oo = r.json()
    assert {"GEN006", "DRN001"} <= _codes(oo)
    exprs = [e for i in oo["issue"] for e in i.get("expression", [])]
    assert "Claim.item[1].productOrService.coding[0]" in exprs or any(
        e.startswith("Claim.item[1]") for e in exprs
    )


def test_structural_errors_listed_with_expressions(client):
    c = build({"claim": {"lines": [{"code": "49407"}]}})
    c["item"][0]["quantity"] = {"value": "many"}
    c["created"] = "yesterday"
    r = client.post("/fhir/Claim/$validate", json=c)
    assert r.status_code == 200
    exprs = {e for i in r.json()["issue"] for e in i.get("expression", [])}
    assert "Claim.item[0].quantity.value" in exprs and "Claim.created" in exprs


def test_parameters_wrapping_a_resource(client):
    c = build({"claim": {"lines": [{"code": "49407", "units": 0}]}})
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": c}]}
    r = client.post("/fhir/Claim/$validate", json=params)
    assert r.status_code == 200
    assert "GEN006" in _codes(r.json())


def test_r5_in_r5_out(client):
    sr = build({"orders": [{"code": "49407", "approach": "transvaginal"}]}, "R5")["entry"][0]["resource"]
    r = client.post(
        "/fhir/ServiceRequest/$validate",
        content=orjson.dumps(sr),
        headers={"Content-Type": "application/fhir+json; fhirVersion=5.0"},
    )
    assert r.status_code == 200
    assert "fhirVersion=5.0" in r.headers["content-type"]
    OO5.model_validate(r.json())


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b'{"hello": 1}', 400), (b"[]", 400), (b'{"resourceType": "Procedure"}', 400)],
    ids=["not-json", "not-fhir", "array", "wrong-type"],
)
def test_bad_bodies_are_400_operation_outcome(client, body, status):
    r = client.post("/fhir/Claim/$validate", content=body, headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == status
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["issue"][0]["severity"] in ("error", "fatal")
    assert r.headers["content-type"].startswith("application/fhir+json")


def test_unsupported_type_and_version(client):
    r = client.post("/fhir/Patient/$validate", json={"resourceType": "Patient"})
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = client.post(
        "/fhir/Claim/$validate",
        content=b"{}",
        headers={"Content-Type": "application/fhir+json; fhirVersion=3.0"},
    )
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"


def test_metadata_is_a_valid_capability_statement(client):
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    cs = r.json()
    CapabilityStatement.model_validate(cs)
    ops = {
        (res["type"], op["name"])
        for rest in cs["rest"]
        for res in rest["resource"]
        for op in res["operation"]
    }
    assert {
        ("Claim", "validate"),
        ("Procedure", "validate"),
        ("ServiceRequest", "validate"),
        ("Bundle", "validate"),
    } <= ops


def test_health_and_unknown_paths(client):
    assert client.get("/health").json()["status"] == "ok"
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = client.delete("/cds-services")
    assert r.status_code == 405 and r.json()["resourceType"] == "OperationOutcome"


def test_openapi_documents_the_endpoints(client):
    spec = client.get("/openapi.json").json()
    for path in (
        "/cds-services",
        "/cds-services/{service_id}",
        "/fhir/{rtype}/$validate",
        "/fhir/metadata",
        "/health",
    ):
        assert path in spec["paths"]
    body = spec["paths"]["/cds-services/{service_id}"]["post"]["requestBody"]
    examples = body["content"]["application/json"]["examples"]  # one per service, its own hook's request
    assert examples["dev.fhirplugin.charge-entry"]["value"]["hook"].endswith(".charge-entry")
    assert examples["fhirplugin-order-sign"]["value"]["hook"] == "order-sign"


@pytest.mark.parametrize("claim_as", ["ExplanationOfBenefit", "ChargeItem"])
def test_validate_explanation_of_benefit_and_charge_item(client, claim_as):
    spec = {
        "claim": {
            "diagnoses": ["K65.1"],
            "lines": [{"code": "49407", "dx": [1]}, {"code": "76942", "dx": [1]}],
        }
    }
    doc = build({**spec, "claim_as": claim_as}, "R5")
    rtype = doc["resourceType"]  # a ChargeItem per line comes in a Bundle
    r = client.post(
        f"/fhir/{rtype}/$validate",
        content=orjson.dumps(doc),
        headers={"Content-Type": "application/fhir+json; fhirVersion=5.0"},
    )
    assert r.status_code == 200, r.text
    oo = r.json()
    OO5.model_validate(oo)
    assert "DRN001" in _codes(oo)
    caps = client.get("/fhir/metadata").json()
    assert {"ExplanationOfBenefit", "ChargeItem"} <= {x["type"] for x in caps["rest"][0]["resource"]}
