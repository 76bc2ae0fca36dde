"""A standalone Procedure or ServiceRequest (one not taken over by a bill): one service line."""

from __future__ import annotations

from fhirplugin.fhir.case import Case, ProcedureInfo, Quantity, ServiceLine
from fhirplugin.fhir.extract.index import Index, Located
from fhirplugin.fhir.extract.procedures import procedure_info
from fhirplugin.fhir.extract.subjects import encounter_of, order_pos, performer_of
from fhirplugin.fhir.extract.values import JSONObject, as_dict, as_list, extension_codes, primary, ref_str
from fhirplugin.systems import EXT_MODIFIER


def order_provider(res: JSONObject, rtype: str) -> str | None:
    """Whose order or procedure it is: a ServiceRequest's requester, else its first performer; a
    Procedure's first performer actor. (The line's ``provider`` is the performer when one is named.)"""
    performers = as_list(res.get("performer"))
    if rtype == "ServiceRequest":
        provider = ref_str(res.get("requester"))
        return provider or (ref_str(performers[0]) if performers else None)
    return ref_str(as_dict(performers[0]).get("actor")) if performers else None


def order_units(res: JSONObject, base: str) -> Quantity:
    qq = res.get("quantityQuantity")
    if (
        isinstance(qq, dict)
        and isinstance(qq.get("value"), int | float)
        and not isinstance(qq.get("value"), bool)
    ):
        return Quantity(float(qq["value"]), f"{base}.quantityQuantity.value")
    return Quantity(1, None)


def order_date_path(res: JSONObject, base: str, info: ProcedureInfo) -> str | None:
    """Where the documented date came from (None when there is none)."""
    if not info.date:
        return None
    for key in ("performedDateTime", "occurrenceDateTime", "authoredOn"):
        if key in res:
            return f"{base}.{key}"
    for key in ("performedPeriod", "occurrencePeriod"):
        if key in res:
            return f"{base}.{key}.start"
    return None


def order_case(loc: Located, idx: Index) -> Case:
    """A standalone Procedure or ServiceRequest: one service line from its code."""
    res, base = loc.resource, loc.path
    info = procedure_info(loc, idx)
    rtype = info.resource_type
    code_path = (
        f"{base}.code.concept"
        if rtype == "ServiceRequest" and "concept" in as_dict(res.get("code"))
        else f"{base}.code"
    )
    patient = ref_str(res.get("subject"))
    billing = order_provider(res, rtype)
    rendering = performer_of(res)
    line = ServiceLine(
        path=base,
        code=primary(info.codes),
        codes=info.codes,
        code_path=code_path,
        modifiers=extension_codes(res, base, EXT_MODIFIER),
        units=order_units(res, base),
        date=info.date,
        date_path=order_date_path(res, base, info),
        procedures=[info],
        patient=patient,
        provider=rendering or billing,
        resource_path=base,
        resource_type=rtype,
        billing_provider=billing,
        rendering_provider=rendering,
        place_of_service=order_pos(res, base, idx, loc),
        encounter=encounter_of(res["encounter"], idx, loc) if "encounter" in res else None,
    )
    return Case(
        rtype,
        base,
        lines=[line],
        diagnoses=list(info.reasons),
        procedures=[info],
        patient=patient,
        provider=billing,
        resource_id=info.resource_id,
        encounter=line.encounter,
        submitted_procedure=rtype == "Procedure",
    )
