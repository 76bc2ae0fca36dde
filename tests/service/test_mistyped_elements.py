"""The fuzzer's crashing variants: drafts whose elements have the wrong JSON type.

Each used to answer 500 with a traceback (in ``is_cpt_order`` or ``_same_code_procedures``) and a
reset keep-alive connection. Now the drafts go through the CLI's structure check first: 422 with an
OperationOutcome naming the element, and the same connection keeps working.
"""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from builders import build, procedure, service_request
from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app

SIGN = "/cds-services/fhirplugin-order-sign"
SELECT = "/cds-services/fhirplugin-order-select"
CHARGE = "/cds-services/dev.fhirplugin.charge-entry"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("fb") / "feedback.sqlite3"
    with TestClient(create_app(load_settings(service={"feedback_db": str(db)})), raise_server_exceptions=False) as c:
        yield c


def _orders(hook: str) -> dict:
    sr = service_request({"code": "49411", "site": "prostate"}, sid="sr1")
    ctx = {
        "userId": "Practitioner/dr1",
        "patientId": "p1",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": sr}]},
    }
    if hook == "order-select":
        ctx["selections"] = ["ServiceRequest/sr1"]
    return {"hook": hook, "hookInstance": HOOK_INSTANCE, "context": ctx}


def _charge() -> dict:
    bundle = build({"bundle": True, "claim": {"lines": [{"code": "49407"}, {"code": "76942"}]}})
    return {
        "hook": "dev.fhirplugin.charge-entry",
        "hookInstance": HOOK_INSTANCE,
        "context": {"userId": "Practitioner/dr1", "patientId": "p1", "draftClaims": bundle},
    }


def _set(path: list, value):
    def mutate(body: dict) -> None:
        node = body
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value

    return mutate


ORDER = ["context", "draftOrders", "entry", 0, "resource"]
CLAIM = ["context", "draftClaims", "entry", 0, "resource"]
ORDER_AT = "context.draftOrders.entry[0].resource"
CLAIM_AT = "context.draftClaims.entry[0].resource"

VARIANTS = [
    (SIGN, _orders("order-sign"), [*ORDER, "code", "coding"], True, f"{ORDER_AT}.code.coding"),
    (SIGN, _orders("order-sign"), [*ORDER, "code", "coding"], 5, f"{ORDER_AT}.code.coding"),
    (SELECT, _orders("order-select"), [*ORDER, "code", "coding"], True, f"{ORDER_AT}.code.coding"),
    (SELECT, _orders("order-select"), [*ORDER, "code", "coding"], 5, f"{ORDER_AT}.code.coding"),
    (CHARGE, _charge(), [*CLAIM, "item"], 5, f"{CLAIM_AT}.item"),
    (CHARGE, _charge(), [*CLAIM, "item", 0, "productOrService"], 1.5, f"{CLAIM_AT}.item[0].productOrService"),
    (
        CHARGE,
        _charge(),
        [*CLAIM, "item", 0, "productOrService", "coding"],
        True,
        f"{CLAIM_AT}.item[0].productOrService.coding",
    ),
    (CHARGE, _charge(), [*CLAIM, "item", 1], 5, f"{CLAIM_AT}.item[1]"),
]


@pytest.mark.parametrize(("path", "base", "where", "value", "element"), VARIANTS)
def test_mistyped_element_is_422_naming_it(client, path, base, where, value, element):
    body = copy.deepcopy(base)
    _set(where, value)(body)
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["issue"][0]["expression"] == [element]
    assert "Traceback" not in r.text
    # the service is still answering on the same client
    assert client.post(path, json=base).status_code == 200


def test_mistyped_prefetched_procedure_is_reported_not_a_500(client):
    # charge-entry looks through prefetched Procedures for a claim line's code; code = 5 crashed it
    body = _charge()
    proc = procedure({"code": "49407"}, pid="pp1", extra=[])
    proc["code"] = 5
    body["prefetch"] = {"procedures": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": proc}]}}
    r = client.post(CHARGE, json=body)
    assert r.status_code == 200, r.text


def test_validate_with_mistyped_elements_is_an_outcome_not_a_500(client):
    sr = service_request({"code": "49411"}, sid="sr1")
    sr["code"]["coding"] = True
    r = client.post("/fhir/ServiceRequest/$validate", json=sr)
    assert r.status_code in (200, 400, 422), r.text
    issues = r.json()["issue"]
    assert any(i.get("expression") == ["ServiceRequest.code.coding"] for i in issues)


def test_validate_claim_with_item_a_number_is_an_outcome_not_a_500(client):
    # version detection iterated Claim.item; 5 raised TypeError in $validate (and in the CLI)
    c = build({"claim": {"lines": [{"code": "49407"}]}})
    c["item"] = 5
    r = client.post("/fhir/Claim/$validate", json=c)
    assert r.status_code in (200, 400, 422), r.text
    assert any(i.get("expression") == ["Claim.item"] for i in r.json()["issue"])
