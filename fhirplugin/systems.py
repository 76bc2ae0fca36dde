"""Every code-system URI fhirplugin knows, and their aliases, in one place.

Senders label the same code system with different URIs: CPT under the AMA URI or its HL7 OID, HCPCS
under the CMS URI with ``https`` or ``http``, its OID, or CMS Blue Button's own URI. The rules see a
code by its *kind* (CPT/HCPCS, ICD-10-CM), so a CPT code is checked whichever alias labels it.

``canonical(system)`` maps an alias to the canonical URI (anything else unchanged);
``is_procedure_system`` is True for every CPT and HCPCS alias (HCPCS Level I *is* CPT, and published
data carries CPT codes under the HCPCS URIs); ``looks_like_cpt_system`` spots a misspelt CPT/HCPCS URI
(``http://www.ama-assn.org/go/cpt/``, ``CPT``) that is none of the known aliases.
"""

from __future__ import annotations

import re

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"

# fhirplugin's own canonical base: its CodeSystems, extensions and profiles live under it
CANONICAL_BASE = "https://fhirplugin.dev/fhir"
RULES_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/rules"  # the rule ids, as OperationOutcome issue codes
APPROACH_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/approach"  # percutaneous, transvaginal, transrectal, open, ...
DEVICE_ACTION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/device-action"  # implanted (left in place), removed
# extensions the reader reads (ours, HL7's procedure-method, Da Vinci PAS's requested service)
EXT_METHOD = "http://hl7.org/fhir/StructureDefinition/procedure-method"
EXT_APPROACH = f"{CANONICAL_BASE}/StructureDefinition/procedure-approach"
EXT_GUIDANCE = f"{CANONICAL_BASE}/StructureDefinition/imaging-guidance"
EXT_COLLECTIONS = f"{CANONICAL_BASE}/StructureDefinition/collection-count"
EXT_MODIFIER = f"{CANONICAL_BASE}/StructureDefinition/cpt-modifier"
PAS_REQUESTED_SERVICE_URL = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-requestedService"
# CMS place-of-service codes (two digits) as CARIN Blue Button and the US claim profiles label them
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
POS_ALIASES: frozenset[str] = frozenset(
    {
        POS,
        "http://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
        "https://bluebutton.cms.gov/resources/variables/line_place_of_srvc_cd",
    }
)
# HL7 claim type (professional, institutional, oral, pharmacy, vision) and care-team role
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
CARE_TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"

CPT_OID = "urn:oid:2.16.840.1.113883.6.12"
HCPCS_OID = "urn:oid:2.16.840.1.113883.6.285"
ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"

CPT_ALIASES: frozenset[str] = frozenset({CPT, CPT_OID})
HCPCS_ALIASES: frozenset[str] = frozenset(
    {
        HCPCS,
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        HCPCS_OID,
        "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
    }
)
ICD10CM_ALIASES: frozenset[str] = frozenset({ICD10CM, ICD10CM_OID})
# every URI under which a code is a CPT/HCPCS code the CPT rules check
PROCEDURE_SYSTEMS: frozenset[str] = CPT_ALIASES | HCPCS_ALIASES

_CANONICAL: dict[str, str] = {
    **dict.fromkeys(CPT_ALIASES, CPT),
    **dict.fromkeys(HCPCS_ALIASES, HCPCS),
    **dict.fromkeys(ICD10CM_ALIASES, ICD10CM),
}

# code systems whose codes may look like CPT codes (five digits) but are not: never "relabel as CPT"
KNOWN_OTHER_SYSTEMS: frozenset[str] = frozenset(
    {
        SNOMED,
        LOINC,
        ICD10,
        DICOM,
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://hl7.org/fhir/sid/ndc",
        "http://hl7.org/fhir/sid/cvx",
        "http://www.ada.org/cdt",
        "http://www.nubc.org/patient-discharge",
        *POS_ALIASES,
        "http://terminology.hl7.org/CodeSystem/ex-USCLS",
        "http://terminology.hl7.org/CodeSystem/ex-serviceproduct",
        "http://terminology.hl7.org/CodeSystem/ex-oralprostho",
        "http://www.cms.gov/Medicare/Coding/ICD10",
        "http://hl7.org/fhir/sid/icd-10-pcs",
        "http://www.cms.gov/Medicare/Coding/ICD10/icd-10-pcs",
        "http://www.ama-assn.org/go/cpt-modifier",
    }
)

_LOOKALIKE = re.compile(r"ama-assn\.org|\bcpt\b|hcpcs", re.IGNORECASE)


def canonical(system: str | None) -> str | None:
    """The canonical URI of a known alias (``urn:oid:2.16.840.1.113883.6.12`` → the CPT URI)."""
    if system is None:
        return None
    return _CANONICAL.get(system, system)


def is_cpt_system(system: str | None) -> bool:
    return system in CPT_ALIASES


def is_hcpcs_system(system: str | None) -> bool:
    return system in HCPCS_ALIASES


def is_procedure_system(system: str | None) -> bool:
    """CPT or HCPCS under any of their URIs."""
    return system in PROCEDURE_SYSTEMS


def is_pos_system(system: str | None) -> bool:
    """The CMS place-of-service code set under any of its URIs."""
    return system in POS_ALIASES


def is_icd10cm_system(system: str | None) -> bool:
    return system in ICD10CM_ALIASES


def looks_like_cpt_system(system: str | None) -> bool:
    """A system that reads like a CPT/HCPCS URI (``http://www.ama-assn.org/go/cpt/``, ``CPT``) but is
    none of the known aliases: probably a typo for one."""
    if not system or system in PROCEDURE_SYSTEMS or system in KNOWN_OTHER_SYSTEMS:
        return False
    return _LOOKALIKE.search(system) is not None and "modifier" not in system.lower()


def is_known_other_system(system: str | None) -> bool:
    """A system that is certainly not CPT/HCPCS (SNOMED CT, LOINC, HL7 example code systems...)."""
    if not system or system in PROCEDURE_SYSTEMS:
        return False
    if system in KNOWN_OTHER_SYSTEMS:
        return True
    return not looks_like_cpt_system(system)
