"""Procedure documentation: a Procedure or ServiceRequest as site, approach, guidance, devices,
reasons and the reports and imaging studies linked to it."""

from __future__ import annotations

import datetime as dt

from fhirplugin.fhir.case import Attachment, Coded, Device, Diagnosis, ProcedureInfo
from fhirplugin.fhir.extract.index import Index, Located
from fhirplugin.fhir.extract.values import (
    JSON,
    JSONObject,
    as_dict,
    as_list,
    as_str,
    coding,
    codings,
    codings_of_list,
    extension_codes,
    extension_int,
    parse_date,
)
from fhirplugin.systems import EXT_APPROACH, EXT_COLLECTIONS, EXT_GUIDANCE, EXT_METHOD


def _modalities(study: JSONObject, path: str) -> list[Coded]:
    out = []
    for k, m in enumerate(as_list(study.get("modality"))):
        m = as_dict(m)
        if "coding" in m:  # R5 CodeableConcept
            out.extend(codings(m, f"{path}.modality[{k}]"))
        else:  # R4 Coding
            out.extend(coding(m, f"{path}.modality[{k}]"))
    return out


def attachment(loc: Located) -> Attachment:
    res = loc.resource
    rtype = as_str(res.get("resourceType")) or "Resource"
    codes = codings(res.get("code"), f"{loc.path}.code") if isinstance(res.get("code"), dict) else []
    mods = _modalities(res, loc.path) if rtype == "ImagingStudy" else []
    return Attachment(kind=rtype, path=loc.path, codes=codes, modalities=mods)


def _condition(ref: JSON, idx: Index, container: Located) -> Diagnosis | None:
    target = idx.resolve_type(ref, container, "Condition")
    if target is None:
        return None
    return Diagnosis(codings(target.resource.get("code"), f"{target.path}.code"), target.path)


def reasons(res: JSONObject, path: str, idx: Index, container: Located) -> list[Diagnosis]:
    """reasonCode / reasonReference (R4) and reason (R5 CodeableReference), each with codes."""
    out: list[Diagnosis | None] = []
    for k, cc in enumerate(as_list(res.get("reasonCode"))):
        out.append(Diagnosis(codings(cc, f"{path}.reasonCode[{k}]"), f"{path}.reasonCode[{k}]"))
    for ref in as_list(res.get("reasonReference")):
        out.append(_condition(ref, idx, container))
    for k, cr in enumerate(as_list(res.get("reason"))):
        cr = as_dict(cr)
        if "concept" in cr:
            out.append(
                Diagnosis(codings(cr["concept"], f"{path}.reason[{k}].concept"), f"{path}.reason[{k}]")
            )
        out.append(_condition(cr.get("reference"), idx, container))
    return [d for d in out if d is not None and d.codes]


_IMPLANT_WORDS = ("implant", "insert", "placed", "placement", "left in place", "left-in-place", "indwelling")
_REMOVE_WORDS = ("remov", "explant", "withdraw")


def device_action(action: JSON, path: str) -> str:
    """``focalDevice.action`` normalised: "removed", "implanted" (left in place) or "used"."""
    texts = [c.code.lower() + " " + (c.display or "").lower() for c in codings(action, path)]
    texts.append((as_str(as_dict(action).get("text")) or "").lower())
    blob = " ".join(texts)
    if any(w in blob for w in _REMOVE_WORDS):
        return "removed"
    if any(w in blob for w in _IMPLANT_WORDS):
        return "implanted"
    return "used"


def _device_codes(ref: JSON, idx: Index, container: Located) -> tuple[list[Coded], str | None]:
    display = as_str(as_dict(ref).get("display"))
    target = idx.resolve_type(ref, container, "Device")
    if target is None:
        return [], display
    dev = target.resource
    dtype = dev.get("type")
    if isinstance(dtype, dict):  # R4
        codes = codings(dtype, f"{target.path}.type")
    else:  # R5: list
        codes = codings_of_list(dtype, f"{target.path}.type")
    if not display:
        names = as_list(dev.get("deviceName")) or as_list(dev.get("name"))
        display = as_str(as_dict(names[0]).get("name") or as_dict(names[0]).get("value")) if names else None
    return codes, display


