"""Structural validation with fhir.resources: every pydantic error becomes a located Finding.

R4 and R4B payloads are checked with the ``fhir.resources.R4B`` models, R5 with the default models.
A Bundle (or Parameters) is checked as a shell and then entry by entry, so one broken entry does not
hide the others and every error carries ``Bundle.entry[i].resource…``.

Before building any model, :mod:`fhirplugin.fhir.fast` checks the plain JSON against tables made from
the same models; when it proves a resource valid, the (empty) answer is returned without pydantic.
Anything it is unsure of goes through fhir.resources as before, so the findings do not change, only
the speed. ``FHIRPLUGIN_FAST=0`` in the environment turns the fast path off (for debugging).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from fhirplugin.fhir import fast
from fhirplugin.findings import Finding, Severity
from fhirplugin.jsontypes import JSONObject

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

_OFF = frozenset({"0", "false", "no", "off"})


def fast_enabled() -> bool:
    """The fast pre-check runs unless FHIRPLUGIN_FAST is 0/false/no/off (read on every call)."""
    return os.environ.get("FHIRPLUGIN_FAST", "1").strip().lower() not in _OFF


_ELEMENT = re.compile(r"^[a-z_][A-Za-z0-9_]*$|^resourceType$")


def model_class(resource_type: object, version: str):
    """The fhir.resources model for a resource type, or None when the version has no such type.

    Anything but a plausible type name (a list, a number, ``"claim"``) is None before the cache:
    the names come from the input, so only well-formed ones are remembered, and at most 1,024.
    """
    if not isinstance(resource_type, str) or not _TYPE_NAME.fullmatch(resource_type):
        return None
    return _model_class(resource_type, version)


_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")


def is_type(resource_type: object, version: str) -> bool:
    """``model_class(resource_type, version) is not None``, answered from the compiled type names
    (:mod:`fhirplugin.fhir.compiled`) when there are any, so no model is imported to say it."""
    if not isinstance(resource_type, str) or not _TYPE_NAME.fullmatch(resource_type):
        return False
    from fhirplugin.fhir import compiled

    names = compiled.type_names("R5" if version == "R5" else "R4B")
    if names is not None:
        return resource_type in names
    return _model_class(resource_type, version) is not None


@lru_cache(maxsize=1024)
def _model_class(resource_type: str, version: str):
    try:
        if version == "R5":
            from fhir.resources import get_fhir_model_class
        else:
            from fhir.resources.R4B import get_fhir_model_class
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, ImportError, AttributeError):
        return None


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path_name(key: str) -> str:
    """An element name as a FHIRPath segment: as is, or a delimited identifier (```order note```)
    when it is no FHIRPath name (an unknown element with a space, a dash, a control character)."""
    if _NAME.fullmatch(key):
        return key
    return "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"


def loc_to_path(base: str, loc: tuple) -> str:
    parts = [base]
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        elif isinstance(part, str) and _ELEMENT.match(part) and part != "root":
            parts.append(part)
    return ".".join(parts)


def _finding(
    rule: str,
    code: str,
    text: str,
    path: str,
    diagnostics: str | None = None,
    severity: Severity | None = None,
) -> Finding:
    """A finding made by its rule class (the engine grades or drops it by the configuration)."""
    from fhirplugin.rules import REGISTRY  # the rules import the reader; look them up when needed

    return REGISTRY[rule].make(text, path, diagnostics=diagnostics, severity=severity, issue_type=code)


def _describe(value) -> str:
    """A value as a person would name it: the string 'active', the number 2, an object, an array."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}" if value else "an empty string"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "an object" if value else "an empty object"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    return "a value of another kind"


