"""The EHR side of the CDS Hooks services: cards that link to the rule pages, the opt-in no-problems
card, order-dispatch and encounter-discharge (prefetch, fhirServer searches, 412), ChargeItems."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from loopback import Loopback, Reply
from test_app_cds import CHARGE, HOOK_INSTANCE, SIGN, charge_request, no_nulls_or_empties, orders_request

from builders import claim, procedure, service_request
from fhirplugin.config import load_settings
from fhirplugin.engine import Engine
from fhirplugin.service.app import create_app
from fhirplugin.service.cards import EXT_OUTCOME
from fhirplugin.service.hooks import CONFIG_KEY, CONFIG_OPTIONS_KEY, NO_PROBLEMS_CARD

DISPATCH = "/cds-services/fhirplugin-order-dispatch"
DISCHARGE = "/cds-services/fhirplugin-encounter-discharge"
ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://cds.example.org/fhirplugin"


class SpyEngine(Engine):
    """The real engine, remembering the Bundles it was given."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.seen: list[dict] = []

    def check_object(self, obj, *a, **kw):
        self.seen.append(copy.deepcopy(obj))
        return super().check_object(obj, *a, **kw)


@pytest.fixture(scope="module")
def engine():
    return SpyEngine()


def _client(tmp_path_factory, engine, **service):
    db = tmp_path_factory.mktemp("fb") / "fb.sqlite3"
    return TestClient(create_app(load_settings(service={"feedback_db": str(db), **service}), engine=engine))


@pytest.fixture(scope="module")
def client(tmp_path_factory, engine):
    with _client(tmp_path_factory, engine, public_url=PUBLIC) as c:
        yield c


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory, engine):
    with _client(tmp_path_factory, engine) as c:
        yield c


def _guidance_orders() -> dict:
    return orders_request([{"code": "49407", "approach": "transvaginal"}, {"code": "76942"}])


# --- cards link to the rule pages ----------------------------------------------------------------


def test_cards_link_to_the_rule_page_under_the_public_url(client):
    r = client.post(SIGN, json=_guidance_orders())
    card = next(c for c in r.json()["cards"] if c["source"]["topic"]["code"] == "DRN001")
    assert card["source"]["url"] == f"{PUBLIC}/rules/DRN001"
    assert card["links"] == [
        {"label": card["links"][0]["label"], "url": f"{PUBLIC}/rules/DRN001", "type": "absolute"}
    ]
    assert "DRN001" in card["links"][0]["label"]


def test_without_a_public_url_links_use_the_called_base_url_and_the_page_answers(plain_client):
    r = plain_client.post(SIGN, json=_guidance_orders())
    card = next(c for c in r.json()["cards"] if c["source"]["topic"]["code"] == "DRN001")
    url = card["links"][0]["url"]
    assert url == "http://testserver/rules/DRN001"
    page = plain_client.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "What it checks" in page.text and "DRN001" in page.text


# --- the opt-in no-problems card -----------------------------------------------------------------


def _clean_order(**extension) -> dict:
    body = orders_request([{"code": "49407", "approach": "transvaginal", "reasons": ["K65.1"]}])
    if extension:
        body["extension"] = {CONFIG_KEY: extension}
    return body


def test_clean_order_has_no_card_unless_the_client_opts_in(client):
    assert client.post(SIGN, json=_clean_order()).json()["cards"] == []
    assert client.post(SIGN, json=_clean_order(**{NO_PROBLEMS_CARD: False})).json()["cards"] == []
    cards = client.post(SIGN, json=_clean_order(**{NO_PROBLEMS_CARD: True})).json()["cards"]
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "info"
    assert "ServiceRequest/sr1" in card["detail"]
    # an Instructions card in CRD terms: text only
    assert "links" not in card and "suggestions" not in card
    assert card["source"]["topic"]["code"] == "no-problems"


def test_no_problems_card_also_when_nothing_is_cpt_coded(client):
    body = orders_request([])
    body["context"]["draftOrders"]["entry"] = [
        {"resource": {**service_request({"code": "24627-2"}, sid="s1"), "code": {"text": "lab"}}}
    ]
    body["extension"] = {CONFIG_KEY: {NO_PROBLEMS_CARD: True}}
    cards = client.post(SIGN, json=body).json()["cards"]
    assert len(cards) == 1 and "Nothing to check" in cards[0]["summary"]


