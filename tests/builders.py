"""Build real FHIR R4 / R5 JSON from a short description, for rule cases and tests.

Shorthand (YAML cases use the same keys)::

    claim:
      date: 2026-03-02            # default date of service for lines
      diagnoses: [K65.1, C25.0]   # ICD-10-CM, sequences 1..n
      lines:
        - code: "49407"           # CPT unless `system` is given (system: null → no system)
          units: 1
          modifiers: ["59"]
          site: "82849001"        # SNOMED body site(s) (str or list)
          approach: transvaginal  # fhirplugin approach code (extension on the item)
          dx: [1]                 # diagnosisSequence
          procedure: 1            # procedureSequence → the n-th Procedure below
          rendering: Practitioner/dr2  # careTeam member (role primary) named by careTeamSequence
          pos: "11"               # CMS place of service (locationCodeableConcept)
      supporting_info: [DiagnosticReport/r1]  # Claim.supportingInfo references (category attachment)
    procedures:                   # Procedure resources; with them the claim goes in a Bundle
      - code: "49407"
        site: "82849001"
        approach: transvaginal    # procedure-method extension
        guidance: US              # DICOM modality (imaging-guidance extension)
        devices: [implanted]      # focalDevice actions (implanted | removed | used); a catheter Device each
        reasons: [K65.1]
        imaging: US               # a linked ImagingStudy (post-placement / guidance documentation)
        report: true              # a linked DiagnosticReport
        collections: 2            # collection-count extension
    subject: {gender: male, birthDate: 1960-04-01}   # a Patient/p1 entry in the Bundle
    locations: {loc1: "24"}       # Location entries typed with a place-of-service code; a claim
                                  # names one as ``facility: Location/loc1``, a line as ``location:``
    claims:                       # several Claims in one Bundle (same shorthand as claim; ids c1, c2...)
      - {provider: Practitioner/dr2, lines: [{code: "99213"}]}
    orders:                       # ServiceRequest resources (order-sign drafts)
      - {code: "49411", site: "41216001", reasons: [C61]}
      - {code: "49406", performer: Practitioner/dr3, pos: "22"}   # ServiceRequest.performer, locationCode
      - {code: "49406", units: 2, collections: 1}   # quantityQuantity; collection-count extension

    Any claim, procedure or order may say ``profile: <url>`` (or a list): it becomes ``meta.profile``.

    ``claim_as: ExplanationOfBenefit`` turns the claim into an EOB (same items, adjudicated);
    ``claim_as: ChargeItem`` into one ChargeItem per line (code, quantity, bodysite, occurrence, performer,
    reasons from the line's diagnoses, ``service`` referencing the line's Procedure).
"""

from __future__ import annotations

import copy
from typing import Any

from fhirplugin.systems import (
    APPROACH_SYSTEM,
    CPT,
    DEVICE_ACTION_SYSTEM,
    DICOM,
    EXT_APPROACH,
    EXT_COLLECTIONS,
    EXT_GUIDANCE,
    EXT_METHOD,
    EXT_MODIFIER,
    ICD10CM,
    POS,
    SNOMED,
)

CPT_MODIFIER_EXT = EXT_MODIFIER

DEFAULT_DATE = "2026-03-02"
PATIENT = "Patient/p1"
PROVIDER = "Practitioner/dr1"


def _cc(system: str | None, code: str, display: str | None = None) -> dict:
    c: dict = {"code": str(code)}
    if system:
        c = {"system": system, "code": str(code)}
    if display:
        c["display"] = display
    return {"coding": [c]}


def _as_list(v) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _meta(res: dict, spec: dict) -> None:
    """``profile: url`` (or a list) in the shorthand → ``meta.profile``, placed right after ``id``."""
    if spec.get("profile"):
        rest = {k: res.pop(k) for k in list(res) if k not in ("resourceType", "id")}
        res["meta"] = {"profile": _as_list(spec["profile"])}
        res.update(rest)


def _code_cc(spec: dict) -> dict:
    system = spec.get("system", CPT)
    return _cc(system, spec["code"])