def _a(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _expected(rtype: str, version: str, loc: tuple) -> tuple[str, str, bool] | None:
    """What the model expects at ``loc``: (FHIR type name, kind "primitive"|"object", many)."""
    import typing

    cls = model_class(rtype, version)
    found = None
    parts = [p for p in loc if p != "root"]
    i = 0
    while cls is not None and i < len(parts):
        part = parts[i]
        i += 1
        if isinstance(part, int):
            continue
        field = next((f for n, f in cls.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        tp = fast._strip_optional(field.annotation)
        many = typing.get_origin(tp) is list
        if many:
            tp = fast._strip_optional(typing.get_args(tp)[0])
            if i < len(parts) and isinstance(parts[i], int):
                i += 1
                many = False  # the error is about one item of the array
        if typing.get_origin(tp) is typing.Annotated:
            names = [getattr(m, "__visit_name__", None) for m in typing.get_args(tp)[1:]]
            name = next((n for n in names if n), "value")
            found, cls = (name, "primitive", many), None
        elif tp is bool:
            found, cls = ("boolean", "primitive", many), None
        elif hasattr(tp, "get_model_klass"):
            klass = tp.get_model_klass()
            own_module = klass.__module__.rsplit(".", 1)[-1] == klass.__name__.lower()
            name = klass.__name__ if own_module else "BackboneElement"
            found, cls = (name, "object", many), klass
        else:
            return None
    return found if i >= len(parts) else None


_FORMAT_HINT = {
    "date": "a date is YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date",
    "dateTime": "a dateTime is YYYY, YYYY-MM, YYYY-MM-DD, or a date and time with a time zone "
    "(2026-03-02T10:15:00Z)",
    "instant": "an instant is a date and time with seconds and a time zone (2026-03-02T10:15:00Z)",
    "time": "a time is hh:mm:ss",
    "code": "a code has no leading, trailing or double spaces",
    "id": "an id is 1 to 64 letters, digits, '-' or '.'",
    "positiveInt": "a positiveInt is a whole number of at least 1",
    "unsignedInt": "an unsignedInt is a whole number of at least 0",
    "integer": "an integer is a whole number",
    "decimal": "a decimal is a JSON number",
    "boolean": "a boolean is true or false",
    "string": "a string is not empty",
    "uri": "a uri is a non-empty string without spaces",
    "url": "a url is a non-empty string without spaces",
    "canonical": "a canonical is a non-empty URL",
    "base64Binary": "a base64Binary is base64 text",
    "oid": "an oid is urn:oid: and digits separated by dots",
    "uuid": "a uuid is urn:uuid: and a UUID",
}


def _convert(err: ErrorDetails, base: str, rtype: str, version: str) -> Finding:
    """One pydantic error in plain words, located (never pydantic's wording or error types)."""
    loc = tuple(err.get("loc") or ())
    etype = err.get("type", "")
    path = loc_to_path(base, loc)
    name = path.rsplit(".", 1)[-1]
    if etype in ("missing", "model_field_validation.missing"):
        return _finding(
            "STR002", "required", f"{path} is required in FHIR {version} {rtype} but is missing.", path
        )
    if etype == "extra_forbidden":
        parent = path.rsplit(".", 1)[0]
        if loc and isinstance(loc[-1], str) and not _ELEMENT.match(loc[-1]):
            # the unknown element's own name, which loc_to_path leaves out as it does pydantic's labels
            parent, name = path, loc[-1]
            path = f"{parent}.{path_name(name)}"
        shown = name if name.isprintable() else repr(name)[1:-1]
        return _finding(
            "STR003",
            "structure",
            f"{parent} has an element '{shown}' that FHIR {version} does not define there; "
            "remove it or move it to an extension.",
            path,
        )
    got = err.get("input")
    shown = _describe(got)
    expected = _expected(rtype, version, loc) if isinstance(rtype, str) else None
    if expected is None:
        msg = str(err.get("msg", ""))
        text = f"{path} has an invalid value ({shown})."
        if "one field value is expected" in msg or "one_of_many" in etype:
            text = f"{path} has more than one value for a choice element; keep only one of them."
        elif etype.endswith("required") or "required" in msg.lower():
            text = f"{path} is missing a value FHIR {version} requires there."
    else:
        tname, kind, many = expected
        if many and not isinstance(got, list):
            text = f"`{name}` must be an array of {tname}, not {shown}."
        elif kind == "object" and not isinstance(got, dict):
            text = f"`{name}` must be {_a(tname)} object, not {shown}."
        elif kind == "primitive" and isinstance(got, dict | list):
            text = f"`{name}` must be {_a(tname)} value, not {shown}."
        else:
            hint = _FORMAT_HINT.get(tname)
            text = f"`{name}` has {shown}, which is not a valid FHIR {tname}" + (
                f": {hint}." if hint else "."
            )
        text = f"{path}: {text}"
    return _finding(
        "STR001",
        "value" if expected is None or expected[1] == "primitive" else "structure",
        text,
        path,
        diagnostics=f"FHIR {version} {rtype}"
        + (f": {path} is {_a(expected[0])}{' array' if expected[2] else ''}." if expected else "."),
    )


def strict_json(resource: dict, base: str, *, descend_resources: bool = True) -> list[Finding]:
    """FHIR JSON rules fhir.resources does not enforce: no ``null`` (except to line up a primitive array
    with its ``_`` array), no empty strings, no empty objects, no empty arrays. Bundle entries' and
    Parameters' resources are left to their own check unless ``descend_resources``."""
    out: list[Finding] = []
    top_type = resource.get("resourceType")
    stack: list[tuple[object, str, bool, bool]] = [(resource, base, False, True)]
    while stack:
        value, path, null_ok, top = stack.pop()
        if value is None:
            if not null_ok:
                out.append(
                    _finding(
                        "STR001",
                        "value",
                        f"{path} is null; FHIR JSON has no null values: leave the element out.",
                        path,
                    )
                )
            continue
        if isinstance(value, str):
            if value == "":
                out.append(
                    _finding(
                        "STR001",
                        "value",
                        f"{path} is an empty string; FHIR JSON does not allow empty strings: leave the element "
                        "out or give it a value.",
                        path,
                    )
                )
            continue
        if isinstance(value, dict):
            if not value:
                out.append(
                    _finding(
                        "STR001",
                        "structure",
                        f"{path} is an empty object; FHIR JSON does not allow empty objects: leave the element "
                        "out.",
                        path,
                    )
                )
                continue
            holder = value.get("resourceType") if not top else top_type
            for key, v in value.items():
                if (
                    not descend_resources
                    and key == "resource"
                    and holder in (None, "Bundle", "Parameters")
                    and isinstance(v, dict)
                    and "resourceType" in v
                ):
                    continue  # checked as a resource of its own
                child = f"{path}.{path_name(key)}"
                if isinstance(v, list):
                    paired = (key[1:] if key.startswith("_") else f"_{key}") in value
                    if not v:
                        out.append(
                            _finding(
                                "STR001",
                                "structure",
                                f"{child} is an empty array; FHIR JSON does not allow empty arrays: leave the "
                                "element out.",
                                child,
                            )
                        )
                        continue
                    for k in range(len(v) - 1, -1, -1):
                        stack.append((v[k], f"{child}[{k}]", paired, False))
                else:
                    stack.append((v, child, False, False))
            continue
        # numbers and booleans: nothing to add
    out.reverse()
    return out


def _strip(resource: JSONObject, locs: list[tuple[str | int, ...]]) -> JSONObject:
    """A copy of ``resource`` without the elements at ``locs`` (unknown elements already reported)."""
    import copy

    out = copy.deepcopy(resource)
    for loc in locs:
        node: Any = out
        for part in loc[:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict):
            node.pop(loc[-1], None)
    return out


MAX_PASSES = 4  # pydantic hides a missing element when the same object also has an unknown one


def validate_resource(resource: dict, version: str, base: str, *, whole: dict | None = None) -> list[Finding]:
    """Check one resource (not descending into Bundle entries or Parameters resources).

    Unknown elements are reported, removed, and the resource validated again, so errors that pydantic
    reports only once the unknown element is gone (a missing required sibling) are listed too.
    """
    if fast_enabled() and fast.accepts(resource, version):
        return []
    rtype = resource.get("resourceType")
    cls = model_class(rtype, version)
    if cls is None or not isinstance(rtype, str):
        return [
            _finding(
                "INP002",
                "not-supported" if isinstance(rtype, str) else "required",
                f"{base} has resourceType {rtype!r}, which is not a FHIR {version} resource type."
                if isinstance(rtype, str)
                else f"{base} has no resourceType: it is not a FHIR resource.",
                base,
            )
        ]
    # strict JSON on the resource as submitted (``whole``: a Bundle or Parameters before its shell was cut)
    out: list[Finding] = strict_json(whole if whole is not None else resource, base, descend_resources=False)
    seen: set[tuple[str, str]] = {(f.expression[0], f.rule_id) for f in out}
    current = resource
    for _ in range(MAX_PASSES):
        try:
            cls.model_validate(current)
            break
        except ValidationError as exc:
            extras = []
            new = 0
            for err in exc.errors(include_url=False):
                f = _convert(err, base, rtype, version)
                key = (f.expression[0], f.rule_id)
                if f.rule_id == "STR003":
                    extras.append(tuple(err.get("loc") or ()))
                if key not in seen:
                    seen.add(key)
                    out.append(f)
                    new += 1
            if not extras or not new:
                break
            current = _strip(current, [tuple(p for p in loc if p != "root") for loc in extras])
        except Exception as exc:  # noqa: BLE001 - fhir.resources raises KeyError etc. on hostile shapes
            out.append(
                _finding(
                    "STR004",
                    "structure",
                    f"{base} could not be read as a FHIR {version} {rtype}: the structure is not valid.",
                    base,
                    diagnostics=f"{type(exc).__name__}: {str(exc)[:200]}",
                    severity=Severity.FATAL,
                )
            )
            break
    return out


def validate_tree(resource: dict, version: str, base: str, *, fast_first: bool = True) -> list[Finding]:
    """Validate a resource and, for Bundle and Parameters, each resource it holds.

    ``fast_first=False``: the caller already asked :func:`fast.accepts` about this resource and got
    "suspicious"; entries of a Bundle or Parameters still try the fast path one by one.
    """
    if fast_first and fast_enabled() and fast.accepts(resource, version):
        return []  # the whole tree is valid: fhir.resources would report nothing either
    rtype = resource.get("resourceType")
    if rtype == "Bundle" and isinstance(resource.get("entry"), list):
        shell = dict(resource)
        shell["entry"] = [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
            for e in resource["entry"]
        ]
        out = validate_resource(shell, version, base, whole=resource)
        for i, entry in enumerate(resource["entry"]):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                out.extend(validate_tree(entry["resource"], version, f"{base}.entry[{i}].resource"))
        return out
    if rtype == "Parameters" and isinstance(resource.get("parameter"), list):
        shell = dict(resource)
        shell["parameter"] = [
            {k: v for k, v in p.items() if k != "resource"} if isinstance(p, dict) else p
            for p in resource["parameter"]
        ]
        out = validate_resource(shell, version, base, whole=resource)
        for i, param in enumerate(resource["parameter"]):
            if isinstance(param, dict) and isinstance(param.get("resource"), dict):
                out.extend(validate_tree(param["resource"], version, f"{base}.parameter[{i}].resource"))
        return out
    return validate_resource(resource, version, base)
