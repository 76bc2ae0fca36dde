"""Every public CDS Hooks request in ../shared/reference/cds-hooks (spec examples, hook-library contexts,
Inferno presets and fixtures, Da Vinci RI requests, Argonaut PAMA requests) against our services.

Requests for a hook we serve answer 200 with a response that passes the derived CDS Hooks 2.0 schema,
and with no warning or critical card unless they hold a CPT-coded order. order-dispatch requests name
their orders by reference: they are sent without fhirServer (no network in the tests) and answer 200
when the order is prefetched, else 412 naming it. Requests for a hook we do not serve (patient-view)
are refused with 400 and an OperationOutcome naming ``hook``.
Skipped cleanly when ../shared is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app
from fhirplugin.service.cds import is_cpt_order

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "cds-hooks"
SERVED = {
    "order-sign": "fhirplugin-order-sign",
    "order-select": "fhirplugin-order-select",
    "order-dispatch": "fhirplugin-order-dispatch",
}


def _requests() -> list[tuple[str, dict]]:
    out = []
    if not SHARED.is_dir():
        return out
    for path in sorted([*SHARED.glob("examples/*.json"), *SHARED.glob("crd-fixtures/*.json")]):
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            continue
        if "hook" in data and "context" in data:
            out.append((path.name, data))
        elif "-context-" in path.name and isinstance(data.get("context"), dict):
            hook = path.name.split("_", 1)[1].split("-context-")[0]
            out.append(
                (path.name, {"hook": hook, "hookInstance": "4e8d5f84-0c9e-4e3a-a3c8-4f3a1f0f4c11", **data})
            )
    return out


REQUESTS = _requests()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("fb") / "fb.sqlite3"
    with TestClient(create_app(load_settings(service={"feedback_db": str(db)}))) as c:
        yield c


@pytest.fixture(scope="module")
def response_schema():
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    schema = json.loads((SHARED / "schema" / "DERIVED_cds-hooks-2.0.schema.json").read_text())
    registry = referencing.Registry().with_resource(schema["$id"], referencing.Resource.from_contents(schema))

    def validator(name: str):
        return jsonschema.Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{name}"}, registry=registry)

    return validator


def _holds_cpt_order(req: dict) -> bool:
    bundle = (req.get("context") or {}).get("draftOrders") or {}
    entries = bundle.get("entry") or [] if isinstance(bundle, dict) else []
    return any(
        isinstance(e, dict) and isinstance(e.get("resource"), dict) and is_cpt_order(e["resource"])
        for e in entries
    )


def test_shared_requests_found(shared):
    assert len(REQUESTS) >= 15


@pytest.mark.parametrize(("name", "req"), REQUESTS, ids=[n for n, _ in REQUESTS] or None)
def test_public_request(client, response_schema, name, req):
    service = SERVED.get(req["hook"])
    if service is None:
        r = client.post("/cds-services/fhirplugin-order-sign", json=req)
        assert r.status_code == 400
        assert r.json()["issue"][0]["expression"] == ["hook"]
        return
    if req["hook"] == "order-dispatch":
        req = {k: v for k, v in req.items() if k not in ("fhirServer", "fhirAuthorization")}
        r = client.post(f"/cds-services/{service}", json=req)
        if r.status_code == 412:
            assert "ServiceRequest/" in r.json()["issue"][0]["details"]["text"], r.text
            return
    else:
        r = client.post(f"/cds-services/{service}", json=req)
    assert r.status_code == 200, r.text
    body = r.json()
    errors = sorted(response_schema("Response").iter_errors(body), key=str)
    assert not errors, [e.message for e in errors[:5]]
    if not _holds_cpt_order(req):
        assert all(c["indicator"] == "info" for c in body["cards"]), body["cards"]


def test_discovery_passes_the_derived_schema(client, response_schema, shared):
    body = client.get("/cds-services").json()
    assert not list(response_schema("DiscoveryResponse").iter_errors(body))


def test_spec_feedback_examples_are_accepted(client, shared):
    for path in sorted((SHARED / "examples").glob("spec2.0_feedback-*.json")):
        r = client.post("/cds-services/fhirplugin-order-sign/feedback", json=json.loads(path.read_text()))
        assert r.status_code == 200, (path.name, r.text)
