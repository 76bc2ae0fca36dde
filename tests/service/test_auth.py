"""JwtVerifier: CDS Hooks 2.0 client JWTs, with keys generated here and with the spec's example key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from loopback import Loopback, Reply

from fhirplugin.config import IssuerSettings, ServiceSettings
from fhirplugin.service.auth import AuthError, Claims, JwtVerifier

ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/fhirplugin-order-sign"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
EXAMPLES = SHARED / "reference" / "cds-hooks" / "examples"


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(public_key, kid: str, alg: str) -> dict:
    algo = ECAlgorithm if isinstance(public_key, ec.EllipticCurvePublicKey) else RSAAlgorithm
    d = json.loads(algo.to_jwk(public_key))
    d.update(kid=kid, alg=alg, use="sig")
    return d


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory, ec_key, rsa_key) -> Path:
    p = tmp_path_factory.mktemp("jwks") / "jwks.json"
    keys = [jwk(ec_key.public_key(), "ec1", "ES384"), jwk(rsa_key.public_key(), "rsa1", "RS256")]
    p.write_text(json.dumps({"keys": keys}))
    return p


def verifier(issuers: list[IssuerSettings], **kw) -> JwtVerifier:
    http = requests.Session()
    http.trust_env = False
    return JwtVerifier(ServiceSettings(issuers=issuers, **kw), http=http)


@pytest.fixture
def v(jwks_file) -> JwtVerifier:
    return verifier([IssuerSettings(iss=ISS, jwks_file=jwks_file)])


def claims(**overrides) -> dict:
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex, **overrides}
    return {k: val for k, val in c.items() if val is not None}


def sign(key, alg: str = "ES384", kid: str = "ec1", headers: dict | None = None, **overrides) -> str:
    return jwt.encode(
        claims(**overrides), key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **(headers or {})}
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict, payload: dict, signature: bytes = b"") -> str:
    head = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{head}.{b64(signature)}"


def refused(v: JwtVerifier, token: str | None, audience: str = AUD) -> str:
    header = None if token is None else f"Bearer {token}"
    with pytest.raises(AuthError) as e:
        v.verify(header, audience)
    if token:
        assert token not in e.value.reason
        assert all(len(part) < 8 or part not in e.value.reason for part in token.split("."))
    return e.value.reason


def test_valid_es384_token_accepted(v, ec_key):
    t = sign(ec_key, sub="Practitioner/dr1", tenant="org-1")
    c = v.verify(f"Bearer {t}", AUD)
    assert isinstance(c, Claims)
    assert (c.iss, c.sub, c.tenant) == (ISS, "Practitioner/dr1", "org-1")
    assert len(c.jti) == 32
    assert v.enabled


def test_valid_rs256_token_accepted(v, rsa_key):
    c = v.verify(f"Bearer {sign(rsa_key, 'RS256', 'rsa1')}", AUD)
    assert c.iss == ISS and c.sub is None and c.tenant is None


def test_aud_may_be_a_one_element_array_and_trailing_slash_is_ignored(v, ec_key):
    assert v.verify(f"Bearer {sign(ec_key, aud=[AUD + '/'])}", AUD)
    assert v.verify(f"bearer {sign(ec_key)}", AUD + "/")


def test_aud_naming_other_audiences_too_is_refused(v, ec_key):
    # a token several services accept could be replayed by one of them to another
    assert "audiences" in refused(v, sign(ec_key, aud=["https://other.example", AUD]))


def test_disabled_without_issuers():
    assert not JwtVerifier(ServiceSettings()).enabled


def test_alg_none_refused(v):
    t = hand_made({"alg": "none", "typ": "JWT", "kid": "ec1"}, claims())
    assert "not allowed" in refused(v, t)


def test_hs256_signed_with_the_public_key_refused(v, rsa_key, ec_key):
    """The key-confusion attack: HMAC over the token with the published public key as the secret."""
    for key, kid in ((rsa_key, "rsa1"), (ec_key, "ec1")):
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header, payload = {"alg": "HS256", "typ": "JWT", "kid": kid}, claims()
        unsigned = hand_made(header, payload).rsplit(".", 1)[0]
        mac = hmac.new(pem, unsigned.encode(), hashlib.sha256).digest()
        assert "not allowed" in refused(v, f"{unsigned}.{b64(mac)}")


def test_expired_refused(v, ec_key):
    assert "expired" in refused(v, sign(ec_key, exp=int(time.time()) - 3600, iat=int(time.time()) - 4000))


def test_leeway_applies_to_exp(v, ec_key):
    assert v.verify(f"Bearer {sign(ec_key, exp=int(time.time()) - 10)}", AUD)  # within the 30 s leeway


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "aud"])
def test_required_claims(v, ec_key, claim):
    assert claim in refused(v, sign(ec_key, **{claim: None}))


def test_iat_in_the_future_refused(v, ec_key):
    assert "not valid yet" in refused(v, sign(ec_key, iat=int(time.time()) + 3600))


def test_wrong_aud_refused(v, ec_key):
    assert "aud" in refused(v, sign(ec_key), audience="https://cds.example.org/cds-services/other")
    assert "aud" in refused(
        v, sign(ec_key, aud="https://cds.example.org/cds-services/fhirplugin-order-sign2")
    )


def test_unknown_issuer_refused(v, ec_key):
    assert "not trusted" in refused(v, sign(ec_key, iss="https://evil.example"))


def test_replayed_jti_refused(v, ec_key):
    t = sign(ec_key)
    v.verify(f"Bearer {t}", AUD)
    assert "replay" in refused(v, t)
    # the same jti in a freshly signed token is a replay too
    jti = jwt.decode(t, options={"verify_signature": False})["jti"]
    assert "replay" in refused(v, sign(ec_key, jti=jti))


def test_replay_cache_holds_under_concurrency(v, ec_key):
    t = sign(ec_key)
    ok, bad = [], []

    def go():
        try:
            ok.append(v.verify(f"Bearer {t}", AUD))
        except AuthError:
            bad.append(1)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert (len(ok), len(bad)) == (1, 7)


def test_tampered_signature_and_payload_refused(v, ec_key):
    t = sign(ec_key)
    head, payload, sig = t.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[10] ^= 0x01
    assert "signature" in refused(v, f"{head}.{payload}.{b64(bytes(raw))}")
    other = b64(json.dumps(claims(sub="Practitioner/admin")).encode())
    assert "signature" in refused(v, f"{head}.{other}.{sig}")


def test_key_of_another_party_with_a_known_kid_refused(v):
    assert "signature" in refused(v, sign(ec.generate_private_key(ec.SECP384R1())))


def test_alg_must_match_the_key(v, ec_key, rsa_key):
    assert "no key" in refused(v, sign(ec_key, "ES384", "rsa1"))  # kid of an RSA key
    assert "no key" in refused(v, sign(rsa_key, "RS384", "rsa1"))  # the JWK says RS256


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwdw==", "Bearer a.b.c", "Bearer x y"])
def test_malformed_authorization_refused(v, header):
    with pytest.raises(AuthError):
        v.verify(header, AUD)


def test_wrong_typ_refused(v, ec_key):
    assert "typ" in refused(v, sign(ec_key, headers={"typ": "at+jwt"}))


# -- JWKS over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def srv():
    with Loopback() as s:
        yield s


def test_jwks_url_fetched_once_and_cached(srv, ec_key):
    srv.routes["/jwks"] = Reply.json({"keys": [jwk(ec_key.public_key(), "ec1", "ES384")]})
    v = verifier([IssuerSettings(iss=ISS, jwks_url=srv.url("/jwks"))])
    for _ in range(3):
        v.verify(f"Bearer {sign(ec_key)}", AUD)
    assert srv.hits("/jwks") == 1


def test_jwks_cache_expires(srv, ec_key):
    srv.routes["/jwks"] = Reply.json({"keys": [jwk(ec_key.public_key(), "ec1", "ES384")]})
    v = verifier([IssuerSettings(iss=ISS, jwks_url=srv.url("/jwks"))], jwks_cache_seconds=1)
    v.verify(f"Bearer {sign(ec_key)}", AUD)
    time.sleep(1.1)
    v.verify(f"Bearer {sign(ec_key)}", AUD)
    assert srv.hits("/jwks") == 2


def test_unknown_kid_refetches_once(srv, ec_key):
    new_key = ec.generate_private_key(ec.SECP384R1())
    keys = [jwk(ec_key.public_key(), "ec1", "ES384")]
    srv.routes["/jwks"] = lambda h: Reply.json({"keys": list(keys)})
    v = verifier([IssuerSettings(iss=ISS, jwks_url=srv.url("/jwks"))])
    v.verify(f"Bearer {sign(ec_key)}", AUD)
    keys.append(jwk(new_key.public_key(), "ec2", "ES384"))  # the issuer rotates in a new key
    assert v.verify(f"Bearer {sign(new_key, kid='ec2')}", AUD)
    assert srv.hits("/jwks") == 2
    # made-up kids right after do not make us fetch again
    for n in range(3):
        assert "no key" in refused(v, sign(new_key, kid=f"made-up-{n}"))
    assert srv.hits("/jwks") == 2


def test_jwks_unreachable_refused_and_not_retried_at_once(srv, ec_key):
    v = verifier([IssuerSettings(iss=ISS, jwks_url=srv.url("/missing"))])
    assert "HTTP 404" in refused(v, sign(ec_key))
    assert "not retried" in refused(v, sign(ec_key))
    assert srv.hits("/missing") == 1


def test_allowed_jku_is_fetched(srv, ec_key):
    srv.routes["/ehr/jwks"] = Reply.json({"keys": [jwk(ec_key.public_key(), "ec1", "ES384")]})
    v = verifier([IssuerSettings(iss=ISS, allowed_jku=[srv.url("/ehr/jwks")])])
    assert v.verify(f"Bearer {sign(ec_key, headers={'jku': srv.url('/ehr/jwks')})}", AUD)
    assert srv.hits("/ehr/jwks") == 1


def test_unlisted_jku_is_never_fetched(srv):
    attacker = ec.generate_private_key(ec.SECP384R1())
    srv.routes["/evil/jwks"] = Reply.json({"keys": [jwk(attacker.public_key(), "ec1", "ES384")]})
    srv.routes["/ehr/jwks"] = Reply.json({"keys": []})
    v = verifier([IssuerSettings(iss=ISS, allowed_jku=[srv.url("/ehr/jwks")])])
    assert "not allowed" in refused(v, sign(attacker, headers={"jku": srv.url("/evil/jwks")}))
    assert refused(v, sign(attacker))  # no jku and no JWKS on record
    assert srv.hits("/evil/jwks") == 0


def test_unlisted_jku_does_not_replace_the_keys_on_record(srv, jwks_file, ec_key):
    attacker = ec.generate_private_key(ec.SECP384R1())
    srv.routes["/evil/jwks"] = Reply.json({"keys": [jwk(attacker.public_key(), "ec1", "ES384")]})
    v = verifier([IssuerSettings(iss=ISS, jwks_file=jwks_file)])
    assert "signature" in refused(v, sign(attacker, headers={"jku": srv.url("/evil/jwks")}))
    assert srv.hits("/evil/jwks") == 0
    # the issuer's own key still works when its token names a jku we do not fetch
    assert v.verify(f"Bearer {sign(ec_key, headers={'jku': srv.url('/evil/jwks')})}", AUD)


# -- the spec's own example (../shared) ---------------------------------------------------------


@pytest.fixture(scope="module")
def spec_example():
    if not (EXAMPLES / "spec2.0_jwt-compact-EXAMPLE.txt").is_file():
        pytest.skip("../shared (CDS Hooks examples) is not present")
    return {
        "token": (EXAMPLES / "spec2.0_jwt-compact-EXAMPLE.txt").read_text().strip(),
        "jwks": EXAMPLES / "spec2.0_jwks-public.json",
        "private": json.loads((EXAMPLES / "spec2.0_jwk-private-EXAMPLE-ONLY.json").read_text()),
        "payload": json.loads((EXAMPLES / "spec2.0_jwt-payload.json").read_text()),
        "header": json.loads((EXAMPLES / "spec2.0_jwt-header.json").read_text()),
    }


def spec_verifier(example, **kw) -> JwtVerifier:
    return verifier([IssuerSettings(iss=example["payload"]["iss"], jwks_file=example["jwks"])], **kw)


def test_spec_example_token_is_expired(spec_example):
    v = spec_verifier(spec_example)
    assert "expired" in refused(v, spec_example["token"], spec_example["payload"]["aud"])


def test_spec_example_token_signature_verifies(spec_example):
    # with a leeway reaching back to 2015 the only problem of the example goes away
    v = spec_verifier(spec_example, jwt_leeway=int(time.time()))
    c = v.verify(f"Bearer {spec_example['token']}", spec_example["payload"]["aud"])
    assert c.tenant == spec_example["payload"]["tenant"]


def test_token_freshly_signed_with_the_spec_key_accepted(spec_example):
    key = ECAlgorithm.from_jwk(json.dumps(spec_example["private"]))
    payload = {**spec_example["payload"], "iat": int(time.time()), "exp": int(time.time()) + 300}
    payload["jti"] = str(uuid.uuid4())
    header = {k: val for k, val in spec_example["header"].items() if k != "alg"}
    token = jwt.encode(payload, key, algorithm="ES384", headers=header)
    v = spec_verifier(spec_example)
    c = v.verify(f"Bearer {token}", payload["aud"])
    assert (c.iss, c.jti) == (payload["iss"], payload["jti"])
    assert "replay" in refused(v, token, payload["aud"])


# -- strict checks (the campaign's lenient cases) ------------------------------------------------


def test_two_authorization_headers_refused(v, ec_key):
    good = f"Bearer {sign(ec_key)}"
    with pytest.raises(AuthError, match="2 Authorization headers"):
        v.verify([good, "Bearer garbage"], AUD)
    assert v.verify([f"Bearer {sign(ec_key)}"], AUD)


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_numeric_string_dates_refused(v, ec_key, claim):
    now = int(time.time())
    value = str(now + 60 if claim == "exp" else now)
    assert "not a number" in refused(v, sign(ec_key, **{claim: value}))
    assert "not a number" in refused(v, sign(ec_key, **{claim: True}))


def test_long_lived_token_refused(v, ec_key):
    now = int(time.time())
    assert "lifetime" in refused(v, sign(ec_key, exp=now + 10 * 365 * 86400))
    # iat far back and exp near: exp - iat too long
    assert "lifetime" in refused(v, sign(ec_key, iat=now - 3600, exp=now + 60))
    # at the limit (default 300 s) it is fine
    assert v.verify(f"Bearer {sign(ec_key, iat=now, exp=now + 300)}", AUD)


def test_max_lifetime_is_configurable(jwks_file, ec_key):
    v = verifier([IssuerSettings(iss=ISS, jwks_file=jwks_file)], jwt_max_lifetime=3600, jwt_leeway=0)
    now = int(time.time())
    assert v.verify(f"Bearer {sign(ec_key, exp=now + 3000)}", AUD)
    assert "lifetime" in refused(v, sign(ec_key, exp=now + 4000))


def test_unknown_kid_is_not_echoed_in_the_reason(v, ec_key):
    kid = "kid-carrying-a-secret-0123456789"
    reason = refused(v, sign(ec_key, kid=kid))
    assert "kid" in reason and kid not in reason


def test_replay_store_in_sqlite_is_shared_and_survives_reopening(tmp_path, jwks_file, ec_key):
    from fhirplugin.service.replay import SqliteReplayStore

    db = tmp_path / "jti.sqlite3"
    issuers = [IssuerSettings(iss=ISS, jwks_file=jwks_file)]
    first = JwtVerifier(ServiceSettings(issuers=issuers), replay=SqliteReplayStore(db))
    second = JwtVerifier(ServiceSettings(issuers=issuers), replay=SqliteReplayStore(db))
    t = sign(ec_key)
    assert first.verify(f"Bearer {t}", AUD)
    assert "replay" in refused(second, t)  # another worker sharing the file
    first.replay.close()
    second.replay.close()
    reopened = JwtVerifier(ServiceSettings(issuers=issuers), replay=SqliteReplayStore(db))
    assert "replay" in refused(reopened, t)  # a restart


def test_sqlite_replay_store_forgets_expired_tokens(tmp_path):
    from fhirplugin.service.replay import Replayed, SqliteReplayStore

    store = SqliteReplayStore(tmp_path / "jti.sqlite3")
    store.add(ISS, "j1", time.time() - 1)  # already expired: may be seen again
    store.add(ISS, "j1", time.time() + 60)
    with pytest.raises(Replayed):
        store.add(ISS, "j1", time.time() + 60)
    store.add(ISS, "j2", time.time() - 1)
    store._next_purge = 0
    store.add(ISS, "j3", time.time() + 60)  # a purge runs: j2 is gone
    assert store.count() == 2


def test_sqlite_replay_store_one_winner_under_concurrency(tmp_path):
    from fhirplugin.service.replay import Replayed, SqliteReplayStore

    stores = [SqliteReplayStore(tmp_path / "jti.sqlite3") for _ in range(4)]
    wins = []

    def go(s):
        try:
            s.add(ISS, "same", time.time() + 60)
            wins.append(1)
        except Replayed:
            pass

    threads = [threading.Thread(target=go, args=(s,)) for s in stores for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(wins) == 1