def claim(spec: dict, version: str = "R4", *, proc_refs: list[str] | None = None) -> dict:
    date = str(spec.get("date", DEFAULT_DATE))
    res: dict[str, Any] = {
        "resourceType": "Claim",
        "id": spec.get("id", "c1"),
        "status": "active",
        "type": _cc("http://terminology.hl7.org/CodeSystem/claim-type", spec.get("type", "professional")),
        "use": "claim",
        "patient": {"reference": spec.get("patient", PATIENT)},
        "created": date,
        "provider": {"reference": spec.get("provider", PROVIDER)},
        **({"facility": {"reference": spec["facility"]}} if spec.get("facility") else {}),
        "priority": _cc("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov1"}}],
    }
    _meta(res, spec)
    if spec.get("diagnoses"):
        res["diagnosis"] = [
            {"sequence": i + 1, "diagnosisCodeableConcept": _cc(ICD10CM, code)}
            for i, code in enumerate(spec["diagnoses"])
        ]
    if spec.get("supporting_info"):  # references to documentation (e.g. DiagnosticReport/rep1)
        res["supportingInfo"] = [
            {
                "sequence": i + 1,
                "category": _cc(
                    "http://terminology.hl7.org/CodeSystem/claiminformationcategory", "attachment"
                ),
                "valueReference": {"reference": ref},
            }
            for i, ref in enumerate(_as_list(spec["supporting_info"]))
        ]
    if proc_refs:
        res["procedure"] = [
            {"sequence": i + 1, "procedureReference": {"reference": ref}} for i, ref in enumerate(proc_refs)
        ]
    items = []
    for i, ln in enumerate(spec.get("lines", [])):
        item: dict[str, Any] = {"sequence": i + 1, "productOrService": _code_cc(ln)}
        if ln.get("dx"):
            item["diagnosisSequence"] = list(ln["dx"])
        if ln.get("procedure"):
            item["procedureSequence"] = _as_list(ln["procedure"])
        if ln.get("modifiers"):
            item["modifier"] = [_cc(CPT, m) for m in ln["modifiers"]]
        item["servicedDate"] = str(ln.get("date", date))
        if "units" in ln:
            item["quantity"] = {"value": ln["units"]}
        sites = _as_list(ln.get("site"))
        if sites:
            if version == "R5":
                item["bodySite"] = [{"site": [{"concept": _cc(SNOMED, s)} for s in sites]}]
            else:
                item["bodySite"] = _cc(SNOMED, sites[0])
                if len(sites) > 1:
                    item["subSite"] = [_cc(SNOMED, s) for s in sites[1:]]
        if ln.get("rendering"):
            team = res.setdefault("careTeam", [])
            member = next((m for m in team if m["provider"]["reference"] == ln["rendering"]), None)
            if member is None:
                member = {
                    "sequence": len(team) + 1,
                    "provider": {"reference": ln["rendering"]},
                    "role": _cc("http://terminology.hl7.org/CodeSystem/claimcareteamrole", "primary"),
                }
                team.append(member)
            item["careTeamSequence"] = [member["sequence"]]
        if ln.get("pos"):
            item["locationCodeableConcept"] = _cc(POS, str(ln["pos"]))
        if ln.get("location"):  # a Location reference (see ``locations``)
            item["locationReference"] = {"reference": ln["location"]}
        if ln.get("approach"):
            item["extension"] = [
                {"url": EXT_APPROACH, "valueCodeableConcept": _cc(APPROACH_SYSTEM, ln["approach"])}
            ]
        items.append(item)
    if items:
        res["item"] = items
    if version == "R5":
        # R5 relaxed provider/priority/insurance to optional; keep them (valid in both)
        pass
    return res


