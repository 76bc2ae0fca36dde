"""Hard limits on fhirServer reads, against a loopback FHIR server of this test's own that stalls or
trickles its answer a byte at a time: one wall-clock deadline per hook call enforced on the socket,
failed reads counted toward the cap, missing references read concurrently, 412 naming what was not
read, and no read ever leaving the allowlisted base path (``..`` in fhirServer or in a link).

Deadlines are configured small (well under a second) so these tests stay short; the bounds asserted
are several times the deadline, and far below what the same server costs without the watchdog.
"""

from __future__ import annotations

import time

import pytest
import requests
from fastapi.testclient import TestClient
from loopback import Loopback, Reply

from builders import claim
from fhirplugin.config import load_settings
from fhirplugin.service.app import create_app
from fhirplugin.service.fhirclient import Deadline, FetchError, FhirClient, normalise_path, server_allowed

CHARGE = "/cds-services/dev.fhirplugin.charge-entry"


@pytest.fixture
def srv():
    with Loopback() as s:
        yield s


def procedure(pid: str) -> dict:
    return {
        "resourceType": "Procedure",
        "id": pid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "49407"}]},
    }


def fhir_client(srv: Loopback, deadline: float, **kw) -> FhirClient:
    http = requests.Session()
    http.trust_env = False
    opts = {"timeout": 2.0, "max_bytes": 100_000, "allowed_servers": None, "http": http, **kw}
    return FhirClient(srv.url("/fhir"), "tok", deadline=Deadline(deadline), **opts)


def test_trickling_body_is_cut_off_at_the_deadline(srv):
    # headers at once, then one byte every 0.1 s: each socket read succeeds, so only an overall
    # deadline on the socket stops it (before: the call lasted as long as the server kept trickling)
    def reply(_):
        return Reply.json(procedure("px0"), trickle=0.1, trickle_for=8)

    srv.routes["/fhir/Procedure/px0"] = reply
    start = time.monotonic()
    with pytest.raises(FetchError, match="deadline"):
        fhir_client(srv, 0.6).read("Procedure/px0")
    assert time.monotonic() - start < 2.0


def test_trickling_headers_are_cut_off_at_the_deadline(srv):
    srv.routes["/fhir/Procedure/px0"] = Reply.json(procedure("px0"), trickle=0.05, trickle_for=8)
    start = time.monotonic()
    with pytest.raises(FetchError, match="deadline"):
        fhir_client(srv, 0.5).read("Procedure/px0")
    assert time.monotonic() - start < 2.0


def test_a_prompt_server_is_read_in_full_under_the_deadline(srv):
    srv.routes["/fhir/Procedure/px0"] = Reply.json(procedure("px0"))
    assert fhir_client(srv, 1.0).read("Procedure/px0")["id"] == "px0"


def _hook(ids: list[str], base: str) -> dict:
    c = claim({"diagnoses": ["K65.1"], "lines": [{"code": "49407"}]}, proc_refs=[f"Procedure/{i}" for i in ids])
    return {
        "hook": "dev.fhirplugin.charge-entry",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": base,
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": "p1",
            "draftClaims": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": c}]},
        },
    }


def _app(tmp_path, **service) -> TestClient:
    settings = load_settings(service={"feedback_db": str(tmp_path / "fb.sqlite3"), **service})
    return TestClient(create_app(settings))


def test_many_slow_references_share_one_deadline_and_412_names_them(srv, tmp_path):
    ids = [f"px{i}" for i in range(20)]
    for i in ids:
        srv.routes[f"/fhir/Procedure/{i}"] = Reply.json(procedure(i), trickle=0.05, trickle_for=6)
    with _app(tmp_path, fetch_deadline=0.8, fetch_timeout=0.5, fetch_concurrency=20) as c:
        start = time.monotonic()
        r = c.post(CHARGE, json=_hook(ids, srv.url("/fhir")))
        took = time.monotonic() - start
    assert r.status_code == 412, r.text
    text = r.json()["issue"][0]["details"]["text"]
    assert "(not read within the deadline)" in text and text.endswith("….")  # 10 named, and more
    # read concurrently, all within one deadline (before: 20 one after another, ~60 s)
    assert took < 4.0
    assert srv.hits("/fhir/Procedure/px19") == 1


def test_failed_reads_count_toward_the_cap(srv, tmp_path):
    ids = [f"px{i}" for i in range(20)]  # every read answers 404
    with _app(tmp_path, fetch_max_reads=5) as c:
        r = c.post(CHARGE, json=_hook(ids, srv.url("/fhir")))
    assert r.status_code == 412
    assert len(srv.requests) == 5  # before: all 20 were tried, the cap counted successes only
    text = r.json()["issue"][0]["details"]["text"]
    assert "(HTTP 404)" in text and "(over the 5-read limit)" in text


