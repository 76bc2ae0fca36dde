"""Service policy through the app: Content-Type (415), cross-site refusal in loopback mode (403),
CORS, ``$validate`` behind the JWT, the per-request budget (413), and feedback paging."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from builders import build, service_request
from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app

SIGN = "/cds-services/fhirplugin-order-sign"
FEEDBACK = "/cds-services/fhirplugin-order-sign/feedback"
ISS = "https://ehr.example.org"


def hook_body() -> dict:
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []},
        },
    }


def feedback_body(n: int = 1) -> dict:
    return {
        "feedback": [
            {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-01-15T10:05:31Z"}
            for _ in range(n)
        ]
    }


@pytest.fixture
def client(tmp_path):
    settings = load_settings(
        service={"feedback_db": str(tmp_path / "fb.sqlite3"), "cors_origins": ["*", "https://sandbox.example"]}
    )
    with TestClient(create_app(settings)) as c:
        yield c


# -- Content-Type --------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "text/xml", None, "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("path", [SIGN, FEEDBACK, "/fhir/ServiceRequest/$validate"])
def test_json_in_another_content_type_is_415(client, path, ctype):
    body = feedback_body() if path == FEEDBACK else hook_body()
    if path.startswith("/fhir"):
        body = service_request({"code": "49411"}, sid="sr1")
    headers = {"Content-Type": ctype} if ctype else {}
    r = client.post(path, content=json.dumps(body).encode(), headers=headers)
    assert r.status_code == 415, r.text  # before: 200
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome" and oo["issue"][0]["code"] == "not-supported"
    assert r.headers["accept-post"] == "application/json, application/fhir+json"


@pytest.mark.parametrize(
    "ctype", ["application/json", "application/json; charset=utf-8", "application/fhir+json; fhirVersion=4.0"]
)
def test_both_json_media_types_are_accepted(client, ctype):
    r = client.post(SIGN, content=json.dumps(hook_body()).encode(), headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text


# -- cross-site writes in loopback mode ----------------------------------------------------------


def _stored(client) -> int:
    return len(client.get(FEEDBACK).json()["feedback"])


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_site_feedback_write_is_refused_in_loopback_mode(client, headers):
    r = client.post(FEEDBACK, json=feedback_body(), headers=headers)
    assert r.status_code == 403, r.text  # before: stored, and the page could read the answer
    assert r.json()["issue"][0]["code"] == "forbidden"
    assert _stored(client) == 0
    assert client.post(SIGN, json=hook_body(), headers=headers).status_code == 403


def test_same_origin_and_listed_origins_may_write(client):
    assert client.post(FEEDBACK, json=feedback_body(), headers={"Origin": "http://testserver"}).status_code == 200
    ok = client.post(FEEDBACK, json=feedback_body(), headers={"Origin": "https://sandbox.example"})
    assert ok.status_code == 200
    assert client.post(FEEDBACK, json=feedback_body(), headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert _stored(client) == 3


def test_cors_never_allows_credentials(client):
    pre = client.options(
        SIGN,
        headers={
            "Origin": "https://any.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.headers.get("access-control-allow-origin") == "*"
    assert "access-control-allow-credentials" not in pre.headers


# -- $validate with issuers configured -----------------------------------------------------------


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP384R1())


def _jwt_app(tmp_path, key, **service) -> TestClient:
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="ES384", use="sig")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    settings = load_settings(
        service={
            "issuers": [{"iss": ISS, "jwks_file": str(tmp_path / "jwks.json")}],
            "feedback_db": str(tmp_path / "fb.sqlite3"),
            **service,
        }
    )
    return TestClient(create_app(settings, bind_host="0.0.0.0"))


def _token(key, aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "exp": now + 120, "iat": now, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


VALIDATE = "/fhir/ServiceRequest/$validate"


def test_validate_needs_a_token_when_issuers_are_configured(tmp_path, key):
    sr = service_request({"code": "49411"}, sid="sr1")
    with _jwt_app(tmp_path, key) as c:
        assert c.post(VALIDATE, json=sr).status_code == 401  # before: open to anyone
        ok = c.post(VALIDATE, json=sr, headers={"Authorization": f"Bearer {_token(key, 'http://testserver' + VALIDATE)}"})
        assert ok.status_code == 200, ok.text
        assert c.get("/fhir/metadata").status_code == 200  # the CapabilityStatement stays public


def test_validate_open_when_configured(tmp_path, key):
    sr = service_request({"code": "49411"}, sid="sr1")
    with _jwt_app(tmp_path, key, validate_open=True) as c:
        assert c.post(VALIDATE, json=sr).status_code == 200
        assert c.post(SIGN, json=hook_body()).status_code == 401  # the hooks still need one


# -- the per-request budget ----------------------------------------------------------------------


def test_validate_bundle_over_the_resource_budget_is_413(tmp_path):
    settings = load_settings(service={"feedback_db": str(tmp_path / "fb.sqlite3"), "max_resources": 20})
    sr = service_request({"code": "49411"}, sid="sr1")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": sr}] * 21}
    with TestClient(create_app(settings)) as c:
        r = c.post("/fhir/Bundle/$validate", json=bundle)
        assert r.status_code == 413, r.text
        assert r.json()["issue"][0]["code"] == "too-costly"
        bundle["entry"] = bundle["entry"][:20]
        assert c.post("/fhir/Bundle/$validate", json=bundle).status_code == 200


def test_claim_lines_over_the_budget_are_413_in_validate_and_in_the_hook(tmp_path):
    settings = load_settings(service={"feedback_db": str(tmp_path / "fb.sqlite3"), "max_lines": 10})
    claim = build({"claim": {"lines": [{"code": "49407"}] * 11}})
    with TestClient(create_app(settings)) as c:
        r = c.post("/fhir/Claim/$validate", json=claim)
        assert r.status_code == 413 and "11 Claim lines" in r.json()["issue"][0]["details"]["text"]
        body = {
            "hook": "dev.fhirplugin.charge-entry",
            "hookInstance": str(uuid.uuid4()),
            "context": {
                "userId": "Practitioner/dr1",
                "patientId": "p1",
                "draftClaims": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": claim}]},
            },
        }
        assert c.post("/cds-services/dev.fhirplugin.charge-entry", json=body).status_code == 413
        claim["item"] = claim["item"][:10]
        assert c.post("/fhir/Claim/$validate", json=claim).status_code == 200


def test_hook_over_the_resource_budget_is_413(tmp_path):
    settings = load_settings(service={"feedback_db": str(tmp_path / "fb.sqlite3"), "max_resources": 5})
    body = hook_body()
    sr = service_request({"code": "49411"}, sid="sr1")
    body["context"]["draftOrders"]["entry"] = [{"resource": {**sr, "id": f"sr{i}"}} for i in range(6)]
    with TestClient(create_app(settings)) as c:
        assert c.post(SIGN, json=body).status_code == 413


# -- feedback paging -----------------------------------------------------------------------------


def test_feedback_get_is_paged(client):
    assert client.post(FEEDBACK, json=feedback_body(7)).status_code == 200
    seen: list[int] = []
    url = f"{FEEDBACK}?limit=3"
    for _ in range(10):  # bounded: 7 items at 3 a page is 3 pages
        page = client.get(url).json()
        seen += [i["id"] for i in page["feedback"]]
        if "next" not in page:
            break
        url = page["next"]
    assert len(seen) == 7 and len(set(seen)) == 7 and seen == sorted(seen, reverse=True)
    assert client.get(f"{FEEDBACK}?limit=0").status_code == 422
    assert client.get(f"{FEEDBACK}?limit=5000").status_code == 422
