"""Request limits: the body-size cap (ASGI middleware, 413) and the per-request work budget (413).

Both answer with an OperationOutcome; both apply to the CDS Hooks services and to ``$validate``.
"""

from __future__ import annotations

import orjson

from fhirplugin.config import ServiceSettings
from fhirplugin.jsontypes import JSONObject, JSONValue
from fhirplugin.service.errors import FHIR_JSON, outcome


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send)
                return
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = orjson.dumps(
            outcome(
                f"The request body is larger than the {self.max_bytes:,}-byte limit.",
                code="too-costly",
                diagnostics="Raise it with FHIRPLUGIN_SERVICE__MAX_BODY_BYTES if you need to.",
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", FHIR_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# -- the per-request work budget ----------------------------------------------------------------


def _walk_resources(value: JSONValue, out: list[JSONObject], limit: int) -> None:
    """The resources in ``value`` that are work (not a Bundle or Parameters shell, whose entries and
    resources are walked instead), appended to ``out`` until it holds more than ``limit``."""
    stack = [value]
    while stack and len(out) <= limit:
        v = stack.pop()
        if not isinstance(v, dict):
            continue
        rtype = v.get("resourceType")
        if rtype == "Bundle" and isinstance(entry := v.get("entry"), list):
            stack.extend(e.get("resource") for e in entry if isinstance(e, dict))
        elif rtype == "Parameters" and isinstance(parameter := v.get("parameter"), list):
            stack.extend(p.get("resource") for p in parameter if isinstance(p, dict))
        else:
            out.append(v)


def check_budget(value: JSONValue, settings: ServiceSettings, *, where: str = "the request body") -> None:
    """413 (OperationOutcome) when checking ``value`` would exceed the per-request budget.

    The cost of a check grows with the resources and the Claim lines it holds (the rules compare lines
    pairwise), so both are capped before any work is done: ``max_resources`` resources (Bundle entries,
    Parameters resources, each counted once; a list counts its members) and ``max_lines`` Claim lines
    in all. The $validate endpoint and every hook call obey the same budget.
    """
    from fhirplugin.service.errors import ServiceError

    max_resources, max_lines = settings.max_resources, settings.max_lines
    work: list[JSONObject] = []
    for v in value if isinstance(value, list) else [value]:
        _walk_resources(v, work, max_resources)
    if len(work) > max_resources:
        raise ServiceError(
            413,
            f"{where} holds more than {max_resources} resources, the most one request may check.",
            code="too-costly",
            diagnostics="Split it into several requests, or raise FHIRPLUGIN_SERVICE__MAX_RESOURCES.",
        )
    lines = sum(
        len(item)
        for r in work
        if r.get("resourceType") in ("Claim", "ExplanationOfBenefit")
        and isinstance(item := r.get("item"), list)
    )
    if lines > max_lines:
        raise ServiceError(
            413,
            f"{where} holds {lines} Claim lines; one request may check at most {max_lines}.",
            code="too-costly",
            diagnostics="Split the claims over several requests, or raise FHIRPLUGIN_SERVICE__MAX_LINES.",
        )
