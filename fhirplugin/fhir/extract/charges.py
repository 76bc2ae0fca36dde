"""ChargeItem (R4/R5): one billed line."""

from __future__ import annotations

import datetime as dt

from fhirplugin.fhir.case import Case, Coded, Diagnosis, DiagnosisPointer, ProcedureInfo, ServiceLine
from fhirplugin.fhir.extract.index import Index, Located
from fhirplugin.fhir.extract.procedures import procedure_info
from fhirplugin.fhir.extract.subjects import encounter_of, performer_of
from fhirplugin.fhir.extract.values import (
    JSON,
    JSONObject,
    as_dict,
    as_list,
    as_str,
    codings,
    codings_of_list,
    extension_codes,
    parse_date,
    primary,
    quantity,
    ref_str,
)
from fhirplugin.systems import EXT_APPROACH, EXT_METHOD, EXT_MODIFIER


def _modifier_extension(url: JSON) -> bool:
    """Modifier extensions as EHRs carry them on a ChargeItem: ours, or any extension whose name says
    modifier (``…/chargeitem-modifier``, ``…/cpt-modifier``)."""
    if not isinstance(url, str):
        return False
    return url == EXT_MODIFIER or "modifier" in url.rstrip("/").rsplit("/", 1)[-1].lower()


def charge_modifiers(res: JSONObject, path: str) -> list[Coded]:
    urls = [e.get("url") for e in as_list(res.get("extension")) if isinstance(e, dict)]
    wanted = tuple(u for u in urls if isinstance(u, str) and _modifier_extension(u))
    return extension_codes(res, path, *wanted) if wanted else []


def charge_date(res: JSONObject, base: str) -> tuple[dt.date | None, str | None]:
    """occurrenceDateTime, occurrencePeriod.start or the first occurrenceTiming event."""
    if (d := parse_date(res.get("occurrenceDateTime"))) is not None:
        return d, f"{base}.occurrenceDateTime"
    if (d := parse_date(as_dict(res.get("occurrencePeriod")).get("start"))) is not None:
        return d, f"{base}.occurrencePeriod.start"
    events = as_list(as_dict(res.get("occurrenceTiming")).get("event"))
    if events and (d := parse_date(events[0])) is not None:
        return d, f"{base}.occurrenceTiming.event[0]"
    return None, None


def charge_reasons(res: JSONObject, base: str) -> list[Diagnosis]:
    """``reason`` (R4 CodeableConcept, R5 CodeableReference), numbered from 1."""
    out = []
    for k, cc in enumerate(as_list(res.get("reason"))):
        rpath = f"{base}.reason[{k}]"
        cc = as_dict(cc)
        rcodes = codings(cc.get("concept"), f"{rpath}.concept") if "concept" in cc else codings(cc, rpath)
        if rcodes:
            out.append(Diagnosis(rcodes, rpath, k + 1))
    return out


def charge_services(loc: Located, idx: Index) -> list[ProcedureInfo]:
    """The Procedures / ServiceRequests ``service`` references (R4 Reference, R5 CodeableReference)."""
    out: list[ProcedureInfo] = []
    for ref in as_list(loc.resource.get("service")):
        ref = as_dict(ref)
        target = idx.resolve(ref.get("reference") if isinstance(ref.get("reference"), dict) else ref, loc)
        if target is not None and target.resource.get("resourceType") in ("Procedure", "ServiceRequest"):
            out.append(procedure_info(target, idx))
    return out


def _procedures_with_code(idx: Index, cpt: str, patient: str | None) -> list[ProcedureInfo]:
    """Procedure entries with the CPT code ``cpt`` for the same (or no) patient."""
    return [
        procedure_info(p, idx)
        for p in idx.of_type("Procedure")
        if any(c.code == cpt and c.is_cpt for c in codings(p.resource.get("code"), f"{p.path}.code"))
        and ref_str(p.resource.get("subject")) in (None, patient)
    ]


def charge_item_case(loc: Located, idx: Index, claimed_procs: set[str]) -> Case:
    """A ChargeItem (R4/R5): one billed line from ``code``, with quantity, bodysite, occurrence[x],
    performer, reasons, modifier extensions, and the Procedures its ``service`` references (a Reference
    in R4, a CodeableReference in R5)."""
    res, base = loc.resource, loc.path
    codes = codings(res.get("code"), f"{base}.code")
    patient = ref_str(res.get("subject"))
    rendering = performer_of(res)
    provider = rendering or ref_str(res.get("enterer"))
    billing = ref_str(res.get("performingOrganization")) or provider
    # the encounter: R4 ``context``, R5 ``encounter``
    enc_ref = res.get("encounter", res.get("context"))
    encounter = encounter_of(enc_ref, idx, loc) if enc_ref is not None else None
    date, date_path = charge_date(res, base)
    reasons = charge_reasons(res, base)
    linked = charge_services(loc, idx)
    has_ext = "extension" in res
    line = ServiceLine(
        path=base,
        code=primary(codes),
        codes=codes,
        code_path=f"{base}.code",
        modifiers=charge_modifiers(res, base) if has_ext else [],
        units=quantity(res, "quantity", f"{base}.quantity"),
        date=date,
        date_path=date_path,
        body_sites=codings_of_list(res.get("bodysite"), f"{base}.bodysite"),
        approaches=extension_codes(res, base, EXT_METHOD, EXT_APPROACH) if has_ext else [],
        diagnosis_pointers=[DiagnosisPointer(d.sequence or 0, d.path, d) for d in reasons],
        patient=patient,
        provider=provider,
        resource_path=base,
        resource_type="Claim",
        source_type="ChargeItem",
        billing_provider=billing,
        rendering_provider=rendering,
        encounter=encounter,
    )
    if not linked and line.cpt:
        linked = _procedures_with_code(idx, line.cpt, patient)
    line.procedures = linked
    for p in linked:
        claimed_procs.add(p.path)
    return Case(
        "ChargeItem",
        base,
        lines=[line],
        diagnoses=reasons,
        procedures=linked,
        patient=patient,
        provider=provider,
        resource_id=as_str(res.get("id")),
        encounter=encounter,
        submitted_procedure=any(p.resource_type == "Procedure" for p in linked),
    )
