"""Which FHIR version a payload is: from meta.profile, then from elements only one version has."""

from __future__ import annotations

VERSIONS = ("R4", "R4B", "R5")

# elements whose presence says R4/R4B or R5, per resource type
_R5_ONLY = {
    "Procedure": {
        "occurrenceDateTime",
        "occurrencePeriod",
        "occurrenceString",
        "occurrenceAge",
        "occurrenceRange",
        "occurrenceTiming",
        "used",
        "reason",
        "recorded",
        "reportedBoolean",
        "reportedReference",
        "supportingInfo",
    },
    "ServiceRequest": {"reason", "bodyStructure", "focus", "orderDetail", "patientInstruction"},
    "Claim": {"traceNumber", "event", "diagnosisRelatedGroup", "patientPaid", "encounter"},
}
_R4_ONLY = {
    "Procedure": {
        "performedDateTime",
        "performedPeriod",
        "performedString",
        "performedAge",
        "performedRange",
        "usedReference",
        "usedCode",
        "reasonCode",
        "reasonReference",
        "asserter",
    },
    "ServiceRequest": {"reasonCode", "reasonReference", "patientInstruction"},
}
_R4_ONLY["ServiceRequest"].discard("patientInstruction")  # string in R4, list in R5: decided by type below
_R5_ONLY["ServiceRequest"].discard("patientInstruction")


def normalize(version: str | None) -> str | None:
    """Map user spellings (4.0, 4.0.1, r4, 5.0, R5, 4.3) to R4 / R4B / R5; None for auto/unknown."""
    if not version:
        return None
    v = version.strip().upper()
    if v in ("AUTO", ""):
        return None
    if v in VERSIONS:
        return v
    if v.startswith("4.0"):
        return "R4"
    if v.startswith("4.3"):
        return "R4B"
    if v.startswith("5.0"):
        return "R5"
    raise ValueError(f"unknown FHIR version {version!r}; use auto, R4, R4B or R5 (or 4.0, 4.3, 5.0)")


def _vote(resource: dict) -> str | None:
    meta = resource.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("profile"), list):
        for profile in meta["profile"]:
            if isinstance(profile, str):
                if "/R5/" in profile or "|5.0" in profile or profile.endswith("-r5"):
                    return "R5"
                if "/R4/" in profile or "|4.0" in profile or profile.endswith("-r4"):
                    return "R4"
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return None
    keys = resource.keys()
    if rtype in _R5_ONLY and keys & _R5_ONLY[rtype]:
        return "R5"
    if rtype in _R4_ONLY and keys & _R4_ONLY[rtype]:
        return "R4"
    if rtype == "ServiceRequest":
        code = resource.get("code")
        if isinstance(code, dict):
            if "concept" in code or "reference" in code:
                return "R5"
            if "coding" in code or "text" in code:
                return "R4"
        if isinstance(resource.get("patientInstruction"), list):
            return "R5"
    if rtype == "Claim":
        for item in resource.get("item") or []:
            if isinstance(item, dict):
                site = item.get("bodySite")
                if isinstance(site, list):
                    return "R5"
                if isinstance(site, dict):
                    return "R4"
    return None


def detect(resource: dict) -> str:
    """Guess the version of a resource (and the resources a Bundle or Parameters holds); default R4."""
    stack = [resource]
    while stack:
        res = stack.pop()
        vote = _vote(res)
        if vote:
            return vote
        entries = res.get("entry") if res.get("resourceType") == "Bundle" else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                stack.append(entry["resource"])
        params = res.get("parameter") if res.get("resourceType") == "Parameters" else None
        for param in params if isinstance(params, list) else []:
            if isinstance(param, dict) and isinstance(param.get("resource"), dict):
                stack.append(param["resource"])
    return "R4"
