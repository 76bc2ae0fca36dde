"""``fhirplugin hook NAME FILE [--url URL]``: send one CDS Hooks request and print the cards as text.

FILE is a whole hook request, or a plain FHIR Bundle wrapped into the request the service expects
(:func:`fhirplugin.service.wrap.build_request`, as the try-it page does). With ``--url`` the request
goes to a running service over HTTP; without it the service runs in-process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from fhirplugin.jsontypes import JSONValue
from fhirplugin.service.hooks import SERVICES, Service
from fhirplugin.service.wrap import build_request, is_hook_request

DEFAULT_BASE = "http://127.0.0.1:8080"


class HookError(Exception):
    """A problem to report on stderr with exit code 2."""


@dataclass(slots=True)
class Answer:
    service_id: str
    request: dict
    response: dict


def find_service(name: str, services: list[dict] | None = None) -> str:
    """A service id from a service id or a hook name (``services``: a remote discovery's list)."""
    listed = services if services is not None else [s.discovery() for s in SERVICES.values()]
    for s in listed:
        if s.get("id") == name:
            return name
    matches = [s["id"] for s in listed if s.get("hook") == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted({s["id"] for s in listed} | {s["hook"] for s in listed}))
    raise HookError(f"no CDS service or hook {name!r}; known: {known}")


def make_request(data: bytes, service_id: str) -> dict:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise HookError(f"the file is not JSON: {exc}") from None
    if is_hook_request(obj):
        return obj
    svc: Service | None = SERVICES.get(service_id)
    if svc is None:
        raise HookError(f"cannot wrap a Bundle for the unknown service {service_id!r}; send a hook request")
    try:
        return build_request(svc, obj)
    except ValueError as exc:
        raise HookError(str(exc)) from None


def _outcome_text(status: int, body: JSONValue) -> str:
    """An error answer in one line: the status and, when the body is an OperationOutcome, its issues'
    texts and expressions (whatever else a server sends is left out, never a crash)."""
    issues = body.get("issue") if isinstance(body, dict) else None
    parts = []
    for i in issues if isinstance(issues, list) else []:
        if not isinstance(i, dict):
            continue
        details = i.get("details")
        text = details.get("text") if isinstance(details, dict) else None
        if not isinstance(text, str) or not text:
            diagnostics = i.get("diagnostics")
            text = diagnostics if isinstance(diagnostics, str) else ""
        expression = i.get("expression")
        paths = [e for e in expression if isinstance(e, str)] if isinstance(expression, list) else []
        where = f" ({', '.join(paths)})" if paths else ""
        if text or where:
            parts.append(f"{text}{where}")
    return f"HTTP {status}: " + " ".join(parts) if parts else f"HTTP {status}"


def send(name: str, data: bytes, *, url: str | None, settings, timeout: float = 60.0) -> Answer:
    if url:
        import requests

        base = url.rstrip("/")
        try:
            disc = requests.get(f"{base}/cds-services", timeout=timeout)
            disc.raise_for_status()
            service_id = find_service(name, disc.json().get("services") or [])
            req = make_request(data, service_id)
            r = requests.post(f"{base}/cds-services/{service_id}", json=req, timeout=timeout)
        except requests.RequestException as exc:
            raise HookError(f"cannot reach {base}: {type(exc).__name__}") from None
        try:
            body: JSONValue = r.json()
        except ValueError:
            body = None
        if r.status_code != 200 or not isinstance(body, dict):
            raise HookError(_outcome_text(r.status_code, body))
        return Answer(service_id, req, body)
    from fhirplugin.engine import Engine
    from fhirplugin.service import cds
    from fhirplugin.service.errors import ServiceError

    service_id = find_service(name)
    req = make_request(data, service_id)
    engine = Engine(settings)
    base = settings.service.public_url or DEFAULT_BASE
    try:
        body = cds.run(engine, req, SERVICES[service_id], settings.service, base_url=base)
    except ServiceError as exc:
        raise HookError(f"HTTP {exc.status}: {exc.text}") from None
    return Answer(service_id, req, body)


_MD = re.compile(r"\*\*(.+?)\*\*|``(.+?)``|`([^`]+)`")


def _plain(md: str) -> str:
    return _MD.sub(lambda m: m.group(1) or m.group(2) or m.group(3), md)


def render(answer: Answer) -> str:
    """The cards as an EHR shows them, as text."""
    cards = answer.response.get("cards") or []
    lines = [f"{answer.service_id} ({answer.request.get('hook')}): {len(cards)} card(s)"]
    for c in cards:
        lines.append("")
        lines.append(f"[{c['indicator'].upper()}] {c['summary']}")
        for para in _plain(c.get("detail", "")).split("\n\n"):
            if para.strip():
                lines.append("    " + " ".join(para.split()))
        for s in c.get("suggestions") or []:
            acts = ", ".join(
                f"{a['type']} {a.get('resourceId') or _ref(a.get('resource'))}"
                for a in s.get("actions") or []
            )
            lines.append(f"    suggestion: {s['label']}" + (f" ({acts})" if acts else ""))
        for link in c.get("links") or []:
            lines.append(f"    link: {link['label']} <{link['url']}>")
    return "\n".join(lines)


def _ref(resource: dict | None) -> str:
    if not isinstance(resource, dict):
        return ""
    return f"{resource.get('resourceType')}/{resource.get('id')}"