def procedure(spec: dict, version: str = "R4", *, pid: str, extra: list[dict]) -> dict:
    """A Procedure; Devices, ImagingStudy and DiagnosticReport it links to go into ``extra``."""
    res: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": pid,
        "status": spec.get("status", "completed"),
        "code": _code_cc(spec),
        "subject": {"reference": spec.get("patient", PATIENT)},
    }
    _meta(res, spec)
    exts = []
    if spec.get("approach"):
        exts.append({"url": EXT_METHOD, "valueCodeableConcept": _cc(APPROACH_SYSTEM, spec["approach"])})
    if spec.get("guidance"):
        exts.append({"url": EXT_GUIDANCE, "valueCodeableConcept": _cc(DICOM, spec["guidance"])})
    if spec.get("collections") is not None:
        exts.append({"url": EXT_COLLECTIONS, "valueInteger": spec["collections"]})
    if exts:
        res["extension"] = exts
    date = str(spec.get("date", DEFAULT_DATE))
    res["occurrenceDateTime" if version == "R5" else "performedDateTime"] = date
    res["performer"] = [{"actor": {"reference": spec.get("provider", PROVIDER)}}]
    sites = _as_list(spec.get("site"))
    if sites:
        res["bodySite"] = [_cc(SNOMED, s) for s in sites]
    reasons = _as_list(spec.get("reasons"))
    if reasons:
        if version == "R5":
            res["reason"] = [{"concept": _cc(ICD10CM, r)} for r in reasons]
        else:
            res["reasonCode"] = [_cc(ICD10CM, r) for r in reasons]
    focal = []
    for k, action in enumerate(_as_list(spec.get("devices"))):
        dev_id = f"{pid}-dev{k + 1}"
        device = {"resourceType": "Device", "id": dev_id}
        dtype = _cc(SNOMED, "19923001", "Catheter")
        device["type"] = [dtype] if version == "R5" else dtype
        extra.append(device)
        fd: dict = {"manipulated": {"reference": f"Device/{dev_id}"}}
        if action != "used":
            fd["action"] = _cc(DEVICE_ACTION_SYSTEM, action)
        focal.append(fd)
    if focal:
        res["focalDevice"] = focal
    if spec.get("imaging"):
        study = {
            "resourceType": "ImagingStudy",
            "id": f"{pid}-img",
            "status": "available",
            "subject": {"reference": spec.get("patient", PATIENT)},
        }
        if version == "R5":
            study["modality"] = [_cc(DICOM, spec["imaging"])]
            study["procedure"] = [{"reference": {"reference": f"Procedure/{pid}"}}]
        else:
            study["modality"] = [{"system": DICOM, "code": spec["imaging"]}]
            study["procedureReference"] = {"reference": f"Procedure/{pid}"}
        extra.append(study)
    if spec.get("report"):
        rep_id = f"{pid}-rep"
        extra.append(
            {
                "resourceType": "DiagnosticReport",
                "id": rep_id,
                "status": "final",
                "code": _cc("http://loinc.org", "18748-4", "Diagnostic imaging study"),
                "subject": {"reference": spec.get("patient", PATIENT)},
            }
        )
        res["report"] = [{"reference": f"DiagnosticReport/{rep_id}"}]
    return res


def service_request(spec: dict, version: str = "R4", *, sid: str) -> dict:
    res: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": sid,
        "status": spec.get("status", "draft"),
        "intent": spec.get("intent", "order"),
        "subject": {"reference": spec.get("patient", PATIENT)},
        "requester": {"reference": spec.get("provider", PROVIDER)},
        "authoredOn": str(spec.get("date", DEFAULT_DATE)),
    }
    if spec.get("performer"):
        res["performer"] = [{"reference": spec["performer"]}]
    if spec.get("pos"):
        pos = _cc(POS, str(spec["pos"]))
        if version == "R5":
            res["location"] = [{"concept": pos}]
        else:
            res["locationCode"] = [pos]
    _meta(res, spec)
    res["code"] = {"concept": _code_cc(spec)} if version == "R5" else _code_cc(spec)
    if spec.get("approach"):
        res["extension"] = [
            {"url": EXT_METHOD, "valueCodeableConcept": _cc(APPROACH_SYSTEM, spec["approach"])}
        ]
    if "units" in spec:
        res["quantityQuantity"] = {"value": spec["units"]}
    if spec.get("collections") is not None:  # collection-count extension on the order
        res.setdefault("extension", []).append({"url": EXT_COLLECTIONS, "valueInteger": spec["collections"]})
    sites = _as_list(spec.get("site"))
    if sites:
        res["bodySite"] = [_cc(SNOMED, s) for s in sites]
    reasons = _as_list(spec.get("reasons"))
    if reasons:
        if version == "R5":
            res["reason"] = [{"concept": _cc(ICD10CM, r)} for r in reasons]
        else:
            res["reasonCode"] = [_cc(ICD10CM, r) for r in reasons]
    return res


def as_eob(claim_res: dict, version: str = "R4") -> dict:
    """The same claim as an ExplanationOfBenefit (adjudicated: outcome, insurer, item adjudication)."""
    eob = copy.deepcopy(claim_res)
    eob["resourceType"] = "ExplanationOfBenefit"
    eob["id"] = f"eob-{claim_res.get('id', 'c1')}"
    eob["insurer"] = {"reference": "Organization/payer1"}
    eob["outcome"] = "complete"
    eob["insurance"] = [{"focal": True, "coverage": {"reference": "Coverage/cov1"}}]
    for item in eob.get("item", []):
        item["adjudication"] = [
            {"category": _cc("http://terminology.hl7.org/CodeSystem/adjudication", "submitted")}
        ]
    return eob


