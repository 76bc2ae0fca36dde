"""Every error answer is an OperationOutcome (``application/fhir+json``), never HTML or a trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("fhirplugin.service")

FHIR_JSON = "application/fhir+json"

_STATUS_CODE = {  # HTTP status → FHIR IssueType
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    412: "processing",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
}


class ServiceError(Exception):
    """Raised by handlers; rendered as an OperationOutcome with ``status``."""

    def __init__(
        self,
        status: int,
        text: str,
        *,
        code: str | None = None,
        expression: str | None = None,
        diagnostics: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.code = code or _STATUS_CODE.get(status, "exception")
        self.expression = expression
        self.diagnostics = diagnostics
        self.headers = headers


def outcome(
    text: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    expression: str | None = None,
    diagnostics: str | None = None,
) -> dict:
    issue: dict = {"severity": severity, "code": code, "details": {"text": text}}
    if diagnostics:
        issue["diagnostics"] = diagnostics
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def fhir_response(body: dict, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def error_response(exc: ServiceError) -> Response:
    body = outcome(exc.text, code=exc.code, expression=exc.expression, diagnostics=exc.diagnostics)
    return fhir_response(body, exc.status, exc.headers)


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        text = {
            404: f"No such endpoint: {request.method} {request.url.path}.",
            405: "Method not allowed here.",
        }
        return error_response(
            ServiceError(exc.status_code, text.get(exc.status_code, str(exc.detail)), headers=exc.headers)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        issues = [
            {
                "severity": "error",
                "code": "invalid",
                "details": {"text": f"{_loc(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}"},
                "expression": [_loc(tuple(e.get("loc", ())))],
            }
            for e in exc.errors()
        ]
        return fhir_response({"resourceType": "OperationOutcome", "issue": issues}, 422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(
            ServiceError(500, "Internal error: the request could not be processed.", code="exception")
        )
