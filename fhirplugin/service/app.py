"""The FastAPI application: CDS Hooks 2.0 services, feedback, FHIR ``$validate``, metadata, health.

``create_app(settings)`` builds everything once (engine, terminology, JWT verifier, feedback store);
``fhirplugin serve`` runs it with uvicorn (:mod:`fhirplugin.service.run`).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhirplugin import __version__
from fhirplugin.config import Settings, load_settings
from fhirplugin.engine import Engine
from fhirplugin.fhir import jsonload
from fhirplugin.jsontypes import JSONObject
from fhirplugin.service import cds, docs, errors, fhir_routes, logsafe, rulepages, tryit
from fhirplugin.service.errors import FHIR_JSON, ServiceError
from fhirplugin.service.examples import FEEDBACK_EXAMPLE, cds_examples
from fhirplugin.service.guards import (  # noqa: F401 - is_loopback, public_base: used by run.py, tests
    authorize,
    body_bytes,
    is_loopback,
    public_base,
    require_json,
)
from fhirplugin.service.hooks import SERVICES
from fhirplugin.service.limits import BodyLimit

log = logging.getLogger("fhirplugin.service")


def _allowed_servers(request: Request, claims) -> list[str] | None:
    if claims is None:
        return None  # unauthenticated loopback mode: the operator's own machine
    for issuer in request.app.state.settings.service.issuers:
        if issuer.iss == claims.iss:
            return list(issuer.fhir_servers)
    return []


async def read_json(request: Request, settings: Settings) -> JSONObject:
    """The request body as a JSON object; a 400 OperationOutcome when it is not one."""
    data = await body_bytes(request)
    raw = jsonload.parse_document(
        data, max_bytes=settings.service.max_body_bytes, max_depth=settings.max_depth
    )
    if raw.value is None:
        p = raw.problems[0]
        raise ServiceError(400, p.text.replace("The input", "The request body"), diagnostics=p.diagnostics)
    return raw.value


OPERATION_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}


def outcome_responses(*statuses: int) -> dict:
    """OpenAPI ``responses`` for error answers: each an OperationOutcome in application/fhir+json."""
    what = {
        400: "Bad request: not JSON, or not what the endpoint takes",
        401: "JWT missing or invalid",
        403: "Cross-site request refused (unauthenticated mode)",
        404: "No such service or resource type",
        412: "Needed data neither prefetched nor readable from fhirServer",
        413: "Body too large, or more work than one request may ask for",
        415: "Content-Type is not application/json or application/fhir+json",
        422: "Wrong JSON types in the drafts, or bad query parameters",
        500: "Internal error",
    }
    content = {FHIR_JSON: {"schema": OPERATION_OUTCOME}}
    return {s: {"description": f"{what[s]} (OperationOutcome)", "content": content} for s in statuses}


def json_body(schema: dict, example: dict | None = None, *, examples: dict | None = None) -> dict:
    """An OpenAPI requestBody offered in both JSON media types."""
    media: dict = {"schema": schema}
    if example is not None:
        media["example"] = example
    if examples:
        media["examples"] = examples
    return {"required": True, "content": {"application/json": media, FHIR_JSON: media}}


_DRAFTS = {
    "type": "object",
    "required": ["resourceType", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"const": "collection"},
        "entry": {
            "type": "array",
            "items": {"type": "object", "required": ["resource"], "properties": {"resource": {"type": "object"}}},
        },
    },
}
HOOK_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string", "enum": sorted({s.hook for s in SERVICES.values()})},
        "hookInstance": {"type": "string", "format": "uuid"},
        "fhirServer": {"type": "string", "format": "uri"},
        "fhirAuthorization": {"type": "object"},
        "context": {
            "type": "object",
            "properties": {
                "userId": {"type": "string"},
                "patientId": {"type": "string"},
                "draftOrders": _DRAFTS,
                "draftClaims": _DRAFTS,
                "selections": {"type": "array", "items": {"type": "string"}},
            },
        },
        "prefetch": {"type": "object"},
    },
}
FEEDBACK_SCHEMA = {
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["card", "outcome", "outcomeTimestamp"],
                "properties": {
                    "card": {"type": "string", "format": "uuid"},
                    "outcome": {"type": "string", "enum": ["accepted", "overridden"]},
                    "outcomeTimestamp": {"type": "string", "format": "date-time"},
                    "acceptedSuggestions": {
                        "type": "array",
                        "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                    },
                    "overrideReason": {
                        "type": "object",
                        "properties": {
                            "reason": {
                                "type": "object",
                                "properties": {"system": {"type": "string"}, "code": {"type": "string"}},
                            },
                            "userComment": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def _service(service_id: str):
    svc = SERVICES.get(service_id)
    if svc is None:
        raise ServiceError(
            404, f"No CDS service {service_id!r}; GET /cds-services lists them.", code="not-found"
        )
    return svc


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    bind_host: str | None = None,
    insecure: bool = False,
) -> FastAPI:
    settings = settings or load_settings()
    engine = engine or Engine(settings)
    logsafe.install(["fhirplugin", "uvicorn", "uvicorn.access", "uvicorn.error"])

    app = FastAPI(
        title="fhirplugin",
        version=__version__,
        summary="CPT coding validation for FHIR Claims, Procedures and ServiceRequests.",
        description=(
            "CDS Hooks 2.0 services (order-sign, order-select, order-dispatch, encounter-discharge, "
            "dev.fhirplugin.charge-entry), rule pages (/rules), a try-it page (/try) and FHIR "
            "`$validate`. Every error answer is a FHIR OperationOutcome."
        ),
        docs_url=None,  # served offline by fhirplugin.service.docs
        redoc_url=None,
    )
    docs.install(app)
    app.state.settings = settings
    app.state.engine = engine
    app.state.bind_host = bind_host
    app.state.insecure = insecure or settings.service.insecure
    app.state.verifier = _verifier(settings)
    app.state.feedback = None
    errors.install(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.service.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.service.max_body_bytes)

    @app.get("/health", tags=["service"])
    async def health() -> JSONResponse:  # async: never queued behind hook calls in the thread pool
        """200 when the engine and its terminology are loaded."""
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "rules": len(engine.rules),
                "authentication": "jwt"
                if app.state.verifier and app.state.verifier.enabled
                else "none (loopback)",
            }
        )

    @app.get("/cds-services", tags=["cds-hooks"])
    async def discovery() -> JSONResponse:
        """CDS Hooks discovery: the services and their prefetch templates."""
        return JSONResponse({"services": [s.discovery() for s in SERVICES.values()]})

    @app.post(
        "/cds-services/{service_id}",
        tags=["cds-hooks"],
        openapi_extra={"requestBody": json_body(HOOK_REQUEST_SCHEMA, examples=cds_examples())},
        responses=outcome_responses(400, 401, 403, 404, 412, 413, 415, 422, 500),
        dependencies=[Depends(require_json)],
    )
    async def call_service(
        request: Request,
        service_id: Annotated[
            str, Path(description="A service id from discovery.", json_schema_extra={"enum": list(SERVICES)})
        ],
        claims=Depends(authorize),
    ) -> JSONResponse:
        """Run a CDS service: cards for the CPT coding problems in the draft orders or claims."""
        svc = _service(service_id)
        body = await read_json(request, settings)
        allowed = _allowed_servers(request, claims)
        answer = await run_in_threadpool(
            cds.run,
            engine,
            body,
            svc,
            settings.service,
            allowed_servers=allowed,
            base_url=public_base(request),
        )
        return JSONResponse(answer)

    @app.post(
        "/cds-services/{service_id}/feedback",
        tags=["cds-hooks"],
        openapi_extra={"requestBody": json_body(FEEDBACK_SCHEMA, FEEDBACK_EXAMPLE)},
        responses=outcome_responses(400, 401, 403, 404, 413, 415, 422, 500),
        dependencies=[Depends(require_json)],
    )
    async def feedback(
        request: Request,
        service_id: Annotated[str, Path(json_schema_extra={"enum": list(SERVICES)})],
        claims=Depends(authorize),
    ) -> JSONResponse:
        """CDS Hooks feedback: each item stored once (resending is harmless)."""
        from fhirplugin.service.feedback import FeedbackError

        _service(service_id)
        body = await read_json(request, settings)
        store = _feedback_store(app)
        try:
            new = await run_in_threadpool(store.record, service_id, body)
        except FeedbackError as exc:
            raise ServiceError(400, str(exc), expression=getattr(exc, "element", None)) from None
        n = len(fb) if isinstance(fb := body.get("feedback"), list) else 0
        return JSONResponse({"received": n, "stored": new})

    @app.get(
        "/cds-services/{service_id}/feedback",
        tags=["cds-hooks"],
        responses=outcome_responses(401, 403, 404, 422, 500),
    )
    def read_feedback(
        request: Request,
        service_id: Annotated[str, Path(json_schema_extra={"enum": list(SERVICES)})],
        limit: Annotated[int, Query(ge=1, le=1000, description="Items per page.")] = 100,
        before: Annotated[
            int | None, Query(ge=1, le=2**62, description="Only items with an id below this (the next page).")
        ] = None,
        claims=Depends(authorize),
    ) -> JSONResponse:
        """The feedback stored for a service, newest first, a page at a time: ``next`` (when present)
        is the URL of the following page."""
        _service(service_id)
        items = _feedback_store(app).list(service_id, limit=limit + 1, before=before)
        page: dict = {"feedback": items[:limit]}
        if len(items) > limit:
            page["next"] = f"{request.url.path}?limit={limit}&before={items[limit - 1]['id']}"
        return JSONResponse(page)

    fhir_routes.install(app, engine, settings)
    rulepages.install(app, public_base)
    tryit.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return JSONResponse(
            {"service": "fhirplugin", "discovery": "/cds-services", "docs": "/docs", "rules": "/rules", "try": "/try"}
        )

    return app


def _verifier(settings: Settings):
    if not settings.service.issuers:
        return None
    from fhirplugin.service.auth import JwtVerifier
    from fhirplugin.service.replay import replay_store

    return JwtVerifier(settings.service, replay=replay_store(settings.service))


def _feedback_store(app: FastAPI):
    if app.state.feedback is None:
        from fhirplugin.service.feedback import FeedbackStore

        app.state.feedback = FeedbackStore(app.state.settings.service.feedback_db)
    return app.state.feedback


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers): settings from FHIRPLUGIN_* and the config file."""
    import os

    return create_app(
        load_settings(os.environ.get("FHIRPLUGIN_CONFIG")),
        bind_host=os.environ.get("FHIRPLUGIN_BIND_HOST"),
        insecure=os.environ.get("FHIRPLUGIN_INSECURE") == "1",
    )
