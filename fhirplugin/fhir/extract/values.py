"""Readers of FHIR datatypes in plain JSON: lists, strings, dates, codings, extensions, quantities.

Defensive: a value of the wrong shape reads as absent (structure errors are reported elsewhere).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhirplugin.fhir.case import Coded, Quantity
from fhirplugin.systems import PROCEDURE_SYSTEMS

# a JSON value as json/orjson give it
JSON = Any
JSONObject = dict[str, Any]


def as_list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


def as_dict(value: JSON) -> JSONObject:
    return value if isinstance(value, dict) else {}


def as_str(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: JSON) -> int | None:
    """A JSON integer, as a sequence number (``true`` passes as 1, as it always has: the structure check
    reports it)."""
    return value if isinstance(value, int) else None


def ref_str(ref: JSON) -> str | None:
    """``Reference.reference`` (None when absent or not a string)."""
    return as_str(as_dict(ref).get("reference"))


def parse_date(value: JSON) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def codings(cc: JSON, path: str) -> list[Coded]:
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


def coding(c: JSON, path: str) -> list[Coded]:
    """A bare Coding at ``path``."""
    d = as_dict(c)
    code = as_str(d.get("code"))
    return [Coded(as_str(d.get("system")), code.strip(), path, as_str(d.get("display")))] if code else []


def codings_of_list(value: JSON, path: str) -> list[Coded]:
    """Codings of a list of CodeableConcepts at ``path[k]``, in order."""
    out: list[Coded] = []
    for k, cc in enumerate(as_list(value)):
        out.extend(codings(cc, f"{path}[{k}]"))
    return out


def primary(codes: list[Coded]) -> Coded | None:
    """The first CPT/HCPCS coding (under any of their URIs), else the first coding."""
    for c in codes:
        if c.system in PROCEDURE_SYSTEMS:
            return c
    return codes[0] if codes else None


def extension_codes(resource: JSONObject, path: str, *urls: str) -> list[Coded]:
    out = []
    for k, ext in enumerate(as_list(resource.get("extension"))):
        ext = as_dict(ext)
        if ext.get("url") in urls:
            epath = f"{path}.extension[{k}]"
            if "valueCodeableConcept" in ext:
                out.extend(codings(ext["valueCodeableConcept"], f"{epath}.valueCodeableConcept"))
            elif "valueCoding" in ext:
                out.extend(coding(ext["valueCoding"], f"{epath}.valueCoding"))
            elif "valueCode" in ext and as_str(ext["valueCode"]):
                out.append(Coded(None, ext["valueCode"], f"{epath}.valueCode"))
    return out


def extension_int(resource: JSONObject, url: str) -> int | None:
    for ext in as_list(resource.get("extension")):
        ext = as_dict(ext)
        if ext.get("url") == url:
            val = ext.get("valueInteger", ext.get("valuePositiveInt"))
            if isinstance(val, int) and not isinstance(val, bool):
                return val
    return None


def quantity(resource: JSONObject, key: str, path: str) -> Quantity:
    """``resource[key]`` as a unit count: ``Quantity(value, path.value)``; ``Quantity(1, None)`` when the
    element or its value is absent (a value of the wrong type reads as ``None`` at its path)."""
    qty = resource.get(key)
    if isinstance(qty, dict) and "value" in qty:
        v = qty["value"]
        return Quantity(
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
            f"{path}.value",
        )
    return Quantity(1, None)
