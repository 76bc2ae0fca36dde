"""Reading FHIR resources from a CDS client's ``fhirServer`` (CDS Hooks 2.0 §FHIR Resource Access).

The server and the bearer token come from the hook request, so everything here treats them as
untrusted:

* the base URL must be ``http(s)``; when ``allowed_servers`` is given (the servers configured for the
  calling issuer) it must lie under one of them: same scheme, host and port, and a path at or below
  the allowed path;
* redirects are never followed to another host or scheme, and at most :data:`MAX_REDIRECTS` hops on
  the same one;
* every exchange has a connect and a read timeout and a hard wall-clock deadline enforced on the
  socket: a watchdog shuts the connection down when the deadline passes, so a server trickling its
  headers or body one byte at a time cannot hold a call past it (:class:`Deadline`, shared by all the
  reads of one hook call); the body is abandoned as soon as it exceeds ``max_bytes``;
* paths are normalised before any comparison (``.``/``..`` segments, also percent-encoded, are
  refused in a base URL and resolved in links), so a read never leaves the allowlisted base path;
* only JSON objects with a ``resourceType`` are accepted;
* errors are :class:`FetchError` with a message fit to show a user: it never holds the token (and
  search parameters, which may hold patient identifiers, are not repeated either).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

FHIR_JSON = "application/fhir+json"
MAX_REDIRECTS = 2
DEFAULT_MAX_PAGES = 5
_CHUNK = 64 * 1024
_POOL = 32  # connections kept per host (the reads of one hook call run concurrently)
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


class Deadline:
    """A wall-clock end (monotonic) shared by every read of one hook call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return time.monotonic() >= self.end


# -- the watchdog: shut a connection's socket down when the current read's deadline passes ---------

_local = threading.local()  # .end (monotonic deadline of the read in progress), .timers


def _arm(conn: HTTPConnection) -> None:
    end = getattr(_local, "end", None)
    timers = getattr(_local, "timers", None)
    sock = getattr(conn, "sock", None)
    if end is None or timers is None or sock is None:
        return

    def fire() -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # any blocked recv() returns at once

    remaining = end - time.monotonic()
    if remaining <= 0:
        fire()
        return
    t = threading.Timer(remaining, fire)
    t.daemon = True
    t.start()
    timers.append(t)


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self, *a, **kw):  # the request is sent; headers and body are still to come
        _arm(self)
        return super().getresponse(*a, **kw)


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *a, **kw):
        _arm(self)
        return super().getresponse(*a, **kw)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    _pools = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pools)

    def proxy_manager_for(self, proxy, **kwargs):  # an HTTP(S) proxy from the environment: watched too
        manager = super().proxy_manager_for(proxy, **kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = dict(self._pools)
        return manager


def watched(session: requests.Session) -> requests.Session:
    """``session`` with the deadline watchdog on its http and https connections (idempotent)."""
    if not getattr(session, "_fhirplugin_watched", False):
        session.mount("http://", _WatchedAdapter(pool_maxsize=_POOL))
        session.mount("https://", _WatchedAdapter(pool_maxsize=_POOL))
        session._fhirplugin_watched = True  # type: ignore[attr-defined]  # our mark on a requests Session
    return session


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
        path = normalise_path(parts.path)
        return cls(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], path.rstrip("/"))

    def same_host(self, other: _Origin) -> bool:
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port)

    def contains(self, other: _Origin) -> bool:
        """``other`` is on the same host and its path is this path or below it (segment-wise)."""
        if not self.same_host(other):
            return False
        return other.path == self.path or other.path.startswith(self.path + "/")


def _segments(path: str) -> list[str]:
    return path.split("/")


def has_dot_segments(path: str) -> bool:
    """``.`` or ``..`` as a path segment, also percent-encoded (``%2e%2E``)."""
    return any(unquote(seg) in (".", "..") for seg in _segments(path))


def normalise_path(path: str) -> str:
    """RFC 3986 remove_dot_segments, treating percent-encoded dots as dots; never above the root."""
    out: list[str] = []
    segs = _segments(path)
    for i, seg in enumerate(segs):
        s = unquote(seg)
        last = i == len(segs) - 1
        if s == ".":
            if last:
                out.append("")
            continue
        if s == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(seg)
    text = "/".join(out)
    return text if not path.startswith("/") or text.startswith("/") else "/" + text


