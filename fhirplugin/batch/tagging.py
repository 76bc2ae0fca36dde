"""The batch output: the engine's OperationOutcome of one input, tagged with where it came from
(:data:`SOURCE_EXT`, a complex extension valid in R4 and R5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhirplugin.findings import CANONICAL_BASE

if TYPE_CHECKING:
    from fhirplugin.engine import Result

SOURCE_EXT = f"{CANONICAL_BASE}/StructureDefinition/batch-source"


def tagged_outcome(result: Result) -> dict[str, Any]:
    """The engine's OperationOutcome for ``result`` with the :data:`SOURCE_EXT` extension first."""
    sub: list[dict[str, Any]] = [{"url": "file", "valueString": result.source}]
    if result.line is not None:
        sub.append({"url": "line", "valueInteger": result.line})
    sub.append({"url": "index", "valueInteger": result.index})
    if result.resource_type:
        sub.append({"url": "resourceType", "valueCode": result.resource_type})
    if result.resource_id:
        sub.append({"url": "resourceId", "valueString": result.resource_id})
    oo = result.outcome()
    out: dict[str, Any] = {
        "resourceType": "OperationOutcome",
        "extension": [{"url": SOURCE_EXT, "extension": sub}],
    }
    out.update((k, v) for k, v in oo.items() if k != "resourceType")
    return out
