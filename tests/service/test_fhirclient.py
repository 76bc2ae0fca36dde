"""FhirClient against a real HTTP server on 127.0.0.1: reads, paged searches, and the guarantees
(timeouts, size cap, no cross-host redirects, allowed servers, the token never in an error)."""

from __future__ import annotations

import time

import pytest
import requests
from loopback import Loopback, Reply

from fhirplugin.service.fhirclient import FetchError, FhirClient, server_allowed

TOKEN = "s3cr3t-opaque-access-token-0123456789"


@pytest.fixture
def srv():
    with Loopback() as s:
        yield s


def client(srv: Loopback, path: str = "/fhir", *, token: str | None = TOKEN, **kw) -> FhirClient:
    http = requests.Session()
    http.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    opts = {"timeout": 2.0, "max_bytes": 100_000, "allowed_servers": None, "http": http, **kw}
    return FhirClient(srv.url(path), token, **opts)


def procedure(pid: str = "123") -> dict:
    return {"resourceType": "Procedure", "id": pid, "status": "completed"}


def test_read_sends_token_and_fhir_accept(srv):
    srv.routes["/fhir/Procedure/123"] = Reply.json(procedure())
    assert client(srv).read("Procedure/123") == procedure()
    seen = srv.requests[-1]
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["Accept"] == "application/fhir+json"


def test_read_without_token_sends_no_authorization(srv):
    srv.routes["/fhir/Procedure/123"] = Reply.json(procedure())
    client(srv, token=None).read("Procedure/123")
    assert "Authorization" not in srv.requests[-1].headers


def test_read_absolute_url_under_base(srv):
    srv.routes["/fhir/Procedure/9"] = Reply.json(procedure("9"))
    assert client(srv).read(srv.url("/fhir/Procedure/9"))["id"] == "9"


@pytest.mark.parametrize(
    "ref",
    ["http://example.org/fhir/Procedure/9", "PATH:/fhir2/Procedure/9", "Procedure", "../Patient/1", ""],
)
def test_read_refuses_references_off_the_server(srv, ref):
    ref = ref.replace("PATH:", srv.url(""))
    with pytest.raises(FetchError):
        client(srv).read(ref)
    assert srv.requests == []


def test_read_of_the_wrong_type_is_refused(srv):
    srv.routes["/fhir/Procedure/1"] = Reply.json({"resourceType": "Patient", "id": "1"})
    with pytest.raises(FetchError, match="with a Patient"):
        client(srv).read("Procedure/1")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"[1, 2]", {"Content-Type": "application/json"}),
        Reply(200, b"<html>login</html>", {"Content-Type": "text/html"}),
        Reply.json({"id": "no-type"}),
    ],
    ids=["array", "html", "no-resourceType"],
)
def test_only_fhir_json_objects_are_accepted(srv, reply):
    srv.routes["/fhir/Procedure/1"] = reply
    with pytest.raises(FetchError, match="not"):
        client(srv).read("Procedure/1")


def test_404_is_a_fetch_error_naming_the_reference(srv):
    with pytest.raises(FetchError) as e:
        client(srv).read("Procedure/404")
    assert e.value.status == 404
    assert "Procedure/404" in e.value.message and "404" in e.value.message


def test_token_never_in_error_messages(srv):
    # the server echoes the token back in its error body; the message must not carry it on
    srv.routes["/fhir/Procedure/1"] = Reply(500, f"bad token {TOKEN}".encode())
    srv.routes["/fhir/Procedure/2"] = Reply(401, f"Bearer {TOKEN} rejected".encode())
    for ref in ("Procedure/1", "Procedure/2"):
        with pytest.raises(FetchError) as e:
            client(srv).read(ref)
        assert TOKEN not in str(e.value)
        assert TOKEN not in repr(e.value)
    assert TOKEN not in repr(client(srv))


def test_timeout_fails_quickly(srv):
    srv.routes["/fhir/Procedure/slow"] = Reply.json(procedure(), delay=3.0)
    start = time.monotonic()
    with pytest.raises(FetchError, match="did not answer"):
        client(srv, timeout=0.3).read("Procedure/slow")
    assert time.monotonic() - start < 1.5


def test_oversize_body_with_content_length(srv):
    big = {**procedure(), "note": [{"text": "x" * 200_000}]}
    srv.routes["/fhir/Procedure/big"] = Reply.json(big)
    with pytest.raises(FetchError, match="more than 100000 bytes"):
        client(srv).read("Procedure/big")


def test_oversize_body_streamed_without_length(srv):
    big = {**procedure(), "note": [{"text": "x" * 5_000_000}]}
    srv.routes["/fhir/Procedure/big"] = Reply.json(big, content_length=False)
    start = time.monotonic()
    with pytest.raises(FetchError, match="more than 100000 bytes"):
        client(srv).read("Procedure/big")
    assert time.monotonic() - start < 2


def test_same_host_redirect_followed(srv):
    srv.routes["/fhir/Procedure/old"] = Reply(302, headers={"Location": "/fhir/Procedure/new"})
    srv.routes["/fhir/Procedure/new"] = Reply.json(procedure("new"))
    assert client(srv).read("Procedure/old")["id"] == "new"
    assert srv.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_redirect_to_another_host_not_followed(srv):
    # localhost is another host name than 127.0.0.1, even though it reaches the same server
    srv.routes["/fhir/Procedure/1"] = Reply(
        302, headers={"Location": srv.url("/fhir/Procedure/2", "localhost")}
    )
    srv.routes["/fhir/Procedure/2"] = Reply.json(procedure("2"))
    with pytest.raises(FetchError, match="another server"):
        client(srv).read("Procedure/1")
    assert srv.hits("/fhir/Procedure/2") == 0


