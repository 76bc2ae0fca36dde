"""The case model: what a rule sees of the submitted resources.

Every value keeps the FHIRPath (``path``) of where it came from in the submitted input, so a
finding can point at it. The reader (``fhirplugin.fhir.extract``) builds these from plain JSON
dicts; rules never touch fhir.resources models or raw JSON, so the reader can be swapped for a
faster one without touching any rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

from fhirplugin.systems import (  # noqa: F401 - re-exported for older imports; new code imports fhirplugin.systems
    CPT,
    DICOM,
    HCPCS,
    ICD10CM,
    ICD10CM_ALIASES,
    PROCEDURE_SYSTEMS,
    SNOMED,
)


@dataclass(slots=True, unsafe_hash=True)
class Coded:
    """One coding: ``system`` may be None when the input gave none. Treat it as read-only (hashable by
    value); not ``frozen`` because a frozen dataclass costs three times as much to build, and the
    reader builds one for every coding it reads."""

    system: str | None
    code: str
    path: str
    display: str | None = None

    @property
    def is_cpt(self) -> bool:
        """A CPT/HCPCS code, under any of their URIs (:mod:`fhirplugin.systems`)."""
        return self.system in PROCEDURE_SYSTEMS


@dataclass(slots=True)
class Diagnosis:
    """A diagnosis on the claim (``Claim.diagnosis[n]``) or a reason on a Procedure/ServiceRequest."""

    codes: list[Coded]
    path: str
    sequence: int | None = None

    def icd10(self) -> list[Coded]:
        return [c for c in self.codes if c.system in ICD10CM_ALIASES]


@dataclass(slots=True)
class DiagnosisPointer:
    """``Claim.item.diagnosisSequence[k]``: ``target`` is None when no diagnosis has that sequence."""

    sequence: int
    path: str
    target: Diagnosis | None


@dataclass(slots=True)
class Device:
    """A device named on a Procedure (focalDevice / usedReference / usedCode / used)."""

    path: str
    codes: list[Coded] = field(default_factory=list)
    # normalised action: "implanted" (left in place), "removed", "used" (no action stated)
    action: str = "used"
    display: str | None = None


@dataclass(slots=True)
class Attachment:
    """Documentation linked to a procedure or claim: DiagnosticReport, ImagingStudy, supportingInfo."""

    kind: str  # "DiagnosticReport" | "ImagingStudy" | "supportingInfo" | "DocumentReference" | ...
    path: str
    codes: list[Coded] = field(default_factory=list)
    modalities: list[Coded] = field(default_factory=list)
    resolved: bool = True


@dataclass(slots=True)
class ProcedureInfo:
    """Details of a procedure as documented in a Procedure or ServiceRequest resource."""

    resource_type: str  # "Procedure" | "ServiceRequest" | "Claim.procedure"
    path: str  # FHIRPath of the resource (or Claim.procedure[n]) in the input
    codes: list[Coded] = field(default_factory=list)
    body_sites: list[Coded] = field(default_factory=list)
    approaches: list[Coded] = field(default_factory=list)  # procedure-method / approach
    guidance: list[Coded] = field(default_factory=list)  # imaging guidance modality
    devices: list[Device] = field(default_factory=list)
    reasons: list[Diagnosis] = field(default_factory=list)
    reports: list[Attachment] = field(default_factory=list)
    collections: int | None = None  # number of separate collections, when stated
    date: dt.date | None = None
    status: str | None = None
    resource_id: str | None = None


@dataclass(slots=True)
class Quantity:
    value: float | None
    path: str | None  # None when the line had no quantity (then value is 1 by convention)


@dataclass(slots=True)
class ServiceLine:
    """One billed or ordered service: a ``Claim.item``, or the code of a Procedure/ServiceRequest."""

    path: str  # Claim.item[0] / Bundle.entry[1].resource (for an order)
    code: Coded | None  # the CPT/HCPCS coding (first CPT, else first coding)
    codes: list[Coded]  # every coding of productOrService / code
    code_path: str  # productOrService / code element path
    modifiers: list[Coded] = field(default_factory=list)
    units: Quantity = field(default_factory=lambda: Quantity(1, None))
    date: dt.date | None = None
    date_path: str | None = None
    body_sites: list[Coded] = field(default_factory=list)
    approaches: list[Coded] = field(default_factory=list)
    diagnosis_pointers: list[DiagnosisPointer] = field(default_factory=list)
    procedures: list[ProcedureInfo] = field(default_factory=list)  # linked procedure documentation
    patient: str | None = None  # reference string; never logged
    # whose service the line is, as the session rules compare it: the rendering provider when the input
    # names one for the line (see ``rendering_provider``), else the resource's own provider
    # (Claim.provider, the order's requester); on an institutional claim always the billing facility
    provider: str | None = None
    sequence: int | None = None
    resource_path: str = ""  # FHIRPath of the owning resource
    # the line's role: "Claim" for a billed line (a Claim item, an ExplanationOfBenefit item, a ChargeItem),
    # "Procedure" or "ServiceRequest" for documentation and orders; ``source_type`` is the real type
    resource_type: str = "Claim"
    source_type: str | None = None  # ExplanationOfBenefit | ChargeItem | ... (None: same as resource_type)
    # the resource's provider (Claim/EOB.provider: the billing provider; a ChargeItem's performer or
    # enterer; an order's requester, a Procedure's performer), whoever rendered the line
    billing_provider: str | None = None
    # the line's own rendering provider as the input names it (Claim/EOB item.careTeamSequence → careTeam
    # provider, a Procedure's performer, a ServiceRequest's performer); None when it names none
    rendering_provider: str | None = None
    place_of_service: Coded | None = None  # CMS place-of-service code (item location, facility, order)
    encounter: Encounter | None = None  # the encounter the line was provided in, when the input holds it
    # the CPT/HCPCS code of ``code`` under any CPT/HCPCS system URI (None when it is not one); set
    # once, so keep ``code`` as built
    cpt: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        c = self.code
        self.cpt = c.code if c is not None and c.system in PROCEDURE_SYSTEMS else None

    @property
    def unit_count(self) -> float:
        return 1 if self.units.value is None else self.units.value

    def diagnoses(self) -> list[Diagnosis]:
        """Diagnoses for this line: through the pointers, else the linked procedures' reasons."""
        out = [p.target for p in self.diagnosis_pointers if p.target is not None]
        if not out:
            for proc in self.procedures:
                out.extend(proc.reasons)
        return out

    def all_body_sites(self) -> list[Coded]:
        sites = list(self.body_sites)
        for proc in self.procedures:
            sites.extend(proc.body_sites)
        return sites

    def all_approaches(self) -> list[Coded]:
        out = list(self.approaches)
        for proc in self.procedures:
            out.extend(proc.approaches)
        return out


