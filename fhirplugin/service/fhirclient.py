"""Reading FHIR resources from a CDS client's ``fhirServer`` (CDS Hooks 2.0 §FHIR Resource Access).

The server and the bearer token come from the hook request, so everything here treats them as
untrusted:

* the base URL must be ``http(s)``; when ``allowed_servers`` is given (the servers configured for the
  calling issuer) it must lie under one of them: same scheme, host and port, and a path at or below
  the allowed path;
* redirects are never followed to another host or scheme, and at most :data:`MAX_REDIRECTS` hops on
  the same one;
* every exchange has a connect and a read timeout and an overall deadline, and the body is read in
  chunks and abandoned as soon as it exceeds ``max_bytes``;
* only JSON objects with a ``resourceType`` are accepted;
* errors are :class:`FetchError` with a message fit to show a user: it never holds the token (and
  search parameters, which may hold patient identifiers, are not repeated either).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

FHIR_JSON = "application/fhir+json"
MAX_REDIRECTS = 2
DEFAULT_MAX_PAGES = 5
_CHUNK = 64 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


class FetchError(Exception):
    """A fhirServer read that failed; ``message`` is safe to show (no token, no search values)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    path: str  # no trailing slash; "" for the root

    @classmethod
    def parse(cls, url: str) -> _Origin | None:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        return cls(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], parts.path.rstrip("/"))

    def same_host(self, other: _Origin) -> bool:
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port)

    def contains(self, other: _Origin) -> bool:
        """``other`` is on the same host and its path is this path or below it (segment-wise)."""
        if not self.same_host(other):
            return False
        return other.path == self.path or other.path.startswith(self.path + "/")


def server_allowed(base_url: str, allowed_servers: list[str] | None) -> bool:
    """True when ``base_url`` is an http(s) URL under one of ``allowed_servers`` (None = any)."""
    base = _Origin.parse(base_url)
    if base is None:
        return False
    if allowed_servers is None:
        return True
    for allowed in allowed_servers:
        a = _Origin.parse(allowed)
        if a is not None and a.contains(base):
            return True
    return False


