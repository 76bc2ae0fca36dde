"""Type aliases for parsed JSON, shared by the reader (:mod:`fhirplugin.fhir`) and the service.

``orjson.loads`` and a request body give a :data:`JSONValue`; a FHIR resource, a CDS Hooks request or
a card is a :data:`JSONObject`. A function that reads a member narrows it with ``isinstance`` before
use (``if isinstance(entry := bundle.get("entry"), list)``), which is what the reader does anyway:
submitted JSON may hold anything.
"""

from __future__ import annotations

from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = "JSONScalar | list[JSONValue] | dict[str, JSONValue]"
JSONArray: TypeAlias = "list[JSONValue]"
JSONObject: TypeAlias = "dict[str, JSONValue]"

__all__ = ["JSONArray", "JSONObject", "JSONScalar", "JSONValue"]