def test_discovery_offers_the_option_and_the_new_hooks(client):
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    assert services["fhirplugin-order-dispatch"]["hook"] == "order-dispatch"
    assert services["fhirplugin-encounter-discharge"]["hook"] == "encounter-discharge"
    discharge = services["fhirplugin-encounter-discharge"]["prefetch"]
    assert discharge["procedures"].startswith("Procedure?patient={{context.patientId}}")
    assert "ChargeItem?" in discharge["chargeItems"] and "Claim?" in discharge["claims"]
    for s in services.values():
        option = s["extension"][CONFIG_OPTIONS_KEY][0]
        assert (
            option["code"] == NO_PROBLEMS_CARD and option["type"] == "boolean" and option["default"] is False
        )
    no_nulls_or_empties(client.get("/cds-services").json())


# --- order-dispatch ------------------------------------------------------------------------------


def _dispatch(context: dict, prefetch: dict | None = None, **extra) -> dict:
    body = {
        "hook": "order-dispatch",
        "hookInstance": HOOK_INSTANCE,
        "context": {"patientId": "p1", **context},
    }
    if prefetch:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def _searchset(*resources) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _site_order(sid: str = "ord1", status: str = "active") -> dict:
    # 49411 for a prostate site: DEV002 says 55876
    return service_request({"code": "49411", "site": "41216001", "status": status}, sid=sid)


@pytest.mark.parametrize(
    "context",
    [
        {"dispatchedOrders": ["ServiceRequest/ord1"], "performer": "Organization/rad"},  # 1.1
        {"dispatched-orders": ["ServiceRequest/ord1"], "performer": "Organization/rad"},  # hooklib example
        {"order": "ServiceRequest/ord1", "performer": "Practitioner/p9"},  # 1.0 (CRD, Inferno)
        {
            "fulfillmentTasks": [{"resourceType": "Task", "focus": {"reference": "ServiceRequest/ord1"}}],
            "dispatchedOrders": ["MedicationRequest/m1"],
            "performer": "Organization/rad",
        },
    ],
    ids=["dispatchedOrders", "dispatched-orders", "order", "task-focus"],
)
def test_order_dispatch_checks_the_dispatched_orders_from_prefetch(client, context):
    r = client.post(DISPATCH, json=_dispatch(context, {"orders": _searchset(_site_order())}))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    dev = [c for c in cards if c["source"]["topic"]["code"] == "DEV002"]
    assert len(dev) == 1
    assert "ServiceRequest/ord1" in dev[0]["detail"]  # CRD: name the resource the card is about
    assert "suggestions" not in dev[0]  # a signed order on the EHR's server: no one-click edit
    oo = r.json()["extension"][EXT_OUTCOME]
    assert any(i.get("expression") == ["ServiceRequest.code.coding[0]"] for i in oo["issue"]), oo


def test_order_dispatch_reads_the_order_from_the_fhir_server(client):
    with Loopback() as fhir:
        fhir.routes["/fhir/ServiceRequest/ord1"] = Reply.json(_site_order())
        body = _dispatch(
            {"dispatchedOrders": ["ServiceRequest/ord1"], "performer": "Organization/rad"},
            fhirServer=fhir.url("/fhir"),
            fhirAuthorization={
                "access_token": "tok-123",
                "token_type": "Bearer",
                "expires_in": 60,
                "scope": "user/ServiceRequest.read",
                "subject": "fhirplugin",
            },
        )
        r = client.post(DISPATCH, json=body)
    assert r.status_code == 200, r.text
    assert any(c["source"]["topic"]["code"] == "DEV002" for c in r.json()["cards"])
    assert fhir.hits("/fhir/ServiceRequest/ord1") == 1
    assert fhir.requests[0].headers["Authorization"] == "Bearer tok-123"


def test_order_dispatch_without_the_order_is_412_naming_it(client):
    r = client.post(
        DISPATCH, json=_dispatch({"dispatchedOrders": ["ServiceRequest/gone"], "performer": "Organization/x"})
    )
    assert r.status_code == 412
    assert "ServiceRequest/gone" in r.json()["issue"][0]["details"]["text"]


@pytest.mark.parametrize(
    ("context", "where"),
    [
        ({"performer": "Organization/x"}, "context.dispatchedOrders"),
        ({"dispatchedOrders": [5], "performer": "Organization/x"}, "context.dispatchedOrders[0]"),
        ({"order": "not a reference", "performer": "Organization/x"}, "context.order"),
    ],
)
def test_order_dispatch_bad_context_is_400_naming_the_element(client, context, where):
    r = client.post(DISPATCH, json=_dispatch(context))
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == [where]


