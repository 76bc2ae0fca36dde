from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import orjson

from fhirplugin.engine import Result
from fhirplugin.reporters import sarif, text
from fhirplugin.reporters.fixes import record as fixes_record

FORMATS = ("text", "json", "outcome", "sarif")


def result_record(r: Result) -> dict:
    rec: dict = {"source": r.source, "index": r.index}
    if r.line is not None:
        rec["line"] = r.line
    if r.resource_type:
        rec["resourceType"] = r.resource_type
    if r.resource_id:
        rec["id"] = r.resource_id
    rec["fhirVersion"] = r.fhir_version
    if r.entries is not None:
        rec["entries"] = r.entries
    rec["outcome"] = r.outcome()
    # the fix of issue i (same order as outcome.issue), as the CDS cards offer it
    fixes = [{"issue": i, **rec_fix} for i, f in enumerate(r.findings) if (rec_fix := fixes_record(f.fix))]
    if fixes:
        rec["fixes"] = fixes
    return rec


def render(results: Sequence[Result], fmt: str, out: TextIO, *, color: bool | None = None) -> None:
    if fmt == "outcome":
        out.writelines(orjson.dumps(r.outcome()).decode() + "\n" for r in results)
    elif fmt == "json":
        out.write(
            orjson.dumps(
                {"results": [result_record(r) for r in results]}, option=orjson.OPT_INDENT_2
            ).decode()
            + "\n"
        )
    elif fmt == "sarif":
        out.write(orjson.dumps(sarif.document(results), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "text":
        text.write(results, out, color=color)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