def get_capped(
    session: requests.Session,
    url: str,
    *,
    headers: dict[str, str],
    timeout: float,
    max_bytes: int,
    params: dict | None = None,
    what: str = "the server",
) -> tuple[requests.Response, bytes]:
    """One GET without redirects: the response (closed) and at most ``max_bytes`` of its body.

    Raises :class:`FetchError` on a timeout (connect, read, or the whole exchange taking longer than
    ``2 * timeout``), a connection failure, or a body above ``max_bytes``.
    """
    deadline = time.monotonic() + 2 * timeout
    try:
        resp = session.get(
            url,
            params=params,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout:
        raise FetchError(f"{what} did not answer within {timeout:g} s.") from None
    except requests.ConnectionError:
        raise FetchError(f"could not connect to {what}.") from None
    except requests.RequestException as exc:
        raise FetchError(f"the request to {what} failed ({type(exc).__name__}).") from None
    try:
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{what} sent more than {max_bytes} bytes.")
        body = bytearray()
        try:
            for chunk in resp.iter_content(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"{what} sent more than {max_bytes} bytes.")
                if time.monotonic() > deadline:
                    raise FetchError(f"{what} did not answer within {timeout:g} s.")
        except requests.Timeout:
            raise FetchError(f"{what} did not answer within {timeout:g} s.") from None
        except requests.RequestException as exc:
            raise FetchError(f"the answer from {what} was cut off ({type(exc).__name__}).") from None
        return resp, bytes(body)
    finally:
        resp.close()


class FhirClient:
    """Reads and searches on one FHIR server with the CDS client's bearer token.

    ``allowed_servers``: None allows any http(s) server (unauthenticated loopback mode); a list,
    even an empty one, allows only servers under its entries. The checks run on every call, so
    constructing a client never raises.
    """

    def __init__(
        self,
        base_url: str,
        access_token: str | None,
        *,
        timeout: float,
        max_bytes: int,
        allowed_servers: list[str] | None,
        max_pages: int = DEFAULT_MAX_PAGES,
        http: requests.Session | None = None,
    ) -> None:
        self.base_url = (base_url or "").strip().rstrip("/")
        self._token = access_token
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allowed_servers = None if allowed_servers is None else list(allowed_servers)
        self.max_pages = max(1, max_pages)
        self._http = http or requests.Session()
        self._base = _Origin.parse(self.base_url)

    def __repr__(self) -> str:  # never show the token
        return f"FhirClient({self.base_url!r})"

    # -- public API ---------------------------------------------------------------------------

    def read(self, reference: str) -> dict:
        """``Type/id`` (optionally ``/_history/vid``) or an absolute URL under the base."""
        self._check_base()
        rel = self._relative(reference)
        m = _RELATIVE.match(rel)
        if not m:
            raise FetchError(f"{_short(reference)!r} is not a reference this client can read (Type/id).")
        resource = self._get_resource(f"{self.base_url}/{rel}", None, what=f"{m.group(1)}/{m.group(2)}")
        if resource["resourceType"] != m.group(1):
            raise FetchError(
                f"fhirServer answered a read of {m.group(1)}/{m.group(2)} with a {resource['resourceType']}."
            )
        return resource

    def search(self, type_: str, params: dict, *, max_pages: int | None = None) -> list[dict]:
        """The resources of a search (``GET [base]/type_?params``), following ``next`` links.

        Entries with ``search.mode = outcome`` are left out. More than ``max_pages`` pages is an error
        rather than a silently partial result.
        """
        self._check_base()
        if not isinstance(type_, str) or not _TYPE.match(type_):
            raise FetchError(f"{_short(str(type_))!r} is not a FHIR resource type.")
        pages = max_pages or self.max_pages
        url: str | None = f"{self.base_url}/{type_}"
        query: dict | None = dict(params or {})
        out: list[dict] = []
        for page in range(pages):
            bundle = self._get_resource(url, query, what=f"the {type_} search")
            if bundle["resourceType"] != "Bundle":
                raise FetchError(f"fhirServer answered the {type_} search with a {bundle['resourceType']}.")
            entries = bundle.get("entry") or []
            if not isinstance(entries, list):
                raise FetchError(f"fhirServer's {type_} search Bundle has an entry that is not an array.")
            for e in entries:
                if not isinstance(e, dict):
                    continue
                if isinstance(e.get("search"), dict) and e["search"].get("mode") == "outcome":
                    continue
                r = e.get("resource")
                if isinstance(r, dict) and isinstance(r.get("resourceType"), str):
                    out.append(r)
            url = _next_link(bundle)
            query = None  # the next link carries its own query
            if url is None:
                return out
            nxt = _Origin.parse(url)
            if nxt is None or self._base is None or not self._base.contains(nxt):
                raise FetchError(f"fhirServer's {type_} search points its next page at another server.")
            if page + 1 == pages:
                break
        raise FetchError(f"fhirServer's {type_} search has more than {pages} pages; narrow the search.")

    # -- internals ----------------------------------------------------------------------------

    def _check_base(self) -> None:
        if self._base is None:
            raise FetchError("fhirServer must be an absolute http(s) URL.")
        parts = urlsplit(self.base_url)
        if parts.query or parts.fragment or parts.username or parts.password:
            raise FetchError("fhirServer must be a plain base URL (no credentials, query or fragment).")
        if not server_allowed(self.base_url, self.allowed_servers):
            raise FetchError(f"fhirServer {self.base_url} is not a server this service may read from.")

    def _relative(self, reference: str) -> str:
        if not isinstance(reference, str) or not reference.strip():
            raise FetchError("an empty reference cannot be read.")
        ref = reference.strip()
        if "://" not in ref:
            return ref
        target = _Origin.parse(ref)
        if target is None or self._base is None or not self._base.contains(target):
            raise FetchError(f"{_short(ref)!r} is not on fhirServer {self.base_url}.")
        parts = urlsplit(ref)
        if parts.query or parts.fragment:
            raise FetchError(f"{_short(ref)!r} is not a plain resource URL.")
        return target.path[len(self._base.path) :].lstrip("/")

    def _headers(self) -> dict[str, str]:
        h = {"Accept": FHIR_JSON}
        if self._token:
            h["Authorization"] = f"Bearer {self._token}"
        return h

    def _get_resource(self, url: str, params: dict | None, *, what: str) -> dict:
        hops = 0
        while True:
            resp, body = get_capped(
                self._http,
                url,
                params=params,
                headers=self._headers(),
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                what="fhirServer",
            )
            if resp.status_code not in _REDIRECTS:
                break
            location = resp.headers.get("Location")
            target = _Origin.parse(urljoin(resp.url or url, location)) if location else None
            current = _Origin.parse(url)
            if target is None or current is None or not current.same_host(target):
                raise FetchError(f"fhirServer redirected {what} to another server; not followed.")
            if self.allowed_servers is not None and not server_allowed(
                urljoin(url, location), self.allowed_servers
            ):
                raise FetchError(f"fhirServer redirected {what} outside the allowed servers; not followed.")
            hops += 1
            if hops > MAX_REDIRECTS:
                raise FetchError(f"fhirServer redirected {what} more than {MAX_REDIRECTS} times.")
            url, params = urljoin(resp.url or url, location), None
        status = resp.status_code
        if status == 404 or status == 410:
            raise FetchError(f"{what} was not found on fhirServer (HTTP {status}).", status=status)
        if status in (401, 403):
            raise FetchError(f"fhirServer refused access to {what} (HTTP {status}).", status=status)
        if not 200 <= status < 300:
            raise FetchError(f"fhirServer answered {what} with HTTP {status}.", status=status)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError(f"fhirServer's answer to {what} is not JSON.") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchError(f"fhirServer's answer to {what} is not a FHIR resource (no resourceType).")
        return data


def _next_link(bundle: dict) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
