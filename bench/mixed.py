"""A mixed corpus of many FHIR resource types, for batch warm-up measurements. Not a test.

``resources()`` gathers every resource in the public CDS Hooks examples and fixtures under
``../shared/reference/cds-hooks`` (read in place, never copied into the project): the Bundles as
they are (draft orders, prefetch), each resource on its own (MedicationRequest, DeviceRequest,
NutritionOrder, Task, Patient, Coverage, Observation, ...), and each wrapped in a Parameters, plus
the examples under ``examples/`` and ``profiles/examples``. Empty when ``../shared`` is absent.

    python bench/mixed.py 20000 mixed.ndjson    # that many lines, the resources in turn, ids numbered
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").is_dir() else Path("/work/shared")


def _walk(value, out: list[dict]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("resourceType"), str):
            out.append(value)
        for v in value.values():
            _walk(v, out)
    elif isinstance(value, list):
        for v in value:
            _walk(v, out)


def resources() -> list[dict]:
    folder = SHARED / "reference" / "cds-hooks"
    if not folder.is_dir():
        return []
    found: list[dict] = []
    for path in sorted(folder.rglob("*.json")):
        try:
            _walk(orjson.loads(path.read_bytes()), found)
        except orjson.JSONDecodeError:
            continue
    for path in sorted([*ROOT.glob("examples/*/*.json"), *ROOT.glob("profiles/examples/*.json")]):
        found.append(orjson.loads(path.read_bytes()))
    wrapped = [
        {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": r}]}
        for r in found
        if r.get("resourceType") != "Parameters"
    ]
    return found + wrapped


def write_ndjson(path: Path, n: int) -> Path:
    rows = resources()
    with open(path, "wb") as fh:
        fh.writelines(orjson.dumps(rows[i % len(rows)]) + b"\n" for i in range(n))
    return path


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"mixed-{count}.ndjson")
    print(write_ndjson(out, count))