@dataclass(slots=True)
class Patient:
    """The patient a case is about, as the submitted (or fetched) Patient resource says. Read only
    what rules need; identifiers are never kept."""

    path: str  # FHIRPath of the Patient resource in the input
    gender: str | None = None  # administrative gender: male | female | other | unknown
    birth_date: dt.date | None = None


@dataclass(slots=True)
class Encounter:
    """The Encounter a case or line belongs to, as the input (or the FHIR server) holds it."""

    path: str  # FHIRPath of the Encounter resource in the input
    classes: list[Coded] = field(default_factory=list)  # v3 ActCode: AMB, EMER, IMP, ... (R4 one, R5 many)
    types: list[Coded] = field(default_factory=list)
    start: dt.date | None = None


@dataclass(slots=True)
class Case:
    """One claim (or EOB, or ChargeItem), or one standalone Procedure or ServiceRequest, as the rules see it."""

    resource_type: str  # Claim | ExplanationOfBenefit | ChargeItem | Procedure | ServiceRequest
    path: str  # FHIRPath of the resource within the input: "Claim" or "Bundle.entry[3].resource"
    lines: list[ServiceLine] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    procedures: list[ProcedureInfo] = field(default_factory=list)  # all documented procedures
    supporting_info: list[Attachment] = field(default_factory=list)
    patient: str | None = None
    provider: str | None = None
    resource_id: str | None = None
    # Claim/EOB.type code (HL7 claim-type: professional, institutional, oral, pharmacy, vision), lower case;
    # the CMS rules take the NCCI setting (practitioner or outpatient hospital tables) from it
    claim_type: str | None = None
    subject: Patient | None = None  # the referenced Patient, when the input holds it
    encounter: Encounter | None = None  # the case's (first) encounter, when the input holds it
    submitted_procedure: bool = False  # a Procedure resource was submitted with it


@dataclass(slots=True)
class RawResource:
    """A submitted resource as parsed JSON, for the few checks that need all of it (profile conformance)."""

    path: str  # FHIRPath of the resource in the input: "Claim", "Bundle.entry[2].resource"
    resource: dict


@dataclass(slots=True)
class Submission:
    """Everything read from one top-level input resource (a Bundle or a single resource)."""

    cases: list[Case] = field(default_factory=list)
    fhir_version: str = "R4"
    # every resource the reader indexed (a single resource, Bundle entries, Parameters resources), in order
    resources: list[RawResource] = field(default_factory=list)
    # references to linked data (Procedure, Condition…) not found in the input: "Type/id" -> where
    missing: dict[str, str] = field(default_factory=dict)
    _lines: list[ServiceLine] | None = field(default=None, repr=False, compare=False)
    _memo: dict | None = field(default=None, repr=False, compare=False)

    def seal(self) -> Submission:
        """Done building: from now on :meth:`lines` is computed once (rules call it often)."""
        self._lines = [line for case in self.cases for line in case.lines]
        return self

    def memo(self, key: object, compute: Callable[[], T]) -> T:
        """``compute()`` once per sealed submission for ``key`` (lookups several rules share)."""
        if self._lines is None:
            return compute()
        if self._memo is None:
            self._memo = {}
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    def lines(self) -> list[ServiceLine]:
        """Every service line of every case, in input order (do not change the list)."""
        if self._lines is not None:
            return self._lines
        return [line for case in self.cases for line in case.lines]
