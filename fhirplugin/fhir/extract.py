"""Build the case model (:mod:`fhirplugin.fhir.case`) from plain JSON dicts, R4/R4B and R5.

The reader is defensive: structure errors are reported by :mod:`fhirplugin.fhir.structure`; here a
value of the wrong shape is skipped, never raised on. References between Bundle entries resolve by
``fullUrl`` and by ``Type/id``; ``#id`` resolves to contained resources.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from fhirplugin.fhir.case import (
    Attachment,
    Case,
    Coded,
    Device,
    Diagnosis,
    DiagnosisPointer,
    Patient,
    ProcedureInfo,
    Quantity,
    RawResource,
    ServiceLine,
    Submission,
)
from fhirplugin.findings import CANONICAL_BASE
from fhirplugin.systems import PROCEDURE_SYSTEMS

EXT_METHOD = "http://hl7.org/fhir/StructureDefinition/procedure-method"
EXT_APPROACH = f"{CANONICAL_BASE}/StructureDefinition/procedure-approach"
EXT_GUIDANCE = f"{CANONICAL_BASE}/StructureDefinition/imaging-guidance"
EXT_COLLECTIONS = f"{CANONICAL_BASE}/StructureDefinition/collection-count"
EXT_MODIFIER = f"{CANONICAL_BASE}/StructureDefinition/cpt-modifier"
# Da Vinci PAS: the ServiceRequest (or other request) a Claim item asks authorization for
PAS_REQUESTED_SERVICE_URL = (
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-requestedService"
)
APPROACH_SYSTEM = (
    f"{CANONICAL_BASE}/CodeSystem/approach"  # percutaneous, transvaginal, transrectal, open, ...
)
DEVICE_ACTION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/device-action"  # implanted (left in place), removed
CHECKED_TYPES = ("Claim", "ExplanationOfBenefit", "ChargeItem", "Procedure", "ServiceRequest")


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def parse_date(value) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def codings(cc, path: str) -> list[Coded]:
    """Codings of a CodeableConcept at ``path`` (each keeps ``path.coding[k]``)."""
    if type(cc) is not dict:
        return []
    cs = cc.get("coding")
    if type(cs) is not list:
        return []
    out = []
    for k, c in enumerate(cs):
        if type(c) is not dict:
            continue
        code = c.get("code")
        if type(code) is str and code:
            system, display = c.get("system"), c.get("display")
            out.append(
                Coded(
                    system if type(system) is str else None,
                    code.strip(),
                    f"{path}.coding[{k}]",
                    display if type(display) is str else None,
                )
            )
    return out


def coding(c, path: str) -> list[Coded]:
    """A bare Coding at ``path``."""
    code = _str(_dict(c).get("code"))
    return [Coded(_str(c.get("system")), code.strip(), path, _str(c.get("display")))] if code else []


def primary(codes: list[Coded]) -> Coded | None:
    """The first CPT/HCPCS coding (under any of their URIs), else the first coding."""
    for c in codes:
        if c.system in PROCEDURE_SYSTEMS:
            return c
    return codes[0] if codes else None


def extension_codes(resource: dict, path: str, *urls: str) -> list[Coded]:
    out = []
    for k, ext in enumerate(_list(resource.get("extension"))):
        ext = _dict(ext)
        if ext.get("url") in urls:
            epath = f"{path}.extension[{k}]"
            if "valueCodeableConcept" in ext:
                out.extend(codings(ext["valueCodeableConcept"], f"{epath}.valueCodeableConcept"))
            elif "valueCoding" in ext:
                out.extend(coding(ext["valueCoding"], f"{epath}.valueCoding"))
            elif "valueCode" in ext and _str(ext["valueCode"]):
                out.append(Coded(None, ext["valueCode"], f"{epath}.valueCode"))
    return out


def extension_int(resource: dict, url: str) -> int | None:
    for ext in _list(resource.get("extension")):
        ext = _dict(ext)
        if ext.get("url") == url:
            val = ext.get("valueInteger", ext.get("valuePositiveInt"))
            if isinstance(val, int) and not isinstance(val, bool):
                return val
    return None


@dataclass(slots=True)
class Located:
    resource: dict
    path: str


@dataclass
class Index:
    """Resources of one input, addressable by reference.

    The look-ups the reader repeats per claim line or per procedure (procedure documentation by
    resource, the subject of a resource, reverse links to a resource) are built once per input on
    first use, after :func:`build_index` has filled ``by_ref`` and ``all``, so reading stays linear in
    the number of entries and lines.
    """

    by_ref: dict[str, Located] = field(default_factory=dict)
    all: list[Located] = field(default_factory=list)
    _procs: dict[str, ProcedureInfo] = field(default_factory=dict, repr=False)
    _subjects: dict[str, str | None] | None = field(default=None, repr=False)
    _keys: dict[int, set[str]] | None = field(default=None, repr=False)
    _backlinks: dict[str, list[int]] | None = field(default=None, repr=False)
    _standalone: tuple[list[ProcedureInfo], dict[str, list[ProcedureInfo]]] | None = field(
        default=None, repr=False
    )
    # references the reader followed and did not find in the input: "Type/id" -> where referenced
    missing: dict[str, str] = field(default_factory=dict)

    def add(self, resource: dict, path: str, full_url: str | None = None) -> None:
        loc = Located(resource, path)
        self.all.append(loc)
        rtype, rid = _str(resource.get("resourceType")), _str(resource.get("id"))
        if rtype and rid:
            self.by_ref.setdefault(f"{rtype}/{rid}", loc)
        if full_url:
            self.by_ref.setdefault(full_url, loc)
            if rtype and rid and full_url.endswith(f"/{rtype}/{rid}"):
                self.by_ref.setdefault(f"{rtype}/{rid}", loc)

    def resolve(self, ref, container: Located | None = None) -> Located | None:
        reference = _str(_dict(ref).get("reference"))
        if not reference:
            return None
        if reference.startswith("#") and container is not None:
            for k, c in enumerate(_list(container.resource.get("contained"))):
                if _dict(c).get("id") == reference[1:]:
                    return Located(c, f"{container.path}.contained[{k}]")
            return None
        if reference in self.by_ref:
            return self.by_ref[reference]
        # absolute URL ending in Type/id
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2:
            key = f"{parts[-2]}/{parts[-1]}"
            found = self.by_ref.get(key)
            if found is None and parts[-2] in LINKED_TYPES:
                self.missing.setdefault(key, container.path if container is not None else "")
            return found
        return None

    def of_type(self, rtype: str) -> list[Located]:
        return [loc for loc in self.all if loc.resource.get("resourceType") == rtype]

    def subject_of(self, path: str) -> str | None:
        """``subject`` reference of the first indexed resource at ``path`` (None when none)."""
        if self._subjects is None:
            self._subjects = {}
            for loc in self.all:
                if loc.path not in self._subjects:
                    self._subjects[loc.path] = _ref_str(loc.resource.get("subject"))
        return self._subjects.get(path)

    def keys_of(self, resource: dict) -> set[str]:
        """The ``by_ref`` keys that lead to this very resource object (identity, not equality)."""
        if self._keys is None:
            self._keys = {}
            for key, loc in self.by_ref.items():
                self._keys.setdefault(id(loc.resource), set()).add(key)
        return self._keys.get(id(resource), set())

    def linking_to(self, refs: set[str]) -> list[Located]:
        """ImagingStudy / DiagnosticReport entries whose procedure links name one of ``refs``, in order."""
        if self._backlinks is None:
            self._backlinks = {}
            for pos, other in enumerate(self.all):
                for ref in _back_refs(other.resource):
                    positions = self._backlinks.setdefault(ref, [])
                    if not positions or positions[-1] != pos:
                        positions.append(pos)
        found = sorted({pos for ref in refs for pos in self._backlinks.get(ref, ())})
        return [self.all[pos] for pos in found]

    def standalone(self) -> tuple[list[ProcedureInfo], dict[str, list[ProcedureInfo]]]:
        """Every Procedure entry as documentation, in order, and the same by CPT code (each once)."""
        if self._standalone is None:
            procs = [procedure_info(loc, self) for loc in self.of_type("Procedure")]
            by_code: dict[str, list[ProcedureInfo]] = {}
            for p in procs:
                for code in dict.fromkeys(c.code for c in p.codes if c.is_cpt):
                    by_code.setdefault(code, []).append(p)
            self._standalone = (procs, by_code)
        return self._standalone


# resource types the rules read through a reference (a Claim line's Procedure, a diagnosis' Condition…)
LINKED_TYPES = frozenset(
    {"Procedure", "Condition", "ServiceRequest", "DiagnosticReport", "ImagingStudy", "Device", "DocumentReference"}
)


def _ref_str(ref) -> str | None:
    return _str(_dict(ref).get("reference"))


def _back_refs(o: dict) -> list[str]:
    """References an ImagingStudy (procedureReference / procedure / basedOn) or a DiagnosticReport
    (basedOn / partOf) makes to the procedure it documents."""
    ot = o.get("resourceType")
    links: list = []
    if ot == "ImagingStudy":
        pr = o.get("procedureReference")  # R4: one Reference; tolerate a list
        links = ([pr] if isinstance(pr, dict) else _list(pr)) + [
            _dict(p).get("reference") for p in _list(o.get("procedure"))
        ]
        links += [o.get("basedOn")] if isinstance(o.get("basedOn"), dict) else _list(o.get("basedOn"))
    elif ot == "DiagnosticReport":
        links = _list(o.get("basedOn")) + _list(o.get("partOf"))
    refs = [_ref_str(r) for r in links if isinstance(r, dict)]
    return [r for r in refs if r is not None]


def build_index(top: dict, base: str) -> Index:
    idx = Index()
    if top.get("resourceType") == "Bundle":
        for i, entry in enumerate(_list(top.get("entry"))):
            res = _dict(entry).get("resource")
            if isinstance(res, dict):
                idx.add(res, f"{base}.entry[{i}].resource", _str(entry.get("fullUrl")))
    elif top.get("resourceType") == "Parameters":
        for i, param in enumerate(_list(top.get("parameter"))):
            res = _dict(param).get("resource")
            if isinstance(res, dict):
                idx.add(res, f"{base}.parameter[{i}].resource")
                if res.get("resourceType") == "Bundle":
                    inner = build_index(res, f"{base}.parameter[{i}].resource")
                    for loc in inner.all[0:]:
                        idx.all.append(loc)
                    idx.by_ref.update({k: v for k, v in inner.by_ref.items() if k not in idx.by_ref})
    else:
        idx.add(top, base)
    return idx


# ---------------------------------------------------------------- documentation resources
def _modalities(study: dict, path: str) -> list[Coded]:
    out = []
    for k, m in enumerate(_list(study.get("modality"))):
        m = _dict(m)
        if "coding" in m:  # R5 CodeableConcept
            out.extend(codings(m, f"{path}.modality[{k}]"))
        else:  # R4 Coding
            out.extend(coding(m, f"{path}.modality[{k}]"))
    return out


def attachment(loc: Located) -> Attachment:
    res = loc.resource
    rtype = _str(res.get("resourceType")) or "Resource"
    codes = codings(res.get("code"), f"{loc.path}.code") if isinstance(res.get("code"), dict) else []
    mods = _modalities(res, loc.path) if rtype == "ImagingStudy" else []
    return Attachment(kind=rtype, path=loc.path, codes=codes, modalities=mods)


def _reasons(res: dict, path: str, idx: Index, container: Located) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    for k, cc in enumerate(_list(res.get("reasonCode"))):
        out.append(Diagnosis(codings(cc, f"{path}.reasonCode[{k}]"), f"{path}.reasonCode[{k}]"))
    for ref in _list(res.get("reasonReference")):
        target = idx.resolve(ref, container)
        if target is not None and target.resource.get("resourceType") == "Condition":
            out.append(Diagnosis(codings(target.resource.get("code"), f"{target.path}.code"), target.path))
    for k, cr in enumerate(_list(res.get("reason"))):  # R5 CodeableReference
        cr = _dict(cr)
        if "concept" in cr:
            out.append(
                Diagnosis(codings(cr["concept"], f"{path}.reason[{k}].concept"), f"{path}.reason[{k}]")
            )
        target = idx.resolve(cr.get("reference"), container)
        if target is not None and target.resource.get("resourceType") == "Condition":
            out.append(Diagnosis(codings(target.resource.get("code"), f"{target.path}.code"), target.path))
    return [d for d in out if d.codes]


_IMPLANT_WORDS = ("implant", "insert", "placed", "placement", "left in place", "left-in-place", "indwelling")
_REMOVE_WORDS = ("remov", "explant", "withdraw")


def _device_action(action, path: str) -> str:
    texts = [c.code.lower() + " " + (c.display or "").lower() for c in codings(action, path)]
    texts.append((_str(_dict(action).get("text")) or "").lower())
    blob = " ".join(texts)
    if any(w in blob for w in _REMOVE_WORDS):
        return "removed"
    if any(w in blob for w in _IMPLANT_WORDS):
        return "implanted"
    return "used"


def _device_codes(ref, idx: Index, container: Located) -> tuple[list[Coded], str | None]:
    display = _str(_dict(ref).get("display"))
    target = idx.resolve(ref, container)
    if target is None or target.resource.get("resourceType") != "Device":
        return [], display
    dev = target.resource
    codes: list[Coded] = []
    dtype = dev.get("type")
    if isinstance(dtype, dict):  # R4
        codes = codings(dtype, f"{target.path}.type")
    else:  # R5: list
        for k, cc in enumerate(_list(dtype)):
            codes.extend(codings(cc, f"{target.path}.type[{k}]"))
    if not display:
        names = _list(dev.get("deviceName")) or _list(dev.get("name"))
        display = _str(_dict(names[0]).get("name") or _dict(names[0]).get("value")) if names else None
    return codes, display


def _devices(res: dict, path: str, idx: Index, container: Located) -> list[Device]:
    out = []
    for k, fd in enumerate(_list(res.get("focalDevice"))):
        fd = _dict(fd)
        codes, display = _device_codes(fd.get("manipulated"), idx, container)
        out.append(
            Device(
                f"{path}.focalDevice[{k}]",
                codes,
                _device_action(fd.get("action"), f"{path}.focalDevice[{k}].action"),
                display,
            )
        )
    for k, ref in enumerate(_list(res.get("usedReference"))):
        codes, display = _device_codes(ref, idx, container)
        out.append(Device(f"{path}.usedReference[{k}]", codes, "used", display))
    for k, cc in enumerate(_list(res.get("usedCode"))):
        out.append(Device(f"{path}.usedCode[{k}]", codings(cc, f"{path}.usedCode[{k}]"), "used"))
    for k, cr in enumerate(_list(res.get("used"))):  # R5
        cr = _dict(cr)
        codes = codings(cr.get("concept"), f"{path}.used[{k}].concept")
        more, display = _device_codes(cr.get("reference"), idx, container)
        out.append(Device(f"{path}.used[{k}]", codes + more, "used", display))
    return out


def procedure_info(loc: Located, idx: Index) -> ProcedureInfo:
    """A Procedure or ServiceRequest resource as procedure documentation (read once per input and
    location: every claim of a Bundle that links it shares the same object; rules only read it)."""
    info = idx._procs.get(loc.path)
    if info is None:
        info = idx._procs[loc.path] = _procedure_info(loc, idx)
    return info


def _procedure_info(loc: Located, idx: Index) -> ProcedureInfo:
    res, path = loc.resource, loc.path
    rtype = _str(res.get("resourceType")) or "Procedure"
    code = res.get("code")
    if rtype == "ServiceRequest" and isinstance(code, dict) and "concept" in code:
        codes = codings(code["concept"], f"{path}.code.concept")
    else:
        codes = codings(code, f"{path}.code")
    sites = []
    for k, cc in enumerate(_list(res.get("bodySite"))):
        sites.extend(codings(cc, f"{path}.bodySite[{k}]"))
    approaches = extension_codes(res, path, EXT_METHOD, EXT_APPROACH)
    guidance = extension_codes(res, path, EXT_GUIDANCE)
    reports: list[Attachment] = []
    for k, ref in enumerate(_list(res.get("report"))):
        target = idx.resolve(ref, loc)
        att = (
            attachment(target)
            if target
            else Attachment(kind="Reference", path=f"{path}.report[{k}]", resolved=False)
        )
        reports.append(att)
    # reverse links: ImagingStudy.procedureReference (R4) / .procedure (R5), DiagnosticReport.basedOn
    own_refs = {f"{rtype}/{res.get('id')}"} if res.get("id") else set()
    own_refs |= idx.keys_of(res)
    if own_refs:
        have = {r.path for r in reports}
        for other in idx.linking_to(own_refs):
            if other.path not in have:
                have.add(other.path)
                reports.append(attachment(other))
    # DICOM modality of linked imaging studies counts as guidance modality when none is stated
    if not guidance:
        for att in reports:
            guidance.extend(att.modalities)
    date = None
    for key in ("performedDateTime", "occurrenceDateTime"):
        date = date or parse_date(res.get(key))
    for key in ("performedPeriod", "occurrencePeriod"):
        date = date or parse_date(_dict(res.get(key)).get("start"))
    if rtype == "ServiceRequest":
        date = date or parse_date(res.get("authoredOn"))
    return ProcedureInfo(
        resource_type=rtype,
        path=path,
        codes=codes,
        body_sites=sites,
        approaches=approaches,
        guidance=guidance,
        devices=_devices(res, path, idx, loc),
        reasons=_reasons(res, path, idx, loc),
        reports=reports,
        collections=extension_int(res, EXT_COLLECTIONS),
        date=date,
        status=_str(res.get("status")),
        resource_id=_str(res.get("id")),
    )


# ---------------------------------------------------------------- claims
def _claim_diagnoses(claim: Located, idx: Index) -> list[Diagnosis]:
    out = []
    for k, d in enumerate(_list(claim.resource.get("diagnosis"))):
        d = _dict(d)
        path = f"{claim.path}.diagnosis[{k}]"
        seq = d.get("sequence") if isinstance(d.get("sequence"), int) else None
        codes = codings(d.get("diagnosisCodeableConcept"), f"{path}.diagnosisCodeableConcept")
        target = idx.resolve(d.get("diagnosisReference"), claim)
        if target is not None and target.resource.get("resourceType") == "Condition":
            codes += codings(target.resource.get("code"), f"{target.path}.code")
        out.append(Diagnosis(codes, path, seq))
    return out


def _claim_procedures(claim: Located, idx: Index) -> list[tuple[int | None, ProcedureInfo]]:
    out = []
    for k, p in enumerate(_list(claim.resource.get("procedure"))):
        p = _dict(p)
        path = f"{claim.path}.procedure[{k}]"
        seq = p.get("sequence") if isinstance(p.get("sequence"), int) else None
        target = idx.resolve(p.get("procedureReference"), claim)
        if target is not None and target.resource.get("resourceType") == "Procedure":
            out.append((seq, procedure_info(target, idx)))
        elif isinstance(p.get("procedureCodeableConcept"), dict):
            codes = codings(p["procedureCodeableConcept"], f"{path}.procedureCodeableConcept")
            out.append(
                (seq, ProcedureInfo("Claim.procedure", path, codes=codes, date=parse_date(p.get("date"))))
            )
    return out


def _item_sites(item: dict, path: str) -> list[Coded]:
    site = item.get("bodySite")
    out: list[Coded] = []
    if isinstance(site, dict):  # R4
        out = codings(site, f"{path}.bodySite")
        for k, cc in enumerate(_list(item.get("subSite"))):
            out.extend(codings(cc, f"{path}.subSite[{k}]"))
    else:  # R5: bodySite[] { site[] CodeableReference, subSite[] }
        for k, bs in enumerate(_list(site)):
            bs = _dict(bs)
            for j, cr in enumerate(_list(bs.get("site"))):
                out.extend(codings(_dict(cr).get("concept"), f"{path}.bodySite[{k}].site[{j}].concept"))
            for j, cc in enumerate(_list(bs.get("subSite"))):
                out.extend(codings(cc, f"{path}.bodySite[{k}].subSite[{j}]"))
    return out


def _modifiers(item: dict, path: str) -> list[Coded]:
    out = []
    for k, cc in enumerate(_list(item.get("modifier"))):
        out.extend(codings(cc, f"{path}.modifier[{k}]"))
    return out


def claim_case(claim: Located, idx: Index, claimed_procs: set[str]) -> Case:
    res, base = claim.resource, claim.path
    patient, provider = _ref_str(res.get("patient")), _ref_str(res.get("provider"))
    diagnoses = _claim_diagnoses(claim, idx)
    by_seq = {d.sequence: d for d in diagnoses if d.sequence is not None}
    procs = _claim_procedures(claim, idx)
    proc_by_seq = {s: p for s, p in procs if s is not None}
    billable = parse_date(_dict(res.get("billablePeriod")).get("start"))
    supporting = []
    for k, si in enumerate(_list(res.get("supportingInfo"))):
        si = _dict(si)
        target = idx.resolve(si.get("valueReference"), claim)
        if target is not None:
            att = attachment(target)
            att.path = f"{base}.supportingInfo[{k}]"
        else:
            att = Attachment(
                "supportingInfo",
                f"{base}.supportingInfo[{k}]",
                codes=codings(si.get("code"), f"{base}.supportingInfo[{k}].code"),
            )
        supporting.append(att)
    case = Case(
        "Claim",
        base,
        diagnoses=diagnoses,
        procedures=[p for _, p in procs],
        supporting_info=supporting,
        patient=patient,
        provider=provider,
        resource_id=_str(res.get("id")),
    )
    ctype = codings(res.get("type"), f"{base}.type")
    case.claim_type = ctype[0].code if ctype else None
    for proc in case.procedures:
        claimed_procs.add(proc.path)
    # the claim's procedures by path (membership) and by CPT code (linking), kept as lines add more
    in_case = {p.path for p in case.procedures}
    case_by_code: dict[str, list[ProcedureInfo]] = {}
    for p in case.procedures:
        _add_by_code(case_by_code, p)
    standalone_by_code = idx.standalone()[1]
    for i, item in enumerate(_list(res.get("item"))):
        item = _dict(item)
        path = f"{base}.item[{i}]"
        pos = item.get("productOrService")
        codes = codings(pos, f"{path}.productOrService")
        date, date_path = parse_date(item.get("servicedDate")), f"{path}.servicedDate"
        if date is None and isinstance(item.get("servicedPeriod"), dict):
            date, date_path = parse_date(item["servicedPeriod"].get("start")), f"{path}.servicedPeriod.start"
        if date is None and billable is not None:
            date, date_path = billable, f"{base}.billablePeriod.start"
        qty = item.get("quantity")
        if isinstance(qty, dict) and "value" in qty:
            v = qty["value"]
            units = Quantity(
                float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
                f"{path}.quantity.value",
            )
        else:
            units = Quantity(1, None)
        pointers = []
        for k, seq in enumerate(_list(item.get("diagnosisSequence"))):
            if isinstance(seq, int):
                pointers.append(DiagnosisPointer(seq, f"{path}.diagnosisSequence[{k}]", by_seq.get(seq)))
        # most items have no modifier, site or extension: skip those readers then
        modifiers = _modifiers(item, path) if "modifier" in item else []
        approaches: list[Coded] = []
        if "extension" in item:
            modifiers += extension_codes(item, path, EXT_MODIFIER)
            approaches = extension_codes(item, path, EXT_METHOD, EXT_APPROACH)
        line = ServiceLine(
            path=path,
            code=primary(codes),
            codes=codes,
            code_path=f"{path}.productOrService",
            modifiers=modifiers,
            units=units,
            date=date,
            date_path=date_path if date else None,
            body_sites=_item_sites(item, path) if "bodySite" in item else [],
            approaches=approaches,
            diagnosis_pointers=pointers,
            patient=patient,
            provider=provider,
            sequence=item.get("sequence") if isinstance(item.get("sequence"), int) else None,
            resource_path=base,
            resource_type="Claim",
        )
        linked = [proc_by_seq[s] for s in _list(item.get("procedureSequence")) if s in proc_by_seq]
        if not linked and line.cpt:
            linked = list(case_by_code.get(line.cpt, ()))
        if not linked and line.cpt:
            linked = [
                p for p in standalone_by_code.get(line.cpt, ()) if idx.subject_of(p.path) in (None, patient)
            ]
        line.procedures = linked
        for p in linked:
            claimed_procs.add(p.path)
            if p.resource_type == "Procedure":
                case.submitted_procedure = True
            if p.path not in in_case:  # one ProcedureInfo per path (procedure_info reads each once)
                in_case.add(p.path)
                case.procedures.append(p)
                _add_by_code(case_by_code, p)
        case.lines.append(line)
    return case


def _add_by_code(by_code: dict[str, list[ProcedureInfo]], p: ProcedureInfo) -> None:
    for code in dict.fromkeys(c.code for c in p.codes if c.is_cpt):
        by_code.setdefault(code, []).append(p)


def order_case(loc: Located, idx: Index) -> Case:
    """A standalone Procedure or ServiceRequest: one service line from its code."""
    res, base = loc.resource, loc.path
    info = procedure_info(loc, idx)
    rtype = info.resource_type
    code_path = (
        f"{base}.code.concept"
        if rtype == "ServiceRequest" and "concept" in _dict(res.get("code"))
        else f"{base}.code"
    )
    patient = _ref_str(res.get("subject"))
    if rtype == "ServiceRequest":
        provider = _ref_str(res.get("requester"))
        performers = _list(res.get("performer"))
        provider = provider or (_ref_str(performers[0]) if performers else None)
    else:
        performers = _list(res.get("performer"))
        provider = _ref_str(_dict(performers[0]).get("actor")) if performers else None
    units = Quantity(1, None)
    qq = res.get("quantityQuantity")
    if (
        isinstance(qq, dict)
        and isinstance(qq.get("value"), int | float)
        and not isinstance(qq.get("value"), bool)
    ):
        units = Quantity(float(qq["value"]), f"{base}.quantityQuantity.value")
    date_path = None
    if info.date:
        for key in ("performedDateTime", "occurrenceDateTime", "authoredOn"):
            if key in res:
                date_path = f"{base}.{key}"
                break
        else:
            for key in ("performedPeriod", "occurrencePeriod"):
                if key in res:
                    date_path = f"{base}.{key}.start"
                    break
    line = ServiceLine(
        path=base,
        code=primary(info.codes),
        codes=info.codes,
        code_path=code_path,
        modifiers=extension_codes(res, base, EXT_MODIFIER),
        units=units,
        date=info.date,
        date_path=date_path,
        procedures=[info],
        patient=patient,
        provider=provider,
        resource_path=base,
        resource_type=rtype,
    )
    return Case(
        rtype,
        base,
        lines=[line],
        diagnoses=list(info.reasons),
        procedures=[info],
        patient=patient,
        provider=provider,
        resource_id=info.resource_id,
        submitted_procedure=rtype == "Procedure",
    )


# ---------------------------------------------------------------- Da Vinci PAS
def link_requested_services(claim: Located, case: Case, idx: Index, claimed_procs: set[str]) -> None:
    """PAS Claim items name the request they ask authorization for in the ``requestedService``
    extension: that ServiceRequest documents the line (site, reasons) like a linked Procedure. It is
    taken over by the line (not checked again as an order) only when it carries the line's CPT code."""
    items = _list(claim.resource.get("item"))
    for i, line in enumerate(case.lines):
        item = _dict(items[i]) if i < len(items) else {}
        for ext in _list(item.get("extension")):
            ext = _dict(ext)
            if ext.get("url") != PAS_REQUESTED_SERVICE_URL:
                continue
            target = idx.resolve(ext.get("valueReference"), claim)
            if target is None or target.resource.get("resourceType") not in ("ServiceRequest", "Procedure"):
                continue
            info = procedure_info(target, idx)
            if any(p.path == info.path for p in line.procedures):
                continue
            line.procedures.append(info)
            if line.cpt and any(c.code == line.cpt and c.is_cpt for c in info.codes):
                claimed_procs.add(info.path)


