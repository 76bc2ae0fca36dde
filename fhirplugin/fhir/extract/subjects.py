"""Who and where a case is about: the Patient, the Encounter, the place of service, the rendering
provider of a line."""

from __future__ import annotations

from fhirplugin.fhir.case import Coded, Encounter, Patient
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
    parse_date,
    ref_str,
)
from fhirplugin.systems import CLAIM_TYPE, POS_ALIASES

# care-team roles that name who rendered the service: HL7 claimcareteamrole "primary", CARIN Blue
# Button's "performing" and "rendering"
RENDERING_ROLES = frozenset({"primary", "performing", "rendering"})


def patient_of(idx: Index, reference: str | None) -> Patient | None:
    """The Patient resource ``reference`` names, when the input holds it (gender and birth date only)."""
    if not reference:
        return None
    loc = idx.resolve({"reference": reference})
    if loc is None or loc.resource.get("resourceType") != "Patient":
        return None
    gender = as_str(loc.resource.get("gender"))
    return Patient(loc.path, gender.lower() if gender else None, parse_date(loc.resource.get("birthDate")))


def claim_type(res: JSONObject, base: str) -> str | None:
    """``type`` of a Claim or EOB: the HL7 claim-type code (else the first code), lower case."""
    codes = codings(res.get("type"), f"{base}.type")
    chosen = next((c for c in codes if c.system == CLAIM_TYPE), codes[0] if codes else None)
    return chosen.code.lower() if chosen is not None else None


# ---------------------------------------------------------------- encounter
def encounter_of(ref: JSON, idx: Index, container: Located) -> Encounter | None:
    """The Encounter ``ref`` names, when the input holds it: class (R4 Coding, R5 CodeableConcepts),
    type and the start of its period (R4 ``period``, R5 ``actualPeriod``)."""
    loc = idx.resolve_type(ref, container, "Encounter")
    if loc is None:
        return None
    enc, path = loc.resource, loc.path
    cls = enc.get("class")
    # R4: one Coding; R5: CodeableConcept[]
    classes = coding(cls, f"{path}.class") if isinstance(cls, dict) else codings_of_list(cls, f"{path}.class")
    period = as_dict(enc.get("period")) or as_dict(enc.get("actualPeriod"))
    return Encounter(
        path, classes, codings_of_list(enc.get("type"), f"{path}.type"), parse_date(period.get("start"))
    )


def first_encounter(refs: JSON, idx: Index, container: Located) -> Encounter | None:
    """The first of a Reference or a list of References that resolves to an Encounter."""
    for ref in refs if isinstance(refs, list) else [refs]:
        found = encounter_of(ref, idx, container)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------- place of service
def pos_code(codes: list[Coded]) -> Coded | None:
    """The first coding labelled with the CMS place-of-service code set."""
    return next((c for c in codes if c.system in POS_ALIASES), None)


def location_pos(ref: JSON, idx: Index, container: Located) -> Coded | None:
    """The place-of-service code among the ``type`` codings of a referenced Location."""
    loc = idx.resolve_type(ref, container, "Location")
    if loc is None:
        return None
    return pos_code(codings_of_list(loc.resource.get("type"), f"{loc.path}.type"))


def item_pos(item: JSONObject, path: str, idx: Index, claim: Located) -> Coded | None:
    """A Claim/EOB item's place of service: ``locationCodeableConcept`` (R4 and R5 location[x]), else
    the type of the Location ``locationReference`` names."""
    if "locationCodeableConcept" in item:
        found = pos_code(codings(item["locationCodeableConcept"], f"{path}.locationCodeableConcept"))
        if found is not None:
            return found
    if "locationReference" in item:
        return location_pos(item["locationReference"], idx, claim)
    return None


def order_pos(res: JSONObject, path: str, idx: Index, loc: Located) -> Coded | None:
    """A ServiceRequest's ``locationCode`` / ``locationReference`` (R5 ``location`` CodeableReference), a
    Procedure's ``location``: the first place-of-service code."""
    found = pos_code(codings_of_list(res.get("locationCode"), f"{path}.locationCode"))
    if found is not None:
        return found
    refs = as_list(res.get("locationReference"))
    location = res.get("location")
    if isinstance(location, dict):  # Procedure.location: one Reference
        refs.append(location)
    for k, cr in enumerate(as_list(location)):
        cr = as_dict(cr)
        if "concept" in cr:  # R5 ServiceRequest.location: CodeableReference
            found = pos_code(codings(cr["concept"], f"{path}.location[{k}].concept"))
            if found is not None:
                return found
        refs.append(cr.get("reference") if "reference" in cr and isinstance(cr["reference"], dict) else cr)
    for ref in refs:
        found = location_pos(ref, idx, loc)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------- rendering provider
def care_team(res: JSONObject) -> dict[int, tuple[str, bool]]:
    """``careTeam`` by sequence: (provider reference, whether its role says it rendered the service)."""
    out: dict[int, tuple[str, bool]] = {}
    for k, ct in enumerate(as_list(res.get("careTeam"))):
        ct = as_dict(ct)
        seq, ref = ct.get("sequence"), ref_str(ct.get("provider"))
        if isinstance(seq, int) and ref:
            roles = codings(ct.get("role"), f"careTeam[{k}].role")
            out.setdefault(seq, (ref, any(c.code.lower() in RENDERING_ROLES for c in roles)))
    return out


def item_rendering(item: JSONObject, team: dict[int, tuple[str, bool]]) -> str | None:
    """The care-team provider an item's ``careTeamSequence`` names: one whose role says it rendered the
    service (primary, performing, rendering), else the first one named."""
    named = [team[s] for s in as_list(item.get("careTeamSequence")) if isinstance(s, int) and s in team]
    if not named:
        return None
    return next((ref for ref, rendering in named if rendering), named[0][0])


def performer_of(res: JSONObject) -> str | None:
    """The first performer: ``performer[0].actor`` (Procedure, ChargeItem), ``performer[0]`` (ServiceRequest)."""
    performers = as_list(res.get("performer"))
    if not performers:
        return None
    first = as_dict(performers[0])
    return ref_str(first.get("actor")) if "actor" in first else ref_str(first)