def test_order_dispatch_of_non_cpt_orders_has_no_card(client):
    lab = {
        **service_request({"code": "x"}, sid="lab1"),
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
    }
    r = client.post(
        DISPATCH,
        json=_dispatch({"order": "ServiceRequest/lab1", "performer": "Organization/x"}, {"order": lab}),
    )
    assert r.status_code == 200 and r.json() == {"cards": []}


# --- encounter-discharge -------------------------------------------------------------------------


def _drainage_resources() -> list[dict]:
    bundle = json.loads((ROOT / "examples" / "drainage" / "bundle.json").read_text())
    return [e["resource"] for e in bundle["entry"]]


def _discharge(prefetch: dict | None, **extra) -> dict:
    body = {
        "hook": "encounter-discharge",
        "hookInstance": HOOK_INSTANCE,
        "context": {"userId": "Practitioner/dr1", "patientId": "example", "encounterId": "enc1"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def _by_type(resources: list[dict]) -> dict:
    keys = {
        "Procedure": "procedures",
        "Claim": "claims",
        "ChargeItem": "chargeItems",
        "Condition": "conditions",
        "Device": "devices",
        "DiagnosticReport": "reports",
        "ImagingStudy": "imaging",
    }
    out: dict = {}
    for r in resources:
        out.setdefault(keys[r["resourceType"]], _searchset()).setdefault("entry", []).append({"resource": r})
    out.setdefault("chargeItems", {"resourceType": "Bundle", "type": "searchset", "total": 0})
    return out


def test_encounter_discharge_gives_a_card_for_every_finding(client, engine):
    resources = _drainage_resources()
    r = client.post(DISCHARGE, json=_discharge(_by_type(resources)))
    assert r.status_code == 200, r.text
    body = r.json()
    issues = body["extension"][EXT_OUTCOME]["issue"]
    rule_issues = [i for i in issues if i.get("details", {}).get("coding")]
    assert len(body["cards"]) == len(rule_issues) >= 5
    codes = {c["source"]["topic"]["code"] for c in body["cards"]}
    assert {"DRN001", "DRN002", "DRN004"} <= codes
    # the prefetched Claim is not a draft: no suggestion to update it
    assert all("suggestions" not in c for c in body["cards"])


def test_encounter_discharge_offers_edits_of_a_draft_claim(client):
    resources = _drainage_resources()
    for r in resources:
        if r["resourceType"] == "Claim":
            r["status"] = "draft"
    body = client.post(DISCHARGE, json=_discharge(_by_type(resources))).json()
    drn001 = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "DRN001")
    action = drn001["suggestions"][0]["actions"][0]
    assert action["type"] == "update" and action["resource"]["resourceType"] == "Claim"


def test_encounter_discharge_passes_charge_items_to_the_engine(client, engine):
    item = {
        "resourceType": "ChargeItem",
        "id": "ci1",
        "status": "billable",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "49407"}]},
        "subject": {"reference": "Patient/example"},
        "context": {"reference": "Encounter/enc1"},
    }
    other = {**copy.deepcopy(item), "id": "ci2", "context": {"reference": "Encounter/other"}}
    prefetch = {
        "procedures": {"resourceType": "Bundle", "type": "searchset", "total": 0},
        "claims": {"resourceType": "Bundle", "type": "searchset", "total": 0},
        "chargeItems": _searchset(item, other),
    }
    engine.seen.clear()
    r = client.post(DISCHARGE, json=_discharge(prefetch))
    assert r.status_code == 200, r.text
    sent = [e["resource"] for e in engine.seen[-1]["entry"]]
    assert [x["id"] for x in sent if x["resourceType"] == "ChargeItem"] == [
        "ci1"
    ]  # not the other encounter's


def test_encounter_discharge_keeps_only_the_encounters_procedures(client, engine):
    c = claim({"diagnoses": ["K65.1"], "lines": [{"code": "49407", "approach": "transvaginal"}]})
    mine = procedure({"code": "49407", "approach": "transvaginal"}, pid="px1", extra=[])
    mine["encounter"] = {"reference": "Encounter/enc1"}
    theirs = {**copy.deepcopy(mine), "id": "px2", "encounter": {"reference": "Encounter/enc0"}}
    prefetch = {
        "procedures": _searchset(mine, theirs),
        "claims": _searchset(c),
        "chargeItems": {"resourceType": "Bundle", "type": "searchset", "total": 0},
    }
    engine.seen.clear()
    assert client.post(DISCHARGE, json=_discharge(prefetch)).status_code == 200
    ids = [e["resource"]["id"] for e in engine.seen[-1]["entry"]]
    assert "px1" in ids and "px2" not in ids


