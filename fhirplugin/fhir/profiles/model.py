"""What a compiled profile is (an element tree per StructureDefinition), what a resource claims and
what it breaks, and the small value helpers both the compiler and the checker use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirplugin.systems import CANONICAL_BASE

PROFILE_BASE = f"{CANONICAL_BASE}/StructureDefinition/"


class ProfileDataError(ValueError):
    """A profile file is broken or uses something the checker does not understand; names the file."""


@dataclass(frozen=True, slots=True)
class ProfileClaim:
    """One ``meta.profile`` entry of a resource.

    ``status``: ``known`` (ours, held for this FHIR version), ``unknown`` (our canonical base, but no
    such profile), ``other-version`` (ours, only for another FHIR version: ``versions``), ``foreign``
    (another canonical base: not checked).
    """

    url: str  # without "|version"
    expression: str  # <base>.meta.profile[k]
    status: str
    versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Violation:
    """A constraint of a profile that the resource breaks."""

    profile: str  # url of the claimed profile
    definition: str  # url of the StructureDefinition holding the constraint (profile or extension)
    element: str  # ElementDefinition id, e.g. "Claim.item.modifier" or "Procedure.code.coding:cpt"
    constraint: (
        str  # min | max | type | fixed | pattern | minValue | maxValue | binding | slicing | resource-type
    )
    expression: str  # FHIRPath in the submitted input, 0-based indexes
    text: str  # one sentence naming the element, the constraint and the profile
    issue_type: str  # FHIR IssueType


@dataclass(slots=True)
class Slice:
    discriminators: list[tuple[str, Any]]  # (path, expected value)
    described: str  # "system http://..." for messages


@dataclass(slots=True)
class Node:
    """One level of the element tree built from a differential (ids split on '.')."""

    name: str  # element name at this level: "item", "value[x]"
    slice: str | None
    eid: str
    element: dict | None = None  # None: a level the differential does not constrain
    children: dict[str, Node] = field(default_factory=dict)  # by id segment ("extension:approach")
    slicing: Slice | None = None  # for slice nodes: how a value is matched to it

    def groups(self) -> Iterator[tuple[str, Node | None, list[Node]]]:
        """Children grouped by element name: (name, unsliced node, slice nodes)."""
        seen: dict[str, tuple[Node | None, list[Node]]] = {}
        for node in self.children.values():
            base, slices = seen.setdefault(node.name, (None, []))
            if node.slice is None:
                seen[node.name] = (node, slices)
            else:
                slices.append(node)
        for name, (base, slices) in seen.items():
            yield name, base, slices


@dataclass(slots=True)
class StructureDef:
    url: str
    id: str
    version: str | None
    fhir_version: str
    type: str
    kind: str
    path: Path
    root: Node

    @property
    def major(self) -> str:
        return self.fhir_version.split(".", 1)[0]

    @property
    def label(self) -> str:
        return self.id or self.url.rsplit("/", 1)[-1]


def fhir_major(fhir_version: str) -> str:
    """R4 / R4B / 4.0.1 / 4.3.0 → "4"; R5 / 5.0.0 → "5"."""
    v = fhir_version.strip().upper().removeprefix("R")
    return v[:1]


def strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def typed_key(element: dict, prefix: str) -> tuple[str, Any] | None:
    """The first ``<prefix>Xxx`` key of an element (fixedUri, patternCoding...): (suffix, value)."""
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return key[len(prefix) :], value
    return None


def fixed_or_pattern(element: dict | None) -> Any:
    if not element:
        return None
    hit = typed_key(element, "fixed") or typed_key(element, "pattern")
    return hit[1] if hit else None


def pattern_contains(pattern: Any, value: Any) -> bool:
    """FHIR pattern semantics: every property of the pattern is in the value (lists: each item found)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and pattern_contains(v, value[k]) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(pattern_contains(p, v) for v in value) for p in pattern)
    return type(pattern) is type(value) and pattern == value


def dig(value: Any, path: str) -> list[Any]:
    if path == "$this":
        return [value]
    current = [value]
    for seg in path.split("."):
        nxt: list[Any] = []
        for v in current:
            got = v.get(seg) if isinstance(v, dict) else None
            if isinstance(got, list):
                nxt.extend(got)
            elif got is not None:
                nxt.append(got)
        current = nxt
    return current


def describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {describe_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(describe_value(v) for v in value)
    return str(value)