# ---------------------------------------------------------------- ExplanationOfBenefit
def _care_team_providers(res: dict) -> dict[int, str]:
    out = {}
    for ct in _list(res.get("careTeam")):
        ct = _dict(ct)
        seq, ref = ct.get("sequence"), _ref_str(ct.get("provider"))
        if isinstance(seq, int) and ref:
            out[seq] = ref
    return out


def eob_case(eob: Located, idx: Index, claimed_procs: set[str]) -> Case:
    """An ExplanationOfBenefit (R4/R5): its items read as Claim items (the element names are the same:
    productOrService, modifier, quantity, serviced[x], bodySite, diagnosis/procedure sequences).
    Adjudication is not read. An item without a billing ``provider`` on the EOB takes the provider of its
    first ``careTeamSequence``."""
    case = claim_case(eob, idx, claimed_procs)
    case.resource_type = "ExplanationOfBenefit"
    team = _care_team_providers(eob.resource) if "careTeam" in eob.resource else {}
    items = _list(eob.resource.get("item"))
    for i, line in enumerate(case.lines):
        line.source_type = "ExplanationOfBenefit"
        if line.provider is None and team and i < len(items):
            seqs = [s for s in _list(_dict(items[i]).get("careTeamSequence")) if s in team]
            if seqs:
                line.provider = team[seqs[0]]
    return case


