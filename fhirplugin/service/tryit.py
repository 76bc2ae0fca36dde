"""The try-it page: ``GET /try`` (static HTML, CSS and JS shipped in the package; no CDN, no build step).

``GET /try/examples`` lists the shipped examples and ``GET /try/examples/{name}`` gives one as the hook
request it is sent as; ``POST /try/request?service=ID`` wraps a plain Bundle into the hook request of
that service (:func:`fhirplugin.service.wrap.build_request`, also used by ``fhirplugin hook``).
``/try?example=NAME`` loads an example and runs it, so a link can show a result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson
from fastapi import FastAPI, Request
from starlette.responses import FileResponse, JSONResponse

from fhirplugin.resources import data_dir
from fhirplugin.service.errors import ServiceError
from fhirplugin.service.hooks import CHARGE_ENTRY_HOOK, SERVICES
from fhirplugin.service.wrap import build_request, is_hook_request

STATIC = Path(__file__).resolve().parent / "static"
_ASSETS = {"try.js": "text/javascript", "try.css": "text/css"}
_NS = uuid.UUID("0b7c2f4e-52a1-4d8e-a1f3-7d2c9e6b5a40")


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    title: str
    service: str
    path: str  # under the examples folder: a Bundle (wrapped for ``service``) or a hook request


EXAMPLES = (
    Example(
        "drainage-charge-entry", "Drainage claim at charge entry", CHARGE_ENTRY_HOOK, "drainage/bundle.json"
    ),
    Example(
        "devices-charge-entry",
        "Device placement claims at charge entry",
        CHARGE_ENTRY_HOOK,
        "devices/bundle.json",
    ),
    Example(
        "guidance-order-sign",
        "Drainage order with a separate imaging-guidance order (order-sign)",
        "fhirplugin-order-sign",
        "cds-hooks/order-sign-drainage.json",
    ),
    Example(
        "clean-order-sign",
        "A clean order, with the opt-in no-problems card (order-sign)",
        "fhirplugin-order-sign",
        "cds-hooks/order-sign-clean.json",
    ),
    Example(
        "devices-order-dispatch",
        "Device placement order sent to a performer (order-dispatch)",
        "fhirplugin-order-dispatch",
        "devices/bundle.json",
    ),
    Example(
        "drainage-encounter-discharge",
        "Drainage encounter at discharge (encounter-discharge)",
        "fhirplugin-encounter-discharge",
        "drainage/bundle.json",
    ),
)


@cache
def example_request(name: str) -> dict | None:
    ex = next((e for e in EXAMPLES if e.name == name), None)
    if ex is None:
        return None
    data = orjson.loads((data_dir("examples") / ex.path).read_bytes())
    if is_hook_request(data):
        return data
    return build_request(SERVICES[ex.service], data, hook_instance=str(uuid.uuid5(_NS, name)))


def install(app: FastAPI) -> None:
    @app.get("/try", tags=["try-it"], include_in_schema=False)
    def try_page() -> FileResponse:
        return FileResponse(STATIC / "try.html", media_type="text/html")

    @app.get("/try/assets/{name}", include_in_schema=False)
    def try_asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise ServiceError(404, f"No asset {name!r}.", code="not-found")
        return FileResponse(STATIC / name, media_type=_ASSETS[name])

    @app.get("/try/examples", tags=["try-it"])
    def try_examples() -> JSONResponse:
        """The shipped examples the try-it page offers."""
        return JSONResponse(
            {"examples": [{"name": e.name, "title": e.title, "service": e.service} for e in EXAMPLES]}
        )

    @app.get("/try/examples/{name}", tags=["try-it"])
    def try_example(name: str) -> JSONResponse:
        """One example as the hook request the page sends."""
        req = example_request(name)
        if req is None:
            raise ServiceError(404, f"No example {name!r}; GET /try/examples lists them.", code="not-found")
        ex = next(e for e in EXAMPLES if e.name == name)
        return JSONResponse({"name": name, "title": ex.title, "service": ex.service, "request": req})

    @app.post("/try/request", tags=["try-it"])
    async def try_request(request: Request, service: str) -> JSONResponse:
        """Wrap a FHIR Bundle into the hook request of ``service`` (as `fhirplugin hook` does)."""
        from fhirplugin.service.app import read_json

        svc = SERVICES.get(service)
        if svc is None:
            raise ServiceError(404, f"No CDS service {service!r}.", code="not-found", expression="service")
        body = await read_json(request, request.app.state.settings)
        try:
            return JSONResponse(build_request(svc, body))
        except ValueError as exc:
            raise ServiceError(400, f"{exc}.", expression="Bundle") from None
