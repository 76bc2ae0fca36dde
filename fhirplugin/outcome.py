"""Findings → FHIR OperationOutcome (JSON dict), in the shape the HL7 validator uses."""

from __future__ import annotations

from collections.abc import Iterable

from fhirplugin.findings import Finding, Severity
from fhirplugin.systems import RULES_SYSTEM

EXT = "http://hl7.org/fhir/StructureDefinition/"
EXT_MESSAGE_ID = EXT + "operationoutcome-message-id"
EXT_SOURCE = EXT + "operationoutcome-issue-source"
EXT_LINE = EXT + "operationoutcome-issue-line"
ALL_OK = "No problems found: every check passed."


def issue(f: Finding, *, line: int | None = None) -> dict:
    out: dict = {"severity": f.severity.value, "code": f.issue_type}
    details: dict = {"text": f.text}
    if f.rule_id:
        coding = {"system": RULES_SYSTEM, "code": f.rule_id}
        if f.rule_display:
            coding["display"] = f.rule_display
        details = {"coding": [coding], "text": f.text}
    out["details"] = details
    if f.diagnostics:
        out["diagnostics"] = f.diagnostics
    if f.expression:
        out["expression"] = list(f.expression)
    ext: list[dict[str, str | int]] = [{"url": EXT_SOURCE, "valueString": "fhirplugin"}]
    if f.rule_id:
        ext.insert(0, {"url": EXT_MESSAGE_ID, "valueString": f.rule_id})
    if line is not None:
        ext.append({"url": EXT_LINE, "valueInteger": line})
    out["extension"] = ext
    return out


def operation_outcome(
    findings: Iterable[Finding], *, line: int | None = None, resource_id: str | None = None
) -> dict:
    """An OperationOutcome for one top-level input; a clean input gets one ``information`` issue."""
    issues = [issue(f, line=line) for f in findings]
    if not issues:
        issues = [{"severity": "information", "code": "informational", "details": {"text": ALL_OK}}]
    oo: dict = {"resourceType": "OperationOutcome"}
    if resource_id:
        oo["id"] = resource_id
    oo["issue"] = issues
    return oo


def worst(findings: Iterable[Finding]) -> Severity | None:
    best = None
    for f in findings:
        if best is None or f.severity.rank > best.rank:
            best = f.severity
    return best
