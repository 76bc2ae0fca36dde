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

from pydantic import ValidationError

from fhirplugin.fhir import fast
from fhirplugin.findings import Finding, Severity

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


def _convert(err: dict, base: str, rtype: str, version: str) -> Finding:
    loc = tuple(err.get("loc") or ())
    etype = err.get("type", "")
    path = loc_to_path(base, loc)
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if etype in ("missing", "model_field_validation.missing"):
        return _finding(
            "STR002", "required", f"{path} is required in FHIR {version} {rtype} but is missing.", path
        )
    if etype == "extra_forbidden":
        name = path.rsplit(".", 1)[-1]
        parent = path.rsplit(".", 1)[0]
        return _finding(
            "STR003",
            "structure",
            f"{parent} has an element '{name}' that FHIR {version} does not define there; "
            "remove it or move it to an extension.",
            path,
        )
    got = err.get("input")
    shown = repr(got) if isinstance(got, str | int | float | bool) or got is None else type(got).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return _finding(
        "STR001",
        "value" if etype.endswith(("parsing", "_error", "value_error")) else "structure",
        f"{path} has an invalid value ({shown}): {msg.rstrip('.')}.",
        path,
        diagnostics=f"pydantic error type {etype}",
    )


def _strip(resource: dict, locs: list[tuple]) -> dict:
    """A copy of ``resource`` without the elements at ``locs`` (unknown elements already reported)."""
    import copy

    out = copy.deepcopy(resource)
    for loc in locs:
        node = out
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


def validate_resource(resource: dict, version: str, base: str) -> list[Finding]:
    """Check one resource (not descending into Bundle entries or Parameters resources).

    Unknown elements are reported, removed, and the resource validated again, so errors that pydantic
    reports only once the unknown element is gone (a missing required sibling) are listed too.
    """
    if fast_enabled() and fast.accepts(resource, version):
        return []
    rtype = resource.get("resourceType")
    cls = model_class(rtype, version)
    if cls is None:
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
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
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
        out = validate_resource(shell, version, base)
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
        out = validate_resource(shell, version, base)
        for i, param in enumerate(resource["parameter"]):
            if isinstance(param, dict) and isinstance(param.get("resource"), dict):
                out.extend(validate_tree(param["resource"], version, f"{base}.parameter[{i}].resource"))
        return out
    return validate_resource(resource, version, base)
