"""FHIR endpoints: ``POST /fhir/{type}/$validate`` and ``GET /fhir/metadata``."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Annotated

import orjson
from fastapi import Depends, FastAPI, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhirplugin import __version__
from fhirplugin.config import Settings
from fhirplugin.engine import Engine
from fhirplugin.fhir import jsonload, version
from fhirplugin.resources import data_dir
from fhirplugin.service import limits
from fhirplugin.service.errors import FHIR_JSON, ServiceError
from fhirplugin.service.guards import authorize_validate, body_bytes, require_json

VALIDATE_TYPES = ("Claim", "ExplanationOfBenefit", "ChargeItem", "Procedure", "ServiceRequest", "Bundle")
_MIME_VERSION = {"R4": "4.0", "R4B": "4.3", "R5": "5.0"}
_FULL_VERSION = {"R4": "4.0.1", "R4B": "4.3.0", "R5": "5.0.0"}
_PARAM = re.compile(r"fhirVersion\s*=\s*\"?([0-9.]+)\"?", re.IGNORECASE)
NOT_FHIR = {"INP001", "INP002", "INP004", "INP006"}


def requested_version(header: str | None) -> str | None:
    """``application/fhir+json; fhirVersion=5.0`` → ``R5``; None when the header does not say."""
    m = _PARAM.search(header or "")
    if not m:
        return None
    try:
        return version.normalize(m.group(1))
    except ValueError:
        raise ServiceError(
            415, f"FHIR version {m.group(1)} is not supported; send 4.0, 4.3 or 5.0.", code="not-supported"
        ) from None


def fhir_response(body: dict, ver: str, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=f"{FHIR_JSON}; fhirVersion={_MIME_VERSION.get(ver, '4.0')}",
    )


@cache
def _profiles() -> list[dict]:
    out = []
    folder = data_dir("profiles")
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            sd = orjson.loads(path.read_bytes())
        except (orjson.JSONDecodeError, OSError):
            continue
        if (
            isinstance(sd, dict)
            and sd.get("resourceType") == "StructureDefinition"
            and sd.get("kind") == "resource"
        ):
            out.append({"type": sd.get("type"), "url": sd.get("url")})
    return out


def capability_statement(ver: str) -> dict:
    profiles = _profiles()
    resources = []
    for rtype in VALIDATE_TYPES:
        res: dict = {
            "type": rtype,
            "operation": [
                {
                    "name": "validate",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                }
            ],
        }
        supported = [p["url"] for p in profiles if p["type"] == rtype and p["url"]]
        if supported:
            res["supportedProfile"] = supported
        resources.append(res)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": dt.date.today().isoformat(),
        "publisher": "fhirplugin",
        "kind": "instance",
        "software": {"name": "fhirplugin", "version": __version__},
        "implementation": {"description": "CPT coding validation: $validate and CDS Hooks services"},
        "fhirVersion": _FULL_VERSION[ver],
        "format": ["application/fhir+json", "json"],
        "rest": [{"mode": "server", "resource": resources}],
    }


def install(app: FastAPI, engine: Engine, settings: Settings) -> None:
    from fhirplugin.service.app import outcome_responses
    from fhirplugin.service.examples import validate_examples

    fhir_ok = {"content": {FHIR_JSON: {"schema": {"type": "object"}}}}

    @app.get(
        "/fhir/metadata",
        tags=["fhir"],
        responses={200: {"description": "CapabilityStatement", **fhir_ok}, **outcome_responses(415, 500)},
    )
    def metadata(request: Request) -> Response:
        """CapabilityStatement naming the ``$validate`` operations and the profiles (R4 unless Accept asks R5)."""
        ver = requested_version(request.headers.get("accept")) or "R4"
        return fhir_response(capability_statement(ver), ver)

    @app.post(
        "/fhir/{rtype}/$validate",
        tags=["fhir"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": {"type": "object"}, "examples": validate_examples()}
                    for media in ("application/json", FHIR_JSON)
                },
            }
        },
        responses={
            200: {"description": "OperationOutcome with the findings", **fhir_ok},
            **outcome_responses(400, 401, 403, 404, 413, 415, 422, 500),
        },
        dependencies=[Depends(require_json), Depends(authorize_validate)],
    )
    async def validate(
        request: Request, rtype: Annotated[str, Path(json_schema_extra={"enum": list(VALIDATE_TYPES)})]
    ) -> Response:
        """Validate a resource (or ``Parameters`` with a ``resource`` parameter): 200 + OperationOutcome."""
        if rtype not in VALIDATE_TYPES:
            raise ServiceError(
                404,
                f"$validate is offered for {', '.join(VALIDATE_TYPES)}; not for {rtype!r}.",
                code="not-supported",
            )
        data = await body_bytes(request)
        ver_hint = requested_version(request.headers.get("content-type")) or settings.fhir_version
        raw = jsonload.parse_document(
            data, max_bytes=settings.service.max_body_bytes, max_depth=settings.max_depth, check_depth=False
        )
        if raw.value is not None:
            got = raw.value.get("resourceType")
            if got not in (rtype, "Parameters") and isinstance(got, str) and got:
                raise ServiceError(
                    400,
                    f"The body is a {got}, but this is the {rtype} $validate endpoint; "
                    f"POST it to /fhir/{got}/$validate.",
                    expression="resourceType",
                    code="invalid",
                )
            limits.check_budget(raw.value, settings.service)
        result = await run_in_threadpool(engine.check_raw, raw, fhir_version=ver_hint, source="request")
        status = 400 if any(f.rule_id in NOT_FHIR for f in result.findings) else 200
        return fhir_response(result.outcome(), result.fhir_version, status)
