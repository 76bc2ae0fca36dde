"""SARIF 2.1.0, with rule metadata from the registry (for code-scanning UIs and CI annotations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhirplugin import __version__
from fhirplugin.engine import Result
from fhirplugin.findings import Severity
from fhirplugin.rules.base import REGISTRY

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {
    Severity.FATAL: "error",
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "note",
}


def _rule_descriptor(rule_id: str) -> dict:
    cls = REGISTRY.get(rule_id)
    if cls is None:
        return {"id": rule_id}
    docs = cls.doc_sections()
    help_text = "\n\n".join(f"{k}: {v}" for k, v in docs.items())
    return {
        "id": cls.id,
        "name": cls.name,
        "shortDescription": {"text": cls.summary()},
        "fullDescription": {"text": docs.get("What it checks", cls.summary())},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": LEVEL[cls.severity]},
        "properties": {"family": cls.family, "issueType": cls.issue_type},
    }


def document(results: Sequence[Result]) -> dict:
    used: list[str] = []
    sarif_results = []
    for r in results:
        for f in r.findings:
            if f.rule_id not in used:
                used.append(f.rule_id)
            loc: dict = {"physicalLocation": {"artifactLocation": {"uri": r.source}}}
            if r.line is not None:
                loc["physicalLocation"]["region"] = {"startLine": r.line}
            if f.expression:
                loc["logicalLocations"] = [{"fullyQualifiedName": e, "kind": "element"} for e in f.expression]
            res: dict[str, Any] = {
                "ruleId": f.rule_id,
                "ruleIndex": used.index(f.rule_id),
                "level": LEVEL[f.severity],
                "message": {"text": f.text},
                "locations": [loc],
                "properties": {"severity": f.severity.value, "issueType": f.issue_type},
            }
            if f.diagnostics:
                res["properties"]["diagnostics"] = f.diagnostics
            sarif_results.append(res)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fhirplugin",
                        "version": __version__,
                        "informationUri": "https://fhirplugin.dev",
                        "rules": [_rule_descriptor(rid) for rid in used],
                    }
                },
                "results": sarif_results,
            }
        ],
    }
