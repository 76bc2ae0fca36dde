"""Request guards shared by the CDS Hooks and FHIR routes (FastAPI dependencies and helpers).

* :func:`authorize`: the client JWT when issuers are configured (exactly one ``Authorization``
  header), the loopback-only stance otherwise; in that unauthenticated mode a request a web page
  sends from another origin (``Origin`` / ``Sec-Fetch-Site``) is refused with 403, unless that origin
  is listed in ``service.cors_origins`` (``*`` does not count), so a page cannot write feedback or have
  the service read from a fhirServer of its choosing on the operator's behalf.
* :func:`authorize_validate`: ``$validate`` needs a token too when issuers are configured, unless
  ``service.validate_open``.
* :func:`require_json`: a request body must be ``application/json`` or ``application/fhir+json``
  (415 otherwise; a ``text/plain`` POST is what a page can send cross-site without a preflight).
* :func:`body_bytes`: the body; a client that hangs up mid-body is one INFO line, not a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from fhirplugin.service.errors import ServiceError

log = logging.getLogger("fhirplugin.service")

JSON_MEDIA_TYPES = ("application/json", "application/fhir+json")
_PRINTABLE = re.compile(r"[^\x21-\x7e]")


def is_loopback(host: str | None) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_base(request: Request) -> str:
    configured = request.app.state.settings.service.public_url
    return (configured or str(request.base_url)).rstrip("/")


def _refused() -> ServiceError:
    return ServiceError(401, "Authentication failed.", code="login", headers={"WWW-Authenticate": "Bearer"})


def _origin_of(url: str) -> str:
    m = re.match(r"^([a-z][a-z0-9+.\-]*://[^/?#]+)", url.strip(), re.IGNORECASE)
    return m.group(1).lower() if m else url.strip().lower()


def refuse_cross_site(request: Request) -> None:
    """403 for a browser request from another origin, unless that origin is explicitly allowed."""
    origin = request.headers.get("origin")
    site = (request.headers.get("sec-fetch-site") or "").lower()
    if origin is None:
        if site in ("", "same-origin", "none"):
            return
        raise ServiceError(403, "Cross-site requests are refused in unauthenticated mode.", code="forbidden")
    allowed = {
        _origin_of(o) for o in request.app.state.settings.service.cors_origins if o.strip() not in ("*", "")
    }
    own = {_origin_of(str(request.base_url)), _origin_of(public_base(request))}
    if _origin_of(origin) in allowed | own:
        return
    raise ServiceError(
        403,
        "Cross-site requests are refused in unauthenticated (loopback) mode.",
        code="forbidden",
        diagnostics="List the page's origin in service.cors_origins to allow it, or configure issuers.",
    )


async def authorize(request: Request):
    """JWT check per CDS Hooks 2.0 when issuers are configured; loopback-only otherwise."""
    state = request.app.state
    verifier = state.verifier
    if verifier is not None and verifier.enabled:
        from fhirplugin.service.auth import AuthError

        audience = public_base(request) + request.url.path
        try:
            return await run_in_threadpool(verifier.verify, request.headers.getlist("authorization"), audience)
        except AuthError as exc:
            log.info("JWT rejected on %s: %s", request.url.path, exc.reason)
            raise _refused() from None
    if not state.insecure and not is_loopback(state.bind_host):
        raise _refused()
    refuse_cross_site(request)
    return None


async def authorize_validate(request: Request):
    """``$validate``: like the hooks (a JWT when issuers are configured) unless ``validate_open``."""
    state = request.app.state
    if state.verifier is not None and state.verifier.enabled and state.settings.service.validate_open:
        return None
    return await authorize(request)


def require_json(request: Request) -> None:
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media not in JSON_MEDIA_TYPES:
        shown = _PRINTABLE.sub("", media)[:60]
        raise ServiceError(
            415,
            "Send the body as application/json or application/fhir+json"
            + (f", not {shown}." if shown else " (the Content-Type header is missing)."),
            code="not-supported",
            headers={"Accept-Post": ", ".join(JSON_MEDIA_TYPES)},
        )


async def body_bytes(request: Request) -> bytes:
    try:
        return await request.body()
    except ClientDisconnect:
        log.info("client disconnected before sending the whole body of %s %s", request.method, request.url.path)
        raise ServiceError(400, "The client disconnected before the whole body arrived.") from None
