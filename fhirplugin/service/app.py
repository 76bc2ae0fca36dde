"""The FastAPI application: CDS Hooks 2.0 services, feedback, FHIR ``$validate``, metadata, health.

``create_app(settings)`` builds everything once (engine, terminology, JWT verifier, feedback store);
``fhirplugin serve`` runs it with uvicorn (:mod:`fhirplugin.service.run`).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhirplugin import __version__
from fhirplugin.config import Settings, load_settings
from fhirplugin.engine import Engine
from fhirplugin.fhir import jsonload
from fhirplugin.service import cds, docs, errors, fhir_routes, logsafe, rulepages, tryit
from fhirplugin.service.errors import ServiceError
from fhirplugin.service.examples import FEEDBACK_EXAMPLE, cds_examples
from fhirplugin.service.hooks import SERVICES
from fhirplugin.service.limits import BodyLimit

log = logging.getLogger("fhirplugin.service")


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


async def authorize(request: Request):
    """JWT check per CDS Hooks 2.0 when issuers are configured; loopback-only otherwise."""
    state = request.app.state
    verifier = state.verifier
    if verifier is not None and verifier.enabled:
        from fhirplugin.service.auth import AuthError

        audience = public_base(request) + request.url.path
        try:
            return await run_in_threadpool(verifier.verify, request.headers.get("authorization"), audience)
        except AuthError as exc:
            log.info("JWT rejected on %s: %s", request.url.path, exc.reason)
            raise ServiceError(
                401, "Authentication failed.", code="login", headers={"WWW-Authenticate": "Bearer"}
            ) from None
    if not state.insecure and not is_loopback(state.bind_host):
        raise ServiceError(
            401, "Authentication failed.", code="login", headers={"WWW-Authenticate": "Bearer"}
        )
    return None


def _allowed_servers(request: Request, claims) -> list[str] | None:
    if claims is None:
        return None  # unauthenticated loopback mode: the operator's own machine
    for issuer in request.app.state.settings.service.issuers:
        if issuer.iss == claims.iss:
            return list(issuer.fhir_servers)
    return []


async def read_json(request: Request, settings: Settings) -> object:
    data = await request.body()
    raw = jsonload.parse_document(
        data, max_bytes=settings.service.max_body_bytes, max_depth=settings.max_depth
    )
    if raw.value is None:
        p = raw.problems[0]
        raise ServiceError(400, p.text.replace("The input", "The request body"), diagnostics=p.diagnostics)
    return raw.value


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
    def health() -> JSONResponse:
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
    def discovery() -> JSONResponse:
        """CDS Hooks discovery: the services and their prefetch templates."""
        return JSONResponse({"services": [s.discovery() for s in SERVICES.values()]})

    @app.post(
        "/cds-services/{service_id}",
        tags=["cds-hooks"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}, "examples": cds_examples()}},
            }
        },
        responses={
            400: {"description": "Bad request (OperationOutcome)"},
            401: {"description": "JWT missing or invalid (OperationOutcome)"},
            412: {"description": "Needed data neither prefetched nor fetchable (OperationOutcome)"},
            413: {"description": "Body too large (OperationOutcome)"},
        },
    )
    async def call_service(
        request: Request,
        service_id: Annotated[str, Path(description="A service id from discovery.")],
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
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}, "example": FEEDBACK_EXAMPLE}},
            }
        },
    )
    async def feedback(request: Request, service_id: str, claims=Depends(authorize)) -> JSONResponse:
        """CDS Hooks feedback: each item stored once (resending is harmless)."""
        from fhirplugin.service.feedback import FeedbackError

        _service(service_id)
        body = await read_json(request, settings)
        store = _feedback_store(app)
        try:
            new = await run_in_threadpool(store.record, service_id, body)
        except FeedbackError as exc:
            raise ServiceError(400, str(exc), expression=getattr(exc, "element", None)) from None
        n = len(body.get("feedback") or []) if isinstance(body, dict) else 0
        return JSONResponse({"received": n, "stored": new})

    @app.get("/cds-services/{service_id}/feedback", tags=["cds-hooks"])
    def read_feedback(service_id: str, limit: int = 100, claims=Depends(authorize)) -> JSONResponse:
        """The feedback stored for a service, newest first."""
        _service(service_id)
        return JSONResponse(
            {"feedback": _feedback_store(app).list(service_id, limit=max(1, min(limit, 1000)))}
        )

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

    return JwtVerifier(settings.service)


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