def devices(res: JSONObject, path: str, idx: Index, container: Located) -> list[Device]:
    """focalDevice (with its action), usedReference / usedCode (R4) and used (R5)."""
    out = []
    for k, fd in enumerate(as_list(res.get("focalDevice"))):
        fd = as_dict(fd)
        codes, display = _device_codes(fd.get("manipulated"), idx, container)
        fpath = f"{path}.focalDevice[{k}]"
        out.append(Device(fpath, codes, device_action(fd.get("action"), f"{fpath}.action"), display))
    for k, ref in enumerate(as_list(res.get("usedReference"))):
        codes, display = _device_codes(ref, idx, container)
        out.append(Device(f"{path}.usedReference[{k}]", codes, "used", display))
    for k, cc in enumerate(as_list(res.get("usedCode"))):
        out.append(Device(f"{path}.usedCode[{k}]", codings(cc, f"{path}.usedCode[{k}]"), "used"))
    for k, cr in enumerate(as_list(res.get("used"))):  # R5
        cr = as_dict(cr)
        codes = codings(cr.get("concept"), f"{path}.used[{k}].concept")
        more, display = _device_codes(cr.get("reference"), idx, container)
        out.append(Device(f"{path}.used[{k}]", codes + more, "used", display))
    return out


def procedure_info(loc: Located, idx: Index) -> ProcedureInfo:
    """A Procedure or ServiceRequest resource as procedure documentation (read once per input and
    location: every claim of a Bundle that links it shares the same object; rules only read it)."""
    info = idx.procs.get(loc.path)
    if info is None:
        info = idx.procs[loc.path] = _procedure_info(loc, idx)
    return info


def standalone(idx: Index) -> tuple[list[ProcedureInfo], dict[str, list[ProcedureInfo]]]:
    """Every Procedure entry as documentation, in order, and the same by CPT code (each once)."""
    if idx.standalone is None:
        procs = [procedure_info(loc, idx) for loc in idx.of_type("Procedure")]
        by_code: dict[str, list[ProcedureInfo]] = {}
        for p in procs:
            add_by_code(by_code, p)
        idx.standalone = (procs, by_code)
    return idx.standalone


def add_by_code(by_code: dict[str, list[ProcedureInfo]], p: ProcedureInfo) -> None:
    """File ``p`` under each of its CPT/HCPCS codes (once per code)."""
    for code in dict.fromkeys(c.code for c in p.codes if c.is_cpt):
        by_code.setdefault(code, []).append(p)


def procedure_codes(res: JSONObject, path: str) -> list[Coded]:
    """``code`` of a Procedure, or of a ServiceRequest (R5: ``code.concept``)."""
    code = res.get("code")
    if res.get("resourceType") == "ServiceRequest" and isinstance(code, dict) and "concept" in code:
        return codings(code["concept"], f"{path}.code.concept")
    return codings(code, f"{path}.code")


def _reports(loc: Located, idx: Index, rtype: str) -> list[Attachment]:
    """``report`` references, then the reverse links: ImagingStudy.procedureReference (R4) /
    .procedure (R5), DiagnosticReport.basedOn."""
    res, path = loc.resource, loc.path
    reports: list[Attachment] = []
    for k, ref in enumerate(as_list(res.get("report"))):
        target = idx.resolve(ref, loc)
        reports.append(
            attachment(target)
            if target
            else Attachment(kind="Reference", path=f"{path}.report[{k}]", resolved=False)
        )
    own_refs = {f"{rtype}/{res.get('id')}"} if res.get("id") else set()
    own_refs |= idx.keys_of(res)
    if own_refs:
        have = {r.path for r in reports}
        for other in idx.linking_to(own_refs):
            if other.path not in have:
                have.add(other.path)
                reports.append(attachment(other))
    return reports


def procedure_date(res: JSONObject) -> dt.date | None:
    """performed[x] / occurrence[x] (start of a Period), and a ServiceRequest's ``authoredOn``."""
    date = None
    for key in ("performedDateTime", "occurrenceDateTime"):
        date = date or parse_date(res.get(key))
    for key in ("performedPeriod", "occurrencePeriod"):
        date = date or parse_date(as_dict(res.get(key)).get("start"))
    if res.get("resourceType") == "ServiceRequest":
        date = date or parse_date(res.get("authoredOn"))
    return date


def _procedure_info(loc: Located, idx: Index) -> ProcedureInfo:
    res, path = loc.resource, loc.path
    rtype = as_str(res.get("resourceType")) or "Procedure"
    guidance = extension_codes(res, path, EXT_GUIDANCE)
    reports = _reports(loc, idx, rtype)
    # DICOM modality of linked imaging studies counts as guidance modality when none is stated
    if not guidance:
        for att in reports:
            guidance.extend(att.modalities)
    return ProcedureInfo(
        resource_type=rtype,
        path=path,
        codes=procedure_codes(res, path),
        body_sites=codings_of_list(res.get("bodySite"), f"{path}.bodySite"),
        approaches=extension_codes(res, path, EXT_METHOD, EXT_APPROACH),
        guidance=guidance,
        devices=devices(res, path, idx, loc),
        reasons=reasons(res, path, idx, loc),
        reports=reports,
        collections=extension_int(res, EXT_COLLECTIONS),
        date=procedure_date(res),
        status=as_str(res.get("status")),
        resource_id=as_str(res.get("id")),
    )
