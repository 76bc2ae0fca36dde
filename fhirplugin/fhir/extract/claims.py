"""Claims and ExplanationOfBenefits: their diagnoses, procedures, supporting information and items.

An ExplanationOfBenefit item reads as a Claim item (the element names are the same). A Claim item is
documented by the procedures it points to (``procedureSequence``), else the claim's procedures with its
CPT code, else a Procedure entry of the input with that code for the same (or no) patient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fhirplugin.fhir.case import (
    Attachment,
    Case,
    Coded,
    Diagnosis,
    DiagnosisPointer,
    ProcedureInfo,
    ServiceLine,
)
from fhirplugin.fhir.extract.index import Index, Located
from fhirplugin.fhir.extract.procedures import add_by_code, attachment, procedure_info, standalone
from fhirplugin.fhir.extract.subjects import (
    care_team,
    claim_type,
    first_encounter,
    item_pos,
    item_rendering,
    location_pos,
)
from fhirplugin.fhir.extract.values import (
    JSONObject,
    as_dict,
    as_int,
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
from fhirplugin.systems import EXT_APPROACH, EXT_METHOD, EXT_MODIFIER, PAS_REQUESTED_SERVICE_URL


# ---------------------------------------------------------------- claim-level elements
def claim_diagnoses(claim: Located, idx: Index) -> list[Diagnosis]:
    """``Claim.diagnosis``: the codeable concept and the codes of a referenced Condition."""
    out = []
    for k, d in enumerate(as_list(claim.resource.get("diagnosis"))):
        d = as_dict(d)
        path = f"{claim.path}.diagnosis[{k}]"
        codes = codings(d.get("diagnosisCodeableConcept"), f"{path}.diagnosisCodeableConcept")
        target = idx.resolve_type(d.get("diagnosisReference"), claim, "Condition")
        if target is not None:
            codes += codings(target.resource.get("code"), f"{target.path}.code")
        out.append(Diagnosis(codes, path, as_int(d.get("sequence"))))
    return out


def claim_procedures(claim: Located, idx: Index) -> list[tuple[int | None, ProcedureInfo]]:
    """``Claim.procedure`` by sequence: a referenced Procedure, or the codeable concept and date."""
    out = []
    for k, p in enumerate(as_list(claim.resource.get("procedure"))):
        p = as_dict(p)
        path = f"{claim.path}.procedure[{k}]"
        seq = as_int(p.get("sequence"))
        target = idx.resolve_type(p.get("procedureReference"), claim, "Procedure")
        if target is not None:
            out.append((seq, procedure_info(target, idx)))
        elif isinstance(p.get("procedureCodeableConcept"), dict):
            codes = codings(p["procedureCodeableConcept"], f"{path}.procedureCodeableConcept")
            out.append(
                (seq, ProcedureInfo("Claim.procedure", path, codes=codes, date=parse_date(p.get("date"))))
            )
    return out


def supporting_info(claim: Located, idx: Index) -> list[Attachment]:
    """``Claim.supportingInfo``: the referenced resource (at the supportingInfo path), else its code."""
    out = []
    for k, si in enumerate(as_list(claim.resource.get("supportingInfo"))):
        si = as_dict(si)
        path = f"{claim.path}.supportingInfo[{k}]"
        target = idx.resolve(si.get("valueReference"), claim)
        if target is not None:
            att = attachment(target)
            att.path = path
        else:
            att = Attachment("supportingInfo", path, codes=codings(si.get("code"), f"{path}.code"))
        out.append(att)
    return out


# ---------------------------------------------------------------- items
def item_date(
    item: JSONObject, path: str, billable: dt.date | None, base: str
) -> tuple[dt.date | None, str | None]:
    """servicedDate, else servicedPeriod.start, else the claim's billablePeriod.start."""
    date, date_path = parse_date(item.get("servicedDate")), f"{path}.servicedDate"
    if date is None and isinstance(item.get("servicedPeriod"), dict):
        date, date_path = parse_date(item["servicedPeriod"].get("start")), f"{path}.servicedPeriod.start"
    if date is None and billable is not None:
        date, date_path = billable, f"{base}.billablePeriod.start"
    return date, date_path if date else None


def item_pointers(item: JSONObject, path: str, by_seq: dict[int, Diagnosis]) -> list[DiagnosisPointer]:
    out = []
    for k, seq in enumerate(as_list(item.get("diagnosisSequence"))):
        if isinstance(seq, int):
            out.append(DiagnosisPointer(seq, f"{path}.diagnosisSequence[{k}]", by_seq.get(seq)))
    return out


