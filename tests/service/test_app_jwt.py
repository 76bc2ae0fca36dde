"""JWT enforcement through the app: with a trusted issuer, service and feedback calls need a valid token."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app

ISS = "https://ehr.example.org"
BASE = "http://testserver"
SIGN = "/cds-services/fhirplugin-order-sign"


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def client(tmp_path_factory, key):
    tmp = tmp_path_factory.mktemp("jwt")
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="ES384", use="sig")
    (tmp / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    settings = load_settings(
        service={
            "issuers": [{"iss": ISS, "jwks_file": str(tmp / "jwks.json")}],
            "feedback_db": str(tmp / "fb.sqlite3"),
        }
    )
    with TestClient(create_app(settings, bind_host="0.0.0.0")) as c:
        yield c


def token(key, aud: str, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex, **overrides}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


def request_body() -> dict:
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []},
        },
    }


def test_valid_token_accepted(client, key):
    r = client.post(SIGN, json=request_body(), headers={"Authorization": f"Bearer {token(key, BASE + SIGN)}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "make",
    [
        lambda key: None,
        lambda key: "Bearer not-a-jwt",
        lambda key: f"Bearer {token(key, BASE + '/cds-services/other')}",
        lambda key: f"Bearer {token(key, BASE + SIGN, exp=int(time.time()) - 3600)}",
        lambda key: f"Bearer {token(key, BASE + SIGN, iss='https://evil.example')}",
        lambda key: f"Bearer {token(ec.generate_private_key(ec.SECP384R1()), BASE + SIGN)}",
    ],
    ids=["missing", "garbage", "wrong-aud", "expired", "unknown-iss", "other-key"],
)
def test_bad_tokens_get_401_operation_outcome(client, key, make):
    header = make(key)
    r = client.post(SIGN, json=request_body(), headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["issue"][0]["details"]["text"] == "Authentication failed."


def test_replayed_jti_is_refused(client, key):
    t = token(key, BASE + SIGN)
    assert client.post(SIGN, json=request_body(), headers={"Authorization": f"Bearer {t}"}).status_code == 200
    assert client.post(SIGN, json=request_body(), headers={"Authorization": f"Bearer {t}"}).status_code == 401


def test_feedback_needs_a_token_and_discovery_does_not(client, key):
    url = SIGN + "/feedback"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {token(key, BASE + url)}"}).status_code == 200
    assert client.get("/cds-services").status_code == 200
