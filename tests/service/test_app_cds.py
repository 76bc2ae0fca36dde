"""CDS Hooks behaviour through the ASGI app (TestClient): discovery, cards, suggestions, 412, errors."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from builders import build, claim, procedure, service_request
from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app
from fhirplugin.service.cards import EXT_ISSUES, EXT_OUTCOME

SIGN = "/cds-services/fhirplugin-order-sign"
SELECT = "/cds-services/fhirplugin-order-select"
CHARGE = "/cds-services/dev.fhirplugin.charge-entry"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("fb") / "feedback.sqlite3"
    settings = load_settings(service={"feedback_db": str(db), "max_body_bytes": 200_000})
    with TestClient(create_app(settings)) as c:
        yield c


def orders_request(orders: list[dict], hook: str = "order-sign", **extra) -> dict:
    entries = [{"resource": service_request(o, sid=o.get("id", f"sr{i + 1}"))} for i, o in enumerate(orders)]
    body = {
        "hook": hook,
        "hookInstance": HOOK_INSTANCE,
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": entries},
        },
    }
    body["context"].update(extra)
    return body


def charge_request(spec: dict, **extra) -> dict:
    bundle = build({**spec, "bundle": True})
    body = {
        "hook": "dev.fhirplugin.charge-entry",
        "hookInstance": HOOK_INSTANCE,
        "context": {"userId": "Practitioner/dr1", "patientId": "p1", "draftClaims": bundle},
    }
    body.update(extra)
    return body


def no_nulls_or_empties(value, path="$"):
    if isinstance(value, dict):
        assert value, f"empty object at {path}"
        for k, v in value.items():
            if k == "cards":
                assert isinstance(v, list)
                for i, c in enumerate(v):
                    no_nulls_or_empties(c, f"{path}.cards[{i}]")
                continue
            no_nulls_or_empties(v, f"{path}.{k}")
    elif isinstance(value, list):
        assert value, f"empty array at {path}"
        for i, v in enumerate(value):
            no_nulls_or_empties(v, f"{path}[{i}]")
    else:
        assert value is not None and value != "", f"null or empty string at {path}"


def test_discovery_lists_the_three_services(client):
    r = client.get("/cds-services")
    assert r.status_code == 200
    services = {s["id"]: s for s in r.json()["services"]}
    assert services["fhirplugin-order-sign"]["hook"] == "order-sign"
    assert services["fhirplugin-order-select"]["hook"] == "order-select"
    charge = [s for s in services.values() if s["hook"].endswith(".charge-entry")]
    assert len(charge) == 1 and "." in charge[0]["hook"].removesuffix(".charge-entry")
    for s in services.values():
        assert s["description"] and s["title"]
        for template in s.get("prefetch", {}).values():
            assert "{{context." in template
    no_nulls_or_empties(r.json())


def test_bundled_guidance_order_gets_critical_card_with_delete_suggestion(client):
    body = orders_request([{"code": "49407", "approach": "transvaginal"}, {"code": "76942"}])
    r = client.post(SIGN, json=body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    drn = [c for c in cards if c["source"]["topic"]["code"] == "DRN001"]
    assert len(drn) == 1
    card = drn[0]
    assert card["indicator"] == "critical"
    assert len(card["summary"]) < 140
    assert "76942" in card["summary"] or "76942" in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    action = card["suggestions"][0]["actions"][0]
    assert action == {
        "type": "delete",
        "description": action["description"],
        "resourceId": "ServiceRequest/sr2",
    }
    assert card["suggestions"][0]["uuid"] and card["uuid"]
    assert all(reason["display"] for reason in card["overrideReasons"])
    issue = card["extension"][EXT_ISSUES][0]
    assert issue["details"]["coding"][0]["code"] == "DRN001"
    assert issue["expression"][0].startswith("Bundle.entry[1].resource")
    oo = r.json()["extension"][EXT_OUTCOME]
    assert oo["resourceType"] == "OperationOutcome"
    assert any(i["details"].get("coding", [{}])[0].get("code") == "DRN001" for i in oo["issue"])
    no_nulls_or_empties(r.json())


def test_card_uuids_are_stable_for_one_hook_instance(client):
    body = orders_request([{"code": "49407", "approach": "transvaginal"}, {"code": "76942"}])
    a = client.post(SIGN, json=body).json()["cards"]
    b = client.post(SIGN, json=body).json()["cards"]
    assert [c["uuid"] for c in a] == [c["uuid"] for c in b]


def test_orders_without_cpt_code_give_no_cards(client):
    body = orders_request([])
    body["context"]["draftOrders"]["entry"] = [
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "m1",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {"text": "aspirin"},
            }
        },
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "id": "s1",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2"}]},
            }
        },
    ]
    r = client.post(SIGN, json=body)
    assert r.status_code == 200
    assert r.json() == {"cards": []}


def test_order_select_focuses_on_the_selections(client):
    orders = [{"code": "49407", "approach": "transvaginal"}, {"code": "76942"}]
    body = orders_request(orders, hook="order-select", selections=["ServiceRequest/sr1"])
    codes = [c["source"]["topic"]["code"] for c in client.post(SELECT, json=body).json()["cards"]]
    assert "DRN001" not in codes  # the finding sits on the unselected guidance order
    body = orders_request(orders, hook="order-select", selections=["ServiceRequest/sr2"])
    codes = [c["source"]["topic"]["code"] for c in client.post(SELECT, json=body).json()["cards"]]
    assert "DRN001" in codes


def test_charge_entry_card_removes_the_bundled_claim_line(client):
    spec = {
        "claim": {
            "diagnoses": ["K65.1"],
            "lines": [{"code": "49407", "approach": "transrectal"}, {"code": "77012"}],
        }
    }
    body = charge_request(spec)
    r = client.post(CHARGE, json=body)
    assert r.status_code == 200, r.text
    card = next(c for c in r.json()["cards"] if c["source"]["topic"]["code"] == "DRN001")
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "update"
    fixed = action["resource"]
    assert fixed["resourceType"] == "Claim" and fixed["id"] == "c1"
    assert [i["productOrService"]["coding"][0]["code"] for i in fixed["item"]] == ["49407"]
    # the client's draft is not modified by the suggestion
    assert len(body["context"]["draftClaims"]["entry"][0]["resource"]["item"]) == 2


def _claim_referencing_missing_procedure() -> tuple[dict, list[dict]]:
    """A Claim whose line points at Procedure/px9 (which references its catheter Device)."""
    c = claim(
        {"diagnoses": ["K65.1"], "lines": [{"code": "49407", "procedure": 1}]}, proc_refs=["Procedure/px9"]
    )
    extra: list[dict] = []
    proc = procedure(
        {"code": "49407", "approach": "transvaginal", "devices": ["implanted"]}, pid="px9", extra=extra
    )
    return c, [proc, *extra]


def _charge_body(c: dict, **extra) -> dict:
    body = {
        "hook": "dev.fhirplugin.charge-entry",
        "hookInstance": HOOK_INSTANCE,
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftClaims": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": c}]},
        },
    }
    body.update(extra)
    return body


def test_missing_referenced_procedure_without_prefetch_or_server_is_412(client):
    c, _ = _claim_referencing_missing_procedure()
    r = client.post(CHARGE, json=_charge_body(c))
    assert r.status_code == 412
    assert r.headers["content-type"].startswith("application/fhir+json")
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert "Procedure/px9" in oo["issue"][0]["details"]["text"]


def test_referenced_procedure_from_prefetch(client):
    c, found = _claim_referencing_missing_procedure()
    entries = [{"resource": r} for r in found]
    prefetch = {"procedures": {"resourceType": "Bundle", "type": "searchset", "entry": entries}}
    r = client.post(CHARGE, json=_charge_body(c, prefetch=prefetch))
    assert r.status_code == 200, r.text


def test_prefetch_operation_outcome_is_treated_as_missing(client):
    c, _ = _claim_referencing_missing_procedure()
    oo = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    r = client.post(CHARGE, json=_charge_body(c, prefetch={"procedures": oo}))
    assert r.status_code == 412


class _FhirServer(BaseHTTPRequestHandler):
    resources: dict = {}
    seen_auth: list = []

    def do_GET(self):
        type(self).seen_auth.append(self.headers.get("Authorization"))
        key = self.path.split("/fhir/", 1)[-1]
        res = self.resources.get(key)
        body = json.dumps(res or {"resourceType": "OperationOutcome", "issue": []}).encode()
        self.send_response(200 if res else 404)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fhir_server():
    _FhirServer.resources = {}
    _FhirServer.seen_auth = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _FhirServer)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/fhir"
    srv.shutdown()


def test_referenced_procedure_read_from_fhir_server_with_bearer_token(client, fhir_server):
    _, base = fhir_server
    c, found = _claim_referencing_missing_procedure()
    for r in found:
        _FhirServer.resources[f"{r['resourceType']}/{r['id']}"] = r
    auth = {
        "access_token": "secret-token-abc",
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "patient/*.read",
        "subject": "fhirplugin",
    }
    r = client.post(CHARGE, json=_charge_body(c, fhirServer=base, fhirAuthorization=auth))
    assert r.status_code == 200, r.text
    assert _FhirServer.seen_auth and set(_FhirServer.seen_auth) == {"Bearer secret-token-abc"}


def test_fhir_server_without_the_resource_is_412(client, fhir_server):
    _, base = fhir_server
    c, _ = _claim_referencing_missing_procedure()
    r = client.post(CHARGE, json=_charge_body(c, fhirServer=base))
    assert r.status_code == 412


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(hook="patient-view"), "hook"),
        (lambda b: b.pop("context"), "context"),
        (lambda b: b["context"].pop("draftOrders"), "context.draftOrders"),
        (lambda b: b["context"]["draftOrders"]["entry"].append(5), "context.draftOrders.entry[2].resource"),
        (lambda b: b.update(fhirAuthorization={"access_token": "x"}), "fhirServer"),
        (lambda b: b.update(fhirServer="ftp://example.org"), "fhirServer"),
    ],
)
def test_bad_requests_get_400_operation_outcome_naming_the_element(client, mutate, where):
    body = orders_request([{"code": "49407"}, {"code": "76942"}])
    mutate(body)
    r = client.post(SIGN, json=body)
    assert r.status_code == 400, r.text
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["issue"][0]["expression"] == [where]


def test_nulls_in_requests_are_read_as_absent(client):
    body = orders_request([{"code": "49407", "approach": "transvaginal"}])
    body.update(fhirAuthorization=None, fhirServer=None, prefetch=None)
    body["context"]["encounterId"] = None
    assert client.post(SIGN, json=body).status_code == 200


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b"[" * 5000 + b"]" * 5000, 400),
        (b'{"a": "' + b"x" * 300_000 + b'"}', 413),
    ],
    ids=["not-json", "array", "deep", "too-large"],
)
def test_hostile_bodies_get_operation_outcomes(client, data, status):
    r = client.post(SIGN, content=data, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert r.json()["resourceType"] == "OperationOutcome"


def test_unknown_service_is_404_operation_outcome(client):
    r = client.post("/cds-services/nope", json={})
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"


def test_cors_preflight_allows_authorization_and_content_type(client):
    r = client.options(
        SIGN,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert r.status_code == 200
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_feedback_is_stored_once_and_read_back(client):
    fb = {
        "feedback": [
            {
                "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": "https://fhirplugin.dev/fhir/CodeSystem/override-reason",
                        "code": "payer-policy",
                        "display": "Payer policy allows this combination",
                    },
                    "userComment": "payer contract",
                },
                "outcomeTimestamp": "2026-11-20T10:00:00Z",
            }
        ]
    }
    url = CHARGE + "/feedback"
    first = client.post(url, json=fb)
    assert first.status_code == 200, first.text
    again = client.post(url, json=copy.deepcopy(fb))
    assert again.status_code == 200
    stored = client.get(url).json()["feedback"]
    assert [f for f in stored if f.get("card") == fb["feedback"][0]["card"]].__len__() == 1


def test_bad_feedback_is_400(client):
    r = client.post(CHARGE + "/feedback", json={"feedback": [{"outcome": "accepted"}]})
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"


def test_unauthenticated_calls_refused_when_bound_beyond_loopback():
    app = create_app(load_settings(), bind_host="0.0.0.0")
    with TestClient(app) as c:
        r = c.post(SIGN, json=orders_request([{"code": "49407"}]))
    assert r.status_code == 401
    assert r.json()["resourceType"] == "OperationOutcome"


def test_charge_entry_accepts_charge_items(client):
    """Charge capture in EHRs is ChargeItem-shaped: draftClaims may hold ChargeItems instead of a Claim."""
    spec = {
        "claim_as": "ChargeItem",
        "claim": {
            "diagnoses": ["K65.1"],
            "lines": [{"code": "49407", "approach": "transrectal"}, {"code": "77012"}],
        },
    }
    body = charge_request(spec)
    assert [e["resource"]["resourceType"] for e in body["context"]["draftClaims"]["entry"]] == [
        "ChargeItem"
    ] * 2
    r = client.post(CHARGE, json=body)
    assert r.status_code == 200, r.text
    card = next(c for c in r.json()["cards"] if c["source"]["topic"]["code"] == "DRN001")
    assert "77012" in card["summary"] + card.get("detail", "")
    issues = r.json()["extension"][EXT_OUTCOME]["issue"]
    assert not [i for i in issues if i["severity"] in ("error", "fatal") and "STR" in json.dumps(i)]
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "delete" and action["resourceId"] == "ChargeItem/ci2"


# -- the patient: context, prefetch ``patient`` or fhirServer (optional: never a 412) -------------------

MALE = {"resourceType": "Patient", "id": "p1", "gender": "male"}


def _gen008(r) -> list[dict]:
    assert r.status_code == 200, r.text
    return [c for c in r.json()["cards"] if c["source"]["topic"]["code"] == "GEN008"]


def test_discovery_asks_for_the_patient_in_prefetch(client):
    for s in client.get("/cds-services").json()["services"]:
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}", s["id"]


def test_prefetched_patient_reaches_the_sex_edit(client):
    body = orders_request([{"code": "49407", "approach": "transvaginal"}])
    assert _gen008(client.post(SIGN, json=body)) == []  # no patient: the edit cannot judge
    body["prefetch"] = {"patient": MALE}
    [card] = _gen008(client.post(SIGN, json=body))
    assert "transvaginal" in card["summary"] + card.get("detail", "")


def test_patient_read_from_fhir_server_reaches_the_sex_edit(client, fhir_server):
    _, base = fhir_server
    _FhirServer.resources["Patient/p1"] = MALE
    body = orders_request([{"code": "49407", "approach": "transvaginal"}])
    body["fhirServer"] = base
    body["fhirAuthorization"] = {
        "access_token": "tok-patient",
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "patient/Patient.read",
        "subject": "fhirplugin",
    }
    assert len(_gen008(client.post(SIGN, json=body))) == 1
    assert set(_FhirServer.seen_auth) == {"Bearer tok-patient"}


def test_patient_the_fhir_server_does_not_have_is_no_412(client, fhir_server):
    _, base = fhir_server  # answers 404 for Patient/p1
    body = orders_request([{"code": "49407", "approach": "transvaginal"}])
    body["fhirServer"] = base
    assert _gen008(client.post(SIGN, json=body)) == []
    assert _FhirServer.seen_auth  # it was asked


def test_patient_in_the_context_bundle_is_used(client):
    body = charge_request({"claim": {"diagnoses": ["O85"], "lines": [{"code": "49406", "dx": [1]}]}})
    body["context"]["draftClaims"]["entry"].append({"resource": MALE})
    [card] = _gen008(client.post(CHARGE, json=body))
    assert "O85" in card["summary"] + card.get("detail", "")


def test_an_element_name_no_path_can_hold_gives_cards_not_a_500(client):
    """A draft entry whose element name is not a FHIR name (a control character in it): its findings
    become cards located at the entry (no suggestion can be made there), not an internal error."""
    body = charge_request({"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}})
    body["context"]["draftClaims"]["entry"].append({"resource": {"_x\u0000y": {}}})
    r = client.post(CHARGE, json=body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    at_entry = [c for c in cards if c["extension"][EXT_ISSUES][0]["expression"][0].startswith("Bundle.entry[1]")]
    assert at_entry and all("suggestions" not in c for c in at_entry), cards