# ---------------------------------------------------------------- ChargeItem
def _modifier_extension(url) -> bool:
    """Modifier extensions as EHRs carry them on a ChargeItem: ours, or any extension whose name says
    modifier (``…/chargeitem-modifier``, ``…/cpt-modifier``)."""
    if not isinstance(url, str):
        return False
    return url == EXT_MODIFIER or "modifier" in url.rstrip("/").rsplit("/", 1)[-1].lower()


def _charge_modifiers(res: dict, path: str) -> list[Coded]:
    urls = [e.get("url") for e in _list(res.get("extension")) if isinstance(e, dict)]
    wanted = tuple(u for u in urls if _modifier_extension(u))
    return extension_codes(res, path, *wanted) if wanted else []


def _charge_date(res: dict, base: str) -> tuple[dt.date | None, str | None]:
    if (d := parse_date(res.get("occurrenceDateTime"))) is not None:
        return d, f"{base}.occurrenceDateTime"
    if (d := parse_date(_dict(res.get("occurrencePeriod")).get("start"))) is not None:
        return d, f"{base}.occurrencePeriod.start"
    events = _list(_dict(res.get("occurrenceTiming")).get("event"))
    if events and (d := parse_date(events[0])) is not None:
        return d, f"{base}.occurrenceTiming.event[0]"
    return None, None


