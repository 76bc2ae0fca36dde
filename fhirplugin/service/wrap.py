"""Build a CDS Hooks request for one of our services from a plain FHIR Bundle.

Used by the try-it page (``POST /try/request``) and by ``fhirplugin hook`` when given a Bundle, so
both send the same request an EHR would:

- order-sign / order-select: the Bundle is ``context.draftOrders`` (order-select selects every
  CPT-coded ServiceRequest); resources that are not orders are there to satisfy references.
- charge-entry: the Bundle is ``context.draftClaims``.
- order-dispatch: the CPT-coded ServiceRequests are ``context.dispatchedOrders``; the resources go
  to ``prefetch`` under the service's keys.
- encounter-discharge: the resources go to ``prefetch`` under the service's keys (procedures,
  chargeItems, claims, conditions, …); ``encounterId`` comes from the resources.
"""

from __future__ import annotations

import uuid

from fhirplugin.jsontypes import JSONObject, JSONValue
from fhirplugin.service.cds import is_cpt_order
from fhirplugin.service.hooks import ENCOUNTER_CHECKED, ENCOUNTER_SEARCHES, Service

_DISPATCH_KEYS = {"ServiceRequest": "orders", "Condition": "conditions"}


def is_hook_request(obj: JSONValue) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("hook"), str) and isinstance(obj.get("context"), dict)


def _resources(bundle: JSONObject) -> list[JSONObject]:
    entries = entry if isinstance(entry := bundle.get("entry"), list) else []
    return [r for e in entries if isinstance(e, dict) and isinstance(r := e.get("resource"), dict)]


def _first_ref(resources: list[JSONObject], type_: str, fields: tuple[str, ...]) -> str | None:
    """The id of the first ``type_/id`` reference found under ``fields`` (also inside Claim items)."""
    for r in resources:
        values = [r.get(f) for f in fields]
        for item in items if isinstance(items := r.get("item"), list) else []:
            if isinstance(item, dict):
                values.extend(item.get(f) for f in fields)
        for v in values:
            for ref in v if isinstance(v, list) else [v]:
                if isinstance(ref, dict) and isinstance(reference := ref.get("reference"), str):
                    head, _, rid = reference.rpartition("/")
                    if head.endswith(type_) and rid:
                        return rid
    return None


def _searchset(resources: list[JSONObject]) -> JSONObject:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def build_request(service: Service, bundle: JSONObject, *, hook_instance: str | None = None) -> JSONObject:
    """The hook request ``service`` expects, carrying the resources of ``bundle``."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("expected a FHIR Bundle or a CDS Hooks request")
    resources = _resources(bundle)
    patient = _first_ref(resources, "Patient", ("patient", "subject")) or "example"
    user = "Practitioner/" + (_first_ref(resources, "Practitioner", ("provider", "requester")) or "example")
    context: JSONObject = {"userId": user, "patientId": patient}
    prefetch: JSONObject = {}
    plain: JSONObject = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    if service.source == "bundle":
        context[service.context_key] = plain
        if service.hook == "order-select":
            context["selections"] = [
                f"ServiceRequest/{r['id']}"
                for r in resources
                if is_cpt_order(r) and isinstance(r.get("id"), str)
            ]
    elif service.source == "dispatch":
        del context["userId"]
        orders = [r for r in resources if is_cpt_order(r) and isinstance(r.get("id"), str)]
        if not orders:
            raise ValueError("the Bundle holds no CPT-coded ServiceRequest with an id to dispatch")
        context["dispatchedOrders"] = [f"ServiceRequest/{r['id']}" for r in orders]
        performer = _first_ref(orders, "Organization", ("performer",))
        context["performer"] = f"Organization/{performer}" if performer else "Organization/performer"
        for type_, key in _DISPATCH_KEYS.items():
            found = [r for r in resources if r.get("resourceType") == type_]
            if found:
                prefetch[key] = _searchset(found)
    else:
        context["encounterId"] = _first_ref(resources, "Encounter", ("encounter", "context")) or "example"
        for key, (type_, _) in ENCOUNTER_SEARCHES.items():
            found = [r for r in resources if r.get("resourceType") == type_]
            if found:
                prefetch[key] = _searchset(found)
            elif key in ENCOUNTER_CHECKED:  # the client searched and found nothing
                prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    out: JSONObject = {
        "hook": service.hook,
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": context,
    }
    if prefetch:
        out["prefetch"] = prefetch
    return out