def item_sites(item: JSONObject, path: str) -> list[Coded]:
    """bodySite and subSite: R4 one CodeableConcept; R5 bodySite[] { site[] CodeableReference, subSite[] }."""
    site = item.get("bodySite")
    if isinstance(site, dict):  # R4
        return codings(site, f"{path}.bodySite") + codings_of_list(item.get("subSite"), f"{path}.subSite")
    out: list[Coded] = []
    for k, bs in enumerate(as_list(site)):
        bs = as_dict(bs)
        for j, cr in enumerate(as_list(bs.get("site"))):
            out.extend(codings(as_dict(cr).get("concept"), f"{path}.bodySite[{k}].site[{j}].concept"))
        out.extend(codings_of_list(bs.get("subSite"), f"{path}.bodySite[{k}].subSite"))
    return out


@dataclass(slots=True)
class _ClaimContext:
    """What every item of one claim reads beside its own elements."""

    claim: Located
    idx: Index
    case: Case
    billable: dt.date | None  # billablePeriod.start: the date of an item without one
    by_seq: dict[int, Diagnosis]  # diagnoses by sequence
    team: dict[int, tuple[str, bool]]  # careTeam by sequence (subjects.care_team)
    facility_pos: Coded | None  # place of service of the claim's facility


def item_line(item: JSONObject, path: str, cc: _ClaimContext) -> ServiceLine:
    """One Claim/EOB item as a billed line (its documentation is linked by :class:`_Linker`)."""
    claim, case = cc.claim, cc.case
    codes = codings(item.get("productOrService"), f"{path}.productOrService")
    date, date_path = item_date(item, path, cc.billable, claim.path)
    rendering = item_rendering(item, cc.team) if cc.team else None
    encounter = first_encounter(item["encounter"], cc.idx, claim) if "encounter" in item else None
    # most items have no modifier, site or extension: skip those readers then
    modifiers = codings_of_list(item.get("modifier"), f"{path}.modifier") if "modifier" in item else []
    approaches: list[Coded] = []
    if "extension" in item:
        modifiers += extension_codes(item, path, EXT_MODIFIER)
        approaches = extension_codes(item, path, EXT_METHOD, EXT_APPROACH)
    return ServiceLine(
        path=path,
        code=primary(codes),
        codes=codes,
        code_path=f"{path}.productOrService",
        modifiers=modifiers,
        units=quantity(item, "quantity", f"{path}.quantity"),
        date=date,
        date_path=date_path,
        body_sites=item_sites(item, path) if "bodySite" in item else [],
        approaches=approaches,
        diagnosis_pointers=item_pointers(item, path, cc.by_seq),
        patient=case.patient,
        # on an institutional claim the facility bills every line, whoever rendered it
        provider=case.provider if case.claim_type == "institutional" else rendering or case.provider,
        sequence=as_int(item.get("sequence")),
        resource_path=claim.path,
        resource_type="Claim",
        billing_provider=case.provider,
        rendering_provider=rendering,
        place_of_service=item_pos(item, path, cc.idx, claim) or cc.facility_pos,
        encounter=encounter or case.encounter,
    )


class _Linker:
    """Links each line of one claim to its procedure documentation, adding what it links to the case
    (one ProcedureInfo per path) and to ``claimed`` (procedures a bill takes over)."""

    def __init__(
        self, case: Case, idx: Index, proc_by_seq: dict[int, ProcedureInfo], claimed: set[str]
    ) -> None:
        self.case, self.idx, self.proc_by_seq, self.claimed = case, idx, proc_by_seq, claimed
        self.in_case = {p.path for p in case.procedures}
        self.by_code: dict[str, list[ProcedureInfo]] = {}
        for p in case.procedures:
            add_by_code(self.by_code, p)
        self.standalone_by_code = standalone(idx)[1]

    def candidates(self, item: JSONObject, line: ServiceLine) -> list[ProcedureInfo]:
        linked = [
            self.proc_by_seq[s] for s in as_list(item.get("procedureSequence")) if s in self.proc_by_seq
        ]
        if not linked and line.cpt:
            linked = list(self.by_code.get(line.cpt, ()))
        if not linked and line.cpt:
            linked = [
                p
                for p in self.standalone_by_code.get(line.cpt, ())
                if self.idx.subject_of(p.path) in (None, self.case.patient)
            ]
        return linked

    def link(self, item: JSONObject, line: ServiceLine) -> None:
        line.procedures = linked = self.candidates(item, line)
        for p in linked:
            self.claimed.add(p.path)
            if p.resource_type == "Procedure":
                self.case.submitted_procedure = True
            if p.path not in self.in_case:  # one ProcedureInfo per path (procedure_info reads each once)
                self.in_case.add(p.path)
                self.case.procedures.append(p)
                add_by_code(self.by_code, p)


