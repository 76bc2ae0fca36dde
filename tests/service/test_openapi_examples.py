"""Every OpenAPI request example is the right request for its endpoint, and the service accepts it."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app
from fhirplugin.service.hooks import SERVICES


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oa")
    settings = load_settings(service={"feedback_db": str(tmp / "fb.sqlite3")})
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client) -> dict:
    return client.get("/openapi.json").json()


def _examples(spec: dict, path: str, media: str) -> dict:
    return spec["paths"][path]["post"]["requestBody"]["content"][media]["examples"]


def test_one_cds_example_per_service_with_that_services_hook(client, spec):
    examples = _examples(spec, "/cds-services/{service_id}", "application/json")
    assert set(examples) == set(SERVICES)
    for sid, ex in examples.items():
        body = ex["value"]
        assert body["hook"] == SERVICES[sid].hook, sid  # order-sign's example is an order-sign request
        r = client.post(f"/cds-services/{sid}", json=body)
        assert r.status_code == 200, (sid, r.text)
        cards = r.json()["cards"]
        assert cards and all(c["indicator"] in ("critical", "warning", "info") for c in cards)


def test_order_select_example_selects_one_of_its_draft_orders(spec):
    body = _examples(spec, "/cds-services/{service_id}", "application/json")["fhirplugin-order-select"][
        "value"
    ]
    ids = {f"ServiceRequest/{e['resource']['id']}" for e in body["context"]["draftOrders"]["entry"]}
    assert body["context"]["selections"] and set(body["context"]["selections"]) <= ids


def test_validate_examples_are_accepted_for_their_type(client, spec):
    examples = _examples(spec, "/fhir/{rtype}/$validate", "application/fhir+json")
    assert {"claim", "bundle", "order-r5"} <= set(examples)
    for key, ex in examples.items():
        body = ex["value"]
        ctype = "application/fhir+json" + ("; fhirVersion=5.0" if key == "order-r5" else "")
        r = client.post(
            f"/fhir/{body['resourceType']}/$validate",
            content=orjson.dumps(body),
            headers={"Content-Type": ctype},
        )
        assert r.status_code == 200, (key, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"


def test_feedback_example_is_stored(client, spec):
    ex = spec["paths"]["/cds-services/{service_id}/feedback"]["post"]["requestBody"]["content"][
        "application/json"
    ]["example"]
    assert client.post("/cds-services/fhirplugin-order-sign/feedback", json=ex).status_code == 200