def as_charge_items(claim_res: dict, version: str = "R4") -> list[dict]:
    """One ChargeItem per claim line, carrying what the line carries."""
    dx_by_seq = {d["sequence"]: d for d in claim_res.get("diagnosis", [])}
    procs = [p["procedureReference"]["reference"] for p in claim_res.get("procedure", [])]
    out = []
    for i, item in enumerate(claim_res.get("item", [])):
        ci: dict[str, Any] = {
            "resourceType": "ChargeItem",
            "id": f"ci{i + 1}",
            "status": "billable",
            "code": copy.deepcopy(item["productOrService"]),
            "subject": copy.deepcopy(claim_res["patient"]),
        }
        if "servicedDate" in item:
            ci["occurrenceDateTime"] = item["servicedDate"]
        team = {m["sequence"]: m["provider"] for m in claim_res.get("careTeam", [])}
        rendering = [team[s] for s in item.get("careTeamSequence", []) if s in team]
        ci["performer"] = [{"actor": copy.deepcopy(rendering[0] if rendering else claim_res["provider"])}]
        if "quantity" in item:
            ci["quantity"] = copy.deepcopy(item["quantity"])
        if "bodySite" in item:
            site = item["bodySite"]
            if version == "R5":
                ci["bodysite"] = [cr["concept"] for bs in site for cr in bs.get("site", [])]
            else:
                ci["bodysite"] = [site, *item.get("subSite", [])]
        reasons = [
            dx_by_seq[s]["diagnosisCodeableConcept"]
            for s in item.get("diagnosisSequence", [])
            if s in dx_by_seq and "diagnosisCodeableConcept" in dx_by_seq[s]
        ]
        if reasons:
            ci["reason"] = copy.deepcopy(reasons)
        services = [procs[s - 1] for s in item.get("procedureSequence", []) if 0 < s <= len(procs)]
        if services:
            ci["service"] = (
                [{"reference": {"reference": r}} for r in services]
                if version == "R5"
                else [{"reference": r} for r in services]
            )
        exts = list(item.get("extension", []))
        for m in item.get("modifier", []):
            exts.append({"url": CPT_MODIFIER_EXT, "valueCodeableConcept": copy.deepcopy(m)})
        if exts:
            ci["extension"] = exts
        out.append(ci)
    return out


def build(spec: dict, version: str = "R4") -> dict:
    """A Claim alone, or a Bundle (collection) when procedures/orders/bundle: true are given."""
    spec = copy.deepcopy(spec)
    procs = spec.get("procedures") or []
    orders = spec.get("orders") or []
    claims = spec.get("claims") or []
    subject = spec.get("subject")
    locations = spec.get("locations") or {}
    claim_as = spec.get("claim_as", "Claim")
    if (
        not procs
        and not orders
        and not claims
        and not subject
        and not locations
        and not spec.get("bundle")
        and "claim" in spec
        and claim_as != "ChargeItem"
    ):
        res = claim(spec["claim"], version)
        return as_eob(res, version) if claim_as == "ExplanationOfBenefit" else res
    entries: list[dict] = []
    extra: list[dict] = []
    proc_ids = [f"proc{i + 1}" for i in range(len(procs))]
    if "claim" in spec:
        link = spec["claim"].get("link_procedures", True)
        res = claim(spec["claim"], version, proc_refs=[f"Procedure/{p}" for p in proc_ids] if link else None)
        if claim_as == "ExplanationOfBenefit":
            entries.append(as_eob(res, version))
        elif claim_as == "ChargeItem":
            entries.extend(as_charge_items(res, version))
        else:
            entries.append(res)
    for i, c in enumerate(claims):
        entries.append(claim({"id": f"c{i + 1}", **c}, version))
    for pid, p in zip(proc_ids, procs, strict=True):
        entries.append(procedure(p, version, pid=pid, extra=extra))
    for i, o in enumerate(orders):
        entries.append(service_request(o, version, sid=f"sr{i + 1}"))
    entries.extend(extra)
    if subject:
        patient = {"resourceType": "Patient", "id": PATIENT.split("/")[1]}
        patient.update({k: str(v) for k, v in subject.items()})
        entries.append(patient)
    for lid, pos in locations.items():  # Location entries typed with a CMS place-of-service code
        entries.append({"resourceType": "Location", "id": lid, "type": [_cc(POS, str(pos))]})
    base = "http://example.org/fhir/"
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r} for r in entries],
    }
