"""OpenAPI request examples, one set per endpoint, read from the files under ``examples/`` that the
README runs (shipped in the wheel as ``fhirplugin/_data/examples``): each CDS service shows its own
hook's request, ``$validate`` a Claim, a Bundle and an R5 order."""

from __future__ import annotations

from functools import cache

import orjson

from fhirplugin.resources import data_dir

# service id -> example file under examples/cds-hooks/
CDS_FILES = {
    "fhirplugin-order-sign": "order-sign.json",
    "fhirplugin-order-select": "order-select.json",
    "fhirplugin-order-dispatch": "order-dispatch.json",
    "fhirplugin-encounter-discharge": "encounter-discharge.json",
    "dev.fhirplugin.charge-entry": "charge-entry.json",
}


def _load(name: str) -> dict | None:
    try:
        return orjson.loads((data_dir("examples") / name).read_bytes())
    except (OSError, ValueError):
        return None  # an install without the examples: the docs just show fewer


@cache
def cds_examples() -> dict[str, dict]:
    """OpenAPI ``examples`` for ``POST /cds-services/{service_id}``, one per service (keyed by its id)."""
    from fhirplugin.service.tryit import EXAMPLES, example_request

    out = {}
    for sid, name in CDS_FILES.items():
        body = _load(f"cds-hooks/{name}")
        if body is not None:
            out[sid] = {"summary": f"{body.get('hook')} request for {sid}", "value": body}
    # a service with no request file of its own: the try-it page's example, wrapped as its hook's request
    for ex in EXAMPLES:
        if ex.service not in out and (body := example_request(ex.name)) is not None:
            out[ex.service] = {
                "summary": f"{body.get('hook')} request for {ex.service}: {ex.title}",
                "value": body,
            }
    return out


@cache
def validate_examples() -> dict[str, dict]:
    """OpenAPI ``examples`` for ``POST /fhir/{rtype}/$validate``."""
    out = {}
    for key, name, summary in (
        ("claim", "claim.json", "POST /fhir/Claim/$validate: a lone R4 Claim"),
        ("bundle", "drainage/bundle.json", "POST /fhir/Bundle/$validate: Claim, Procedures and orders"),
        ("order-r5", "order-r5.json", "POST /fhir/ServiceRequest/$validate, fhirVersion=5.0: an R5 order"),
    ):
        body = _load(name)
        if body is not None:
            out[key] = {"summary": summary, "value": body}
    return out


FEEDBACK_EXAMPLE = {
    "feedback": [
        {
            "card": "9a3b2c1d-0e4f-4a5b-8c6d-7e8f9a0b1c2d",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"}],
            "outcomeTimestamp": "2026-11-23T10:00:00Z",
        }
    ]
}