def test_redirect_loop_stops(srv):
    srv.routes["/fhir/Procedure/a"] = Reply(307, headers={"Location": "/fhir/Procedure/b"})
    srv.routes["/fhir/Procedure/b"] = Reply(307, headers={"Location": "/fhir/Procedure/a"})
    with pytest.raises(FetchError, match="more than 2 times"):
        client(srv).read("Procedure/a")
    assert len(srv.requests) == 3


def test_redirect_outside_allowed_path_not_followed(srv):
    srv.routes["/fhir/Procedure/1"] = Reply(302, headers={"Location": "/admin/Procedure/1"})
    with pytest.raises(FetchError, match="outside the allowed"):
        client(srv, allowed_servers=[srv.url("/fhir")]).read("Procedure/1")


def test_disallowed_server_is_never_contacted(srv):
    srv.routes["/other/Procedure/1"] = Reply.json(procedure("1"))
    for allowed in ([srv.url("/fhir")], [], ["http://127.0.0.1:1/other"], [srv.url("/oth")]):
        with pytest.raises(FetchError, match="not a server this service may read from"):
            client(srv, "/other", allowed_servers=allowed).read("Procedure/1")
    assert srv.requests == []
    # allowed: the same path, or a path below it
    assert client(srv, "/other", allowed_servers=[srv.url("/other/")]).read("Procedure/1")["id"] == "1"
    assert client(srv, "/other", allowed_servers=[srv.url("")]).read("Procedure/1")["id"] == "1"


@pytest.mark.parametrize(
    "base", ["ftp://127.0.0.1/fhir", "file:///etc/passwd", "127.0.0.1/fhir", "http://user:pw@127.0.0.1/fhir"]
)
def test_base_must_be_plain_http(base):
    c = FhirClient(base, TOKEN, timeout=1, max_bytes=1000, allowed_servers=None)
    with pytest.raises(FetchError) as e:
        c.read("Procedure/1")
    assert TOKEN not in str(e.value)


def test_server_allowed_matches_scheme_host_port_and_path():
    allowed = ["https://ehr.example.org/fhir/r4"]
    assert server_allowed("https://ehr.example.org/fhir/r4", allowed)
    assert server_allowed("https://EHR.example.org:443/fhir/r4/", allowed)
    assert server_allowed("https://ehr.example.org/fhir/r4/tenant1", allowed)
    assert not server_allowed("http://ehr.example.org/fhir/r4", allowed)
    assert not server_allowed("https://ehr.example.org:8443/fhir/r4", allowed)
    assert not server_allowed("https://ehr.example.org/fhir/r4x", allowed)
    assert not server_allowed("https://ehr.example.org.evil.com/fhir/r4", allowed)
    assert not server_allowed("https://ehr.example.org@evil.com/fhir/r4", allowed)
    assert not server_allowed("https://ehr.example.org/fhir", allowed)


def _bundle(entries: list[dict], next_url: str | None = None) -> dict:
    b: dict = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if next_url:
        b["link"] = [{"relation": "self", "url": "x"}, {"relation": "next", "url": next_url}]
    return b


def test_search_follows_next_pages(srv):
    def first(handler):
        if "page=2" in handler.path:
            return Reply.json(_bundle([{"resource": procedure("3")}]))
        return Reply.json(
            _bundle(
                [
                    {"resource": procedure("1"), "search": {"mode": "match"}},
                    {"resource": procedure("2")},
                    {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
                ],
                srv.url("/fhir/Procedure?page=2"),
            )
        )

    srv.routes["/fhir/Procedure"] = first
    found = client(srv).search("Procedure", {"encounter": "Encounter/e1", "code": "49405"})
    assert [r["id"] for r in found] == ["1", "2", "3"]
    assert "encounter=Encounter%2Fe1" in srv.requests[0].query
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in srv.requests)


def test_search_stops_at_max_pages(srv):
    srv.routes["/fhir/Procedure"] = Reply.json(
        _bundle([{"resource": procedure()}], srv.url("/fhir/Procedure?p=n"))
    )
    with pytest.raises(FetchError, match="more than 3 pages"):
        client(srv, max_pages=3).search("Procedure", {})
    assert len(srv.requests) == 3


def test_search_next_link_to_another_server_refused(srv):
    srv.routes["/fhir/Procedure"] = Reply.json(
        _bundle([{"resource": procedure()}], "http://attacker.example/fhir/Procedure?page=2")
    )
    with pytest.raises(FetchError, match="another server"):
        client(srv).search("Procedure", {})
    assert len(srv.requests) == 1


def test_search_answer_must_be_a_bundle(srv):
    srv.routes["/fhir/Procedure"] = Reply.json(procedure())
    with pytest.raises(FetchError, match="with a Procedure"):
        client(srv).search("Procedure", {})


def test_search_type_checked(srv):
    with pytest.raises(FetchError):
        client(srv).search("../admin", {})
    assert srv.requests == []


def test_connection_refused_is_a_fetch_error():
    c = FhirClient("http://127.0.0.1:1/fhir", TOKEN, timeout=1, max_bytes=1000, allowed_servers=None)
    with pytest.raises(FetchError, match="could not connect") as e:
        c.read("Procedure/1")
    assert TOKEN not in str(e.value)