def test_missing_references_are_read_concurrently(srv, tmp_path):
    ids = [f"px{i}" for i in range(6)]
    for i in ids:
        srv.routes[f"/fhir/Procedure/{i}"] = Reply.json(procedure(i), delay=0.4)
    with _app(tmp_path, fetch_deadline=5.0) as c:
        start = time.monotonic()
        r = c.post(CHARGE, json=_hook(ids, srv.url("/fhir")))
        took = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert took < 6 * 0.4  # one after another would take 2.4 s at least
    assert all(srv.hits(f"/fhir/Procedure/{i}") == 1 for i in ids)


@pytest.mark.parametrize(
    "server",
    ["/fhir/../private", "/fhir/%2e%2e/private", "/fhir/./x", "/fhir/%2E%2e", "/fhir#frag", "/fhir?x=1"],
)
def test_fhir_server_with_dot_segments_query_or_fragment_is_refused(srv, tmp_path, server):
    srv.routes["/private/Procedure/px0"] = Reply.json(procedure("px0"))
    with _app(tmp_path) as c:
        r = c.post(CHARGE, json=_hook(["px0"], srv.url(server)))
    assert r.status_code == 400, r.text
    assert r.json()["issue"][0]["expression"] == ["fhirServer"]
    assert srv.requests == []  # before: the read (and the token) went to /private/Procedure/px0


def test_fhir_server_with_credentials_is_refused(srv, tmp_path):
    with _app(tmp_path) as c:
        r = c.post(CHARGE, json=_hook(["px0"], f"http://user:pw@127.0.0.1:{srv.port}/fhir"))
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["fhirServer"]
    assert srv.requests == []


def test_allowlist_compares_normalised_paths():
    allowed = ["http://127.0.0.1:9/fhir"]
    assert server_allowed("http://127.0.0.1:9/fhir/r4", allowed)
    for escape in ("http://127.0.0.1:9/fhir/../private", "http://127.0.0.1:9/fhir/%2e%2E/private"):
        assert not server_allowed(escape, allowed)
    assert normalise_path("/fhir/a/../../private") == "/private"
    assert normalise_path("/fhir/%2e%2e/%2E%2E/../x") == "/x"


def test_links_that_climb_out_of_the_base_are_not_followed(srv):
    srv.routes["/private/Procedure/px0"] = Reply.json(procedure("px0"))
    srv.routes["/fhir/Procedure/px1"] = Reply(302, headers={"Location": "/fhir/../private/Procedure/px0"})
    c = fhir_client(srv, 2.0, allowed_servers=[srv.url("/fhir")])
    with pytest.raises(FetchError):
        c.read(srv.url("/fhir/../private/Procedure/px0"))
    with pytest.raises(FetchError):
        c.read("Procedure/..")
    with pytest.raises(FetchError, match="outside the allowed"):
        c.read("Procedure/px1")
    assert srv.hits("/private/Procedure/px0") == 0


def test_deadline_holds_through_an_http_proxy(srv):
    # the loopback server answers absolute-URI requests too, so it stands in for a forward proxy
    srv.routes["/fhir/Procedure/px0"] = Reply.json(procedure("px0"), trickle=0.1, trickle_for=8)
    http = requests.Session()
    http.trust_env = False
    http.proxies = {"http": srv.url()}
    c = FhirClient("http://127.0.0.1:9/fhir", "tok", timeout=2.0, max_bytes=100_000, allowed_servers=None,
                   http=http, deadline=Deadline(0.6))
    start = time.monotonic()
    with pytest.raises(FetchError, match="deadline"):
        c.read("Procedure/px0")
    assert time.monotonic() - start < 2.0
    assert srv.hits("/fhir/Procedure/px0") == 1  # it went through the proxy


def test_the_patient_is_read_after_the_required_data_and_never_takes_its_read(srv, tmp_path):
    srv.routes["/fhir/Procedure/px0"] = Reply.json(procedure("px0"))
    srv.routes["/fhir/Patient/p1"] = Reply.json({"resourceType": "Patient", "id": "p1", "gender": "male"})
    with _app(tmp_path, fetch_max_reads=1) as c:
        r = c.post(CHARGE, json=_hook(["px0"], srv.url("/fhir")))
    assert r.status_code == 200, r.text  # the one read went to the Procedure; no Patient, no 412
    assert [s.path for s in srv.requests] == ["/fhir/Procedure/px0"]
    with _app(tmp_path, fetch_max_reads=2) as c:
        assert c.post(CHARGE, json=_hook(["px0"], srv.url("/fhir"))).status_code == 200
    assert [s.path for s in srv.requests][1:] == ["/fhir/Procedure/px0", "/fhir/Patient/p1"]
