"""The CRD card checker (tests/service/crd.py) itself: it cites real requirement rows of the Inferno
CRD test kit, passes our cards and catches each kind of broken card."""

from __future__ import annotations

import copy

import crd
import pytest
from fastapi.testclient import TestClient
from test_app_cds import SIGN, orders_request

from fhirplugin.config import load_settings
from fhirplugin.service import cds
from fhirplugin.service.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("fb") / "fb.sqlite3"
    settings = load_settings(service={"feedback_db": str(db), "public_url": "https://cds.example.org/base"})
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def card_response(client, shared):
    body = orders_request([{"code": "49407", "approach": "transvaginal"}, {"code": "76942"}])
    r = client.post(SIGN, json=body)
    assert r.status_code == 200
    return r.json()


def test_every_checked_row_is_a_service_requirement_of_the_kit(shared):
    rows = crd.requirement_rows()
    for key in crd.CHECKED_ROWS:
        assert key in rows, key
        actors = rows[key]["Actors"]
        assert "Service" in actors or "Server" in actors, (key, actors)


def test_the_check_wraps_every_hook_call_in_the_service_tests(shared):
    assert cds.run.__name__ == "checked"


def test_our_cards_pass_and_carry_an_external_reference(card_response):
    assert crd.problems(card_response) == []
    card = card_response["cards"][0]
    assert card["links"][0]["type"] == "absolute"
    assert card["source"]["url"].startswith("https://cds.example.org/base/rules/")


BREAKS = [
    (lambda c: c.update(summary="x" * 140), "cds-hooks_2.0@83"),
    (lambda c: c.update(indicator="hard-stop"), "cds-hooks_2.0@88"),
    (lambda c: c.pop("source"), "cds-hooks_2.0@90"),
    (lambda c: c["source"]["topic"].pop("system"), "hl7.fhir.us.davinci-crd_2.0.1@232"),
    (lambda c: c["source"].update(url="/rules/DRN001"), "cds-hooks_2.0@107"),
    (lambda c: c.pop("selectionBehavior"), "cds-hooks_2.0@93"),
    (lambda c: c["suggestions"][0].pop("uuid"), "hl7.fhir.us.davinci-crd_2.0.1@77"),
    (lambda c: c["suggestions"][0].update(actions=[]), "cds-hooks_2.0@3"),
    (lambda c: c["suggestions"][0]["actions"][0].update(resource="ServiceRequest/sr2"), "cds-hooks_2.0@134"),
    (lambda c: c["overrideReasons"][0].pop("display"), "cds-hooks_2.0@100"),
    (lambda c: c["links"][0].update(type="smart"), "hl7.fhir.us.davinci-crd_2.0.1@259"),
    (lambda c: c["links"][0].update(appContext="x"), "cds-hooks_2.0@147"),
    (lambda c: c["links"][0].update(url="rules/DRN001"), "cds-hooks_2.0@139"),
    (lambda c: c.update(detail=None), "cds-hooks_2.0@3"),
    (lambda c: c.update(links=[]), "cds-hooks_2.0@3"),
]


@pytest.mark.parametrize(("brk", "row"), BREAKS, ids=[r for _, r in BREAKS])
def test_each_broken_card_is_caught(card_response, brk, row):
    body = copy.deepcopy(card_response)
    brk(body["cards"][0])
    found = crd.problems(body)
    assert any(p.startswith(row + ":") for p in found), found