def base_problem(base_url: str) -> str | None:
    """Why ``base_url`` is not a plain http(s) base URL (credentials, query, fragment, dot segments)."""
    try:
        parts = urlsplit(base_url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "fhirServer must be an absolute http(s) URL."
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return "fhirServer must be an absolute http(s) URL."
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "fhirServer must not hold credentials."
    if parts.query or parts.fragment or "#" in base_url or "?" in base_url:
        return "fhirServer must be a plain base URL (no query or fragment)."
    if has_dot_segments(parts.path) or "\\" in parts.path:
        return "fhirServer must not hold '.' or '..' path segments."
    return None


def server_allowed(base_url: str, allowed_servers: list[str] | None) -> bool:
    """True when ``base_url`` is an http(s) URL under one of ``allowed_servers`` (None = any)."""
    base = _Origin.parse(base_url)
    if base is None or base_problem(base_url):
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
    deadline: Deadline | None = None,
) -> tuple[requests.Response, bytes]:
    """One GET without redirects: the response (closed) and at most ``max_bytes`` of its body.

    ``timeout`` bounds the connect and each socket read; ``deadline`` (default: ``2 * timeout`` from
    now) bounds the whole exchange. With a :func:`watched` session the deadline is enforced on the
    socket, so a trickling server is cut off when it passes. Raises :class:`FetchError` on a timeout,
    the deadline, a connection failure, or a body above ``max_bytes``.
    """
    deadline = deadline or Deadline(2 * timeout)
    remaining = deadline.remaining()
    late = f"{what} did not answer within the {deadline.seconds:g} s deadline."
    if remaining <= 0:
        raise FetchError(late)
    step = max(0.001, min(timeout, remaining))
    _local.end, _local.timers = deadline.end, []
    try:
        try:
            resp = session.get(
                url,
                params=params,
                headers=headers,
                timeout=(step, step),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            raise FetchError(late if deadline.passed() else f"{what} did not answer within {step:g} s.") from None
        except requests.ConnectionError:
            raise FetchError(late if deadline.passed() else f"could not connect to {what}.") from None
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
                    if deadline.passed():
                        raise FetchError(late)
            except requests.Timeout:
                raise FetchError(late if deadline.passed() else f"{what} did not answer within {step:g} s.") from None
            except requests.RequestException as exc:
                if deadline.passed():
                    raise FetchError(late) from None
                raise FetchError(f"the answer from {what} was cut off ({type(exc).__name__}).") from None
            if deadline.passed():  # the watchdog may have ended a close-delimited body early
                raise FetchError(late)
            return resp, bytes(body)
        finally:
            resp.close()
    finally:
        for t in _local.timers:
            t.cancel()
        _local.end, _local.timers = None, None


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
        deadline: Deadline | None = None,
    ) -> None:
        self.base_url = (base_url or "").strip().rstrip("/")
        self._token = access_token
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allowed_servers = None if allowed_servers is None else list(allowed_servers)
        self.max_pages = max(1, max_pages)
        self._http = watched(http or requests.Session())
        self._base = _Origin.parse(self.base_url)
        self.deadline = deadline  # None: each exchange gets 2 * timeout of its own

    def __repr__(self) -> str:  # never show the token
        return f"FhirClient({self.base_url!r})"

    # -- public API ---------------------------------------------------------------------------

    def read(self, reference: str) -> dict:
        """``Type/id`` (optionally ``/_history/vid``) or an absolute URL under the base."""
        self._check_base()
        rel = self._relative(reference)
        m = _RELATIVE.match(rel)
        if not m or any(set(g) == {"."} for g in m.groups() if g):
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
        url = f"{self.base_url}/{type_}"
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
            next_url = _next_link(bundle)
            query = None  # the next link carries its own query
            if next_url is None:
                return out
            url = next_url
            nxt = _Origin.parse(url)
            if nxt is None or self._base is None or not self._base.contains(nxt):
                raise FetchError(f"fhirServer's {type_} search points its next page at another server.")
            if page + 1 == pages:
                break
        raise FetchError(f"fhirServer's {type_} search has more than {pages} pages; narrow the search.")

    def read_many(self, references: list[str], *, concurrency: int = 8) -> dict[str, dict | FetchError]:
        """Read several references at once (at most ``concurrency`` in flight), all within the
        client's deadline: each answer is the resource or the :class:`FetchError` that stopped it."""
        out: dict[str, dict | FetchError] = {}
        if not references:
            return out
        deadline = self.deadline
        pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(references))))
        try:
            futures = {ref: pool.submit(self.read, ref) for ref in references}
            for ref, fut in futures.items():
                wait = None if deadline is None else max(0.0, deadline.remaining()) + 0.5
                try:
                    out[ref] = fut.result(timeout=wait)
                except FetchError as exc:
                    out[ref] = exc
                except FutureTimeout:
                    fut.cancel()
                    secs = deadline.seconds if deadline else 0
                    out[ref] = FetchError(f"{ref} was not read within the {secs:g} s deadline.")
                except Exception as exc:  # noqa: BLE001 - anything the HTTP layer raised
                    out[ref] = FetchError(f"the read of {ref} failed ({type(exc).__name__}).")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return out

    # -- internals ----------------------------------------------------------------------------

    def _check_base(self) -> None:
        if self._base is None:
            raise FetchError("fhirServer must be an absolute http(s) URL.")
        problem = base_problem(self.base_url)
        if problem:
            raise FetchError(problem)
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
                deadline=self.deadline,
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