def test_encounter_discharge_without_prefetch_or_server_is_412_naming_the_keys(client):
    r = client.post(DISCHARGE, json=_discharge(None))
    assert r.status_code == 412
    text = r.json()["issue"][0]["details"]["text"]
    assert "procedures" in text and "chargeItems" in text and "claims" in text


def test_encounter_discharge_searches_the_fhir_server(client):
    resources = _drainage_resources()
    by_type: dict[str, list] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(res)
    with Loopback() as fhir:
        for rtype, found in by_type.items():
            fhir.routes[f"/fhir/{rtype}"] = Reply.json(_searchset(*found))
            for res in found:
                fhir.routes[f"/fhir/{rtype}/{res['id']}"] = Reply.json(res)
        fhir.routes["/fhir/ChargeItem"] = Reply.json(
            {"resourceType": "Bundle", "type": "searchset", "total": 0}
        )
        r = client.post(DISCHARGE, json=_discharge(None, fhirServer=fhir.url("/fhir")))
        searches = {s.path: s.query for s in fhir.requests if s.path.count("/") == 2}
    assert r.status_code == 200, r.text
    assert (
        "encounter=enc1" in searches["/fhir/Procedure"] and "patient=example" in searches["/fhir/Procedure"]
    )
    assert "context=enc1" in searches["/fhir/ChargeItem"]
    assert {"DRN001", "DRN004"} <= {c["source"]["topic"]["code"] for c in r.json()["cards"]}


@pytest.mark.parametrize("missing", ["encounterId", "patientId"])
def test_encounter_discharge_needs_patient_and_encounter(client, missing):
    body = _discharge({})
    del body["context"][missing]
    r = client.post(DISCHARGE, json=body)
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == [f"context.{missing}"]


# --- charge-entry keeps working and accepts ChargeItems -------------------------------------------


def test_charge_entry_accepts_charge_items(client, engine):
    body = charge_request(
        {"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49407", "approach": "transrectal"}]}}
    )
    body["context"]["draftClaims"]["entry"].append(
        {
            "resource": {
                "resourceType": "ChargeItem",
                "id": "ci9",
                "status": "billable",
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "77012"}]},
                "subject": {"reference": "Patient/p1"},
            }
        }
    )
    engine.seen.clear()
    r = client.post(CHARGE, json=body)
    assert r.status_code == 200, r.text
    assert any(e["resource"]["resourceType"] == "ChargeItem" for e in engine.seen[-1]["entry"])


def test_charge_entry_with_only_charge_items_answers_200(client):
    body = charge_request({"claim": {"lines": [{"code": "49407"}]}})
    body["context"]["draftClaims"]["entry"] = [
        {
            "resource": {
                "resourceType": "ChargeItem",
                "id": "ci1",
                "status": "billable",
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "49407"}]},
                "subject": {"reference": "Patient/p1"},
            }
        }
    ]
    r = client.post(CHARGE, json=body)
    assert r.status_code == 200, r.text
    # the ChargeItem is read as a charge line: its 49407 without a diagnosis gets the drainage warning
    cards = r.json()["cards"]
    assert [(c["indicator"], c["source"]["topic"]["code"]) for c in cards] == [("warning", "DRN006")]


def test_order_dispatch_whose_order_the_fhir_server_cannot_give_is_412_naming_it(client):
    """fhirServer answers 404 for the dispatched order: the call ends in 412 naming the order and why,
    as when nothing could be read, not 200 with no cards (the failed read's reason was taken for the
    order)."""
    with Loopback() as fhir:  # no route: every read is a 404 OperationOutcome
        body = _dispatch(
            {"dispatchedOrders": ["ServiceRequest/gone"], "performer": "Organization/rad"},
            fhirServer=fhir.url("/fhir"),
        )
        r = client.post(DISPATCH, json=body)
        assert fhir.hits("/fhir/ServiceRequest/gone") == 1
    assert r.status_code == 412, r.text
    assert "ServiceRequest/gone" in r.json()["issue"][0]["details"]["text"]