def charge_item_case(loc: Located, idx: Index, claimed_procs: set[str]) -> Case:
    """A ChargeItem (R4/R5): one billed line from ``code``, with quantity, bodysite, occurrence[x],
    performer, reasons, modifier extensions, and the Procedures its ``service`` references (a Reference
    in R4, a CodeableReference in R5)."""
    res, base = loc.resource, loc.path
    codes = codings(res.get("code"), f"{base}.code")
    patient = _ref_str(res.get("subject"))
    performers = _list(res.get("performer"))
    provider = _ref_str(_dict(performers[0]).get("actor")) if performers else None
    provider = provider or _ref_str(res.get("enterer"))
    date, date_path = _charge_date(res, base)
    units = Quantity(1, None)
    qty = res.get("quantity")
    if isinstance(qty, dict) and "value" in qty:
        v = qty["value"]
        units = Quantity(
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
            f"{base}.quantity.value",
        )
    sites: list[Coded] = []
    for k, cc in enumerate(_list(res.get("bodysite"))):
        sites.extend(codings(cc, f"{base}.bodysite[{k}]"))
    reasons = []
    for k, cc in enumerate(_list(res.get("reason"))):
        rpath = f"{base}.reason[{k}]"
        cc = _dict(cc)
        rcodes = codings(cc.get("concept"), f"{rpath}.concept") if "concept" in cc else codings(cc, rpath)
        if rcodes:
            reasons.append(Diagnosis(rcodes, rpath, k + 1))
    linked: list[ProcedureInfo] = []
    for ref in _list(res.get("service")):
        ref = _dict(ref)
        target = idx.resolve(ref.get("reference") if isinstance(ref.get("reference"), dict) else ref, loc)
        if target is not None and target.resource.get("resourceType") in ("Procedure", "ServiceRequest"):
            linked.append(procedure_info(target, idx))
    line = ServiceLine(
        path=base,
        code=primary(codes),
        codes=codes,
        code_path=f"{base}.code",
        modifiers=_charge_modifiers(res, base) if "extension" in res else [],
        units=units,
        date=date,
        date_path=date_path,
        body_sites=sites,
        approaches=extension_codes(res, base, EXT_METHOD, EXT_APPROACH) if "extension" in res else [],
        diagnosis_pointers=[DiagnosisPointer(d.sequence or 0, d.path, d) for d in reasons],
        patient=patient,
        provider=provider,
        resource_path=base,
        resource_type="Claim",
        source_type="ChargeItem",
    )
    if not linked and line.cpt:
        linked = [
            procedure_info(p, idx)
            for p in idx.of_type("Procedure")
            if any(c.code == line.cpt and c.is_cpt for c in codings(p.resource.get("code"), f"{p.path}.code"))
            and _ref_str(p.resource.get("subject")) in (None, patient)
        ]
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
        resource_id=_str(res.get("id")),
        submitted_procedure=any(p.resource_type == "Procedure" for p in linked),
    )