def _claim_context(claim: Located, idx: Index, case: Case) -> _ClaimContext:
    res = claim.resource
    return _ClaimContext(
        claim,
        idx,
        case,
        parse_date(as_dict(res.get("billablePeriod")).get("start")),
        {d.sequence: d for d in case.diagnoses if d.sequence is not None},
        care_team(res) if "careTeam" in res else {},
        location_pos(res["facility"], idx, claim) if "facility" in res else None,
    )


def claim_case(claim: Located, idx: Index, claimed_procs: set[str]) -> Case:
    """A Claim (or the Claim-shaped part of an ExplanationOfBenefit) with one line per item."""
    res, base = claim.resource, claim.path
    diagnoses = claim_diagnoses(claim, idx)
    procs = claim_procedures(claim, idx)
    case = Case(
        "Claim",
        base,
        diagnoses=diagnoses,
        procedures=[p for _, p in procs],
        supporting_info=supporting_info(claim, idx),
        patient=ref_str(res.get("patient")),
        provider=ref_str(res.get("provider")),
        resource_id=as_str(res.get("id")),
    )
    case.claim_type = claim_type(res, base)
    for proc in case.procedures:
        claimed_procs.add(proc.path)
    linker = _Linker(case, idx, {s: p for s, p in procs if s is not None}, claimed_procs)
    if "encounter" in res:  # R5: the claim's encounters
        case.encounter = first_encounter(res["encounter"], idx, claim)
    cc = _claim_context(claim, idx, case)
    for i, item in enumerate(as_list(res.get("item"))):
        item = as_dict(item)
        line = item_line(item, f"{base}.item[{i}]", cc)
        linker.link(item, line)
        case.lines.append(line)
    if case.encounter is None:
        case.encounter = next((ln.encounter for ln in case.lines if ln.encounter is not None), None)
    return case


# ---------------------------------------------------------------- Da Vinci PAS
def link_requested_services(claim: Located, case: Case, idx: Index, claimed_procs: set[str]) -> None:
    """PAS Claim items name the request they ask authorization for in the ``requestedService``
    extension: that ServiceRequest documents the line (site, reasons) like a linked Procedure. It is
    taken over by the line (not checked again as an order) only when it carries the line's CPT code."""
    items = as_list(claim.resource.get("item"))
    for i, line in enumerate(case.lines):
        item = as_dict(items[i]) if i < len(items) else {}
        for ext in as_list(item.get("extension")):
            ext = as_dict(ext)
            if ext.get("url") != PAS_REQUESTED_SERVICE_URL:
                continue
            target = idx.resolve_type(ext.get("valueReference"), claim, "ServiceRequest", "Procedure")
            if target is None:
                continue
            info = procedure_info(target, idx)
            if any(p.path == info.path for p in line.procedures):
                continue
            line.procedures.append(info)
            if line.cpt and any(c.code == line.cpt and c.is_cpt for c in info.codes):
                claimed_procs.add(info.path)


def has_item_extensions(res: JSONObject) -> bool:
    """Some item of the claim carries an extension (then PAS requested services may be linked)."""
    return any(isinstance(item, dict) and "extension" in item for item in as_list(res.get("item")))


# ---------------------------------------------------------------- ExplanationOfBenefit
def eob_case(eob: Located, idx: Index, claimed_procs: set[str]) -> Case:
    """An ExplanationOfBenefit (R4/R5): its items read as Claim items (the element names are the same:
    productOrService, modifier, quantity, serviced[x], bodySite, diagnosis/procedure sequences).
    Adjudication is not read. As on a Claim, an item's ``careTeamSequence`` names its rendering provider."""
    case = claim_case(eob, idx, claimed_procs)
    case.resource_type = "ExplanationOfBenefit"
    for line in case.lines:
        line.source_type = "ExplanationOfBenefit"
    return case