def _json_keys_of_items(res: dict) -> set[str]:
    keys: set[str] = set()
    for item in _list(res.get("item")):
        if isinstance(item, dict):
            keys |= item.keys()
    return keys


def read_submission(top: dict, base: str, version: str) -> Submission:
    """All cases in one top-level input (a resource, a Bundle, or Parameters wrapping one)."""
    idx = build_index(top, base)
    sub = Submission(fhir_version=version, resources=[RawResource(loc.path, loc.resource) for loc in idx.all])
    claimed: set[str] = set()
    for loc in idx.of_type("Claim"):
        case = claim_case(loc, idx, claimed)
        if "extension" in _json_keys_of_items(loc.resource):
            link_requested_services(loc, case, idx, claimed)
        sub.cases.append(case)
    for loc in idx.of_type("ExplanationOfBenefit"):
        sub.cases.append(eob_case(loc, idx, claimed))
    for loc in idx.of_type("ChargeItem"):
        sub.cases.append(charge_item_case(loc, idx, claimed))
    for loc in idx.all:
        rtype = loc.resource.get("resourceType")
        if rtype in ("Procedure", "ServiceRequest") and loc.path not in claimed:
            sub.cases.append(order_case(loc, idx))
    for case in sub.cases:
        case.subject = patient_of(idx, case.patient)
    sub.missing = idx.missing
    return sub.seal()


def patient_of(idx: Index, reference: str | None) -> Patient | None:
    """The Patient resource ``reference`` names, when the input holds it (gender and birth date only)."""
    if not reference:
        return None
    loc = idx.resolve({"reference": reference})
    if loc is None or loc.resource.get("resourceType") != "Patient":
        return None
    gender = _str(loc.resource.get("gender"))
    return Patient(loc.path, gender.lower() if gender else None, parse_date(loc.resource.get("birthDate")))
