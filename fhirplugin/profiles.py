"""Check resources against the fhirplugin profiles (StructureDefinitions under ``profiles/``).

The checker reads the *differential* of each StructureDefinition and applies, element by element:

* ``min`` / ``max`` cardinality (per occurrence of the parent element);
* the allowed types of a choice element (``value[x]``, ``quantity[x]``);
* ``fixed[x]`` (exact value) and ``pattern[x]`` (the value must contain the pattern);
* ``minValue[x]`` / ``maxValue[x]`` on numbers;
* ``required`` bindings: through the terminology's ValueSets (``terminology/valuesets``) or the
  profiles' own (``profiles/valuesets``). A ValueSet made only of whole external code systems (CPT,
  HCPCS) is checked by code system only: whether the code exists is a coding rule's job;
* slices told apart by ``value``/``pattern`` discriminators (extension ``url``, coding ``system``...),
  with their own cardinality; ``rules: closed`` refuses values that fit no slice;
* an extension slice whose type names one of our extension definitions also gets that definition's
  constraints (value type, binding, ``Extension.extension`` max 0...).

Nothing is specific to one profile: the constraints come from the JSON files. Resource profiles are
kept per FHIR version (``profiles/*.json`` R4, ``profiles/r5/*.json`` R5; R4B inputs use the R4
ones); extension definitions (``profiles/extensions``) serve every version.

Entry points: :func:`profile_claims` (which profiles ``meta.profile`` names and whether we hold them)
and :func:`check_resource` (the violated constraints, each with the FHIRPath of the element at fault,
0-based indexes). A broken profile file raises :class:`ProfileDataError` naming it, at load time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fhirplugin.findings import CANONICAL_BASE
from fhirplugin.resources import data_dir
from fhirplugin.tx.fhirterm import CodeSystems, TerminologyDataError, ValueSets

if TYPE_CHECKING:
    from fhirplugin.tx.store import Terminology

__all__ = [
    "PROFILE_BASE",
    "ProfileClaim",
    "ProfileDataError",
    "ProfileRegistry",
    "StructureDef",
    "Violation",
    "check_resource",
    "profile_claims",
]

PROFILE_BASE = f"{CANONICAL_BASE}/StructureDefinition/"
_DISCRIMINATORS = ("value", "pattern")
_NUMERIC_LIMITS = ("Integer", "Decimal", "PositiveInt", "UnsignedInt", "Integer64")


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


# ---------------------------------------------------------------------------------- model
@dataclass(slots=True)
class _Slice:
    discriminators: list[tuple[str, Any]]  # (path, expected value)
    described: str  # "system http://..." for messages


@dataclass(slots=True)
class _Node:
    """One level of the element tree built from a differential (ids split on '.')."""

    name: str  # element name at this level: "item", "value[x]"
    slice: str | None
    eid: str
    element: dict | None = None  # None: a level the differential does not constrain
    children: dict[str, _Node] = field(default_factory=dict)  # by id segment ("extension:approach")
    slicing: _Slice | None = None  # for slice nodes: how a value is matched to it

    def groups(self) -> Iterator[tuple[str, _Node | None, list[_Node]]]:
        """Children grouped by element name: (name, unsliced node, slice nodes)."""
        seen: dict[str, tuple[_Node | None, list[_Node]]] = {}
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
    root: _Node

    @property
    def major(self) -> str:
        return self.fhir_version.split(".", 1)[0]

    @property
    def label(self) -> str:
        return self.id or self.url.rsplit("/", 1)[-1]


def _major(fhir_version: str) -> str:
    """R4 / R4B / 4.0.1 / 4.3.0 → "4"; R5 / 5.0.0 → "5"."""
    v = fhir_version.strip().upper().removeprefix("R")
    return v[:1]


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def _typed(element: dict, prefix: str) -> tuple[str, Any] | None:
    """The first ``<prefix>Xxx`` key of an element (fixedUri, patternCoding...): (suffix, value)."""
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return key[len(prefix) :], value
    return None


def _fixed_or_pattern(element: dict | None) -> Any:
    if not element:
        return None
    hit = _typed(element, "fixed") or _typed(element, "pattern")
    return hit[1] if hit else None


def _contains(pattern: Any, value: Any) -> bool:
    """FHIR pattern semantics: every property of the pattern is in the value (lists: each item found)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _contains(v, value[k]) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_contains(p, v) for v in value) for p in pattern)
    return type(pattern) is type(value) and pattern == value


def _dig(value: Any, path: str) -> list[Any]:
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


def _times(n: int) -> str:
    return f"{n} occurrence" + ("" if n == 1 else "s")


def _describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_describe_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_describe_value(v) for v in value)
    return str(value)


# ---------------------------------------------------------------------------------- loading
def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ProfileDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ProfileDataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ProfileDataError(
            f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise ProfileDataError(f"{path}: expected a JSON object holding a StructureDefinition")
    return data


def _model_check(path: Path, data: dict, major: str) -> None:
    from pydantic import ValidationError

    if major == "5":
        from fhir.resources.structuredefinition import StructureDefinition
    else:
        from fhir.resources.R4B.structuredefinition import StructureDefinition
    try:
        StructureDefinition.model_validate(data)
    except ValidationError as exc:
        errs = exc.errors()
        shown = "; ".join(
            "StructureDefinition"
            + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
            + f": {e['msg']}"
            for e in errs[:3]
        )
        raise ProfileDataError(f"{path}: not a valid FHIR StructureDefinition: {shown}") from None
    except (TypeError, ValueError) as exc:
        raise ProfileDataError(f"{path}: not a valid FHIR StructureDefinition: {exc}") from None


def _compile(path: Path, data: dict) -> StructureDef:
    for key in ("url", "type", "fhirVersion", "kind"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProfileDataError(f"{path}: StructureDefinition.{key} is required here")
    if data.get("derivation") != "constraint":
        raise ProfileDataError(f"{path}: only constraint profiles (derivation 'constraint') are read")
    elements = (data.get("differential") or {}).get("element")
    if not isinstance(elements, list) or not elements:
        raise ProfileDataError(f"{path}: StructureDefinition.differential.element is empty")
    rtype = data["type"]
    root = _Node(rtype, None, rtype)
    for i, element in enumerate(elements):
        where = f"{path}: differential.element[{i}]"
        eid = element.get("id") or element.get("path")
        if not isinstance(eid, str) or not eid:
            raise ProfileDataError(f"{where} has neither id nor path")
        segs = eid.split(".")
        if segs[0] != rtype:
            raise ProfileDataError(f"{where} ({eid}) does not start with the profiled type {rtype}")
        if element.get("path") != ".".join(s.split(":", 1)[0] for s in segs):
            raise ProfileDataError(f"{where}: path {element.get('path')!r} does not match id {eid!r}")
        node = root
        for k, seg in enumerate(segs[1:], start=2):
            child = node.children.get(seg)
            if child is None:
                name, _, sl = seg.partition(":")
                child = _Node(name, sl or None, ".".join(segs[:k]))
                node.children[seg] = child
            node = child
        if node.element is not None:
            raise ProfileDataError(f"{where}: element {eid!r} is defined twice")
        node.element = element
        bind = element.get("binding")
        if isinstance(bind, dict) and bind.get("strength") == "required" and not bind.get("valueSet"):
            raise ProfileDataError(f"{where}: a required binding needs a valueSet")
    _compile_slices(path, root)
    sd = StructureDef(
        url=data["url"],
        id=str(data.get("id") or ""),
        version=data.get("version"),
        fhir_version=data["fhirVersion"],
        type=rtype,
        kind=data["kind"],
        path=path,
        root=root,
    )
    return sd


def _compile_slices(path: Path, node: _Node) -> None:
    for name, base, slices in node.groups():
        if slices:
            slicing = (base.element or {}).get("slicing") if base else None
            if slicing:
                discs = [(d.get("type"), d.get("path")) for d in slicing.get("discriminator") or []]
            elif name in ("extension", "modifierExtension"):
                discs = [("value", "url")]  # the core definition of Element.extension
            else:
                raise ProfileDataError(
                    f"{path}: {slices[0].eid} is a slice but {node.eid}.{name} has no slicing"
                )
            if not discs:
                raise ProfileDataError(f"{path}: slicing of {node.eid}.{name} has no discriminator")
            for dtype, dpath in discs:
                if dtype not in _DISCRIMINATORS or not isinstance(dpath, str):
                    raise ProfileDataError(
                        f"{path}: slicing of {node.eid}.{name}: discriminator {dtype!r} on {dpath!r} is not "
                        f"supported (only {' / '.join(_DISCRIMINATORS)} on a path)"
                    )
            for sl in slices:
                expected = []
                for _, dpath in discs:
                    value = _slice_value(sl, dpath)
                    if value is None:
                        raise ProfileDataError(
                            f"{path}: slice {sl.eid} fixes no value for discriminator path {dpath!r}"
                        )
                    expected.append((dpath, value))
                sl.slicing = _Slice(expected, "; ".join(f"{p} {_describe_value(v)}" for p, v in expected))
        for child in node.children.values():
            _compile_slices(path, child)


def _slice_value(sl: _Node, dpath: str) -> Any:
    """The value slice ``sl`` fixes at discriminator path ``dpath`` (child element, own pattern, type profile)."""
    if dpath == "$this":
        return _fixed_or_pattern(sl.element)
    node: _Node | None = sl
    for seg in dpath.split("."):
        node = node.children.get(seg) if node else None
    value = _fixed_or_pattern(node.element if node else None)
    if value is not None:
        return value
    own = _fixed_or_pattern(sl.element)
    if isinstance(own, dict):
        found = _dig(own, dpath)
        if found:
            return found[0]
    if dpath == "url":
        for t in (sl.element or {}).get("type") or []:
            for prof in t.get("profile") or []:
                return _strip_version(prof)
    return None


# ---------------------------------------------------------------------------------- registry
class ProfileRegistry:
    """StructureDefinitions by url (resource profiles per FHIR major version, extensions for all)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._profiles: dict[str, dict[str, StructureDef]] = {}  # url -> major -> SD
        self._extensions: dict[str, StructureDef] = {}
        self.valuesets: ValueSets | None = None  # the profiles' own ValueSets
        self._whole: dict[str, frozenset[str] | None] = {}
        self._local_systems: CodeSystems | None = None

    @classmethod
    def load_dir(
        cls, folder: Path, *, codesystems: CodeSystems | None = None, check_models: bool = True
    ) -> ProfileRegistry:
        """Every StructureDefinition under ``folder`` (not ``examples/``); ValueSets from ``valuesets/``.

        Each file is also validated with fhir.resources unless ``check_models=False`` (the shipped
        profiles, which the tests validate: building those models is most of a cold start)."""
        self = cls(Path(folder))
        folder = Path(folder)
        if not folder.is_dir():
            raise ProfileDataError(f"{folder}: no such folder")
        self._local_systems = codesystems if codesystems is not None else CodeSystems.builtin()
        for path in sorted(folder.rglob("*.json")):
            rel = path.relative_to(folder).parts
            if rel[0] in ("examples", "valuesets"):
                continue
            data = _load_json(path)
            if data.get("resourceType") != "StructureDefinition":
                raise ProfileDataError(
                    f"{path}: resourceType is {data.get('resourceType')!r}; profiles/ holds StructureDefinitions "
                    "(ValueSets go in profiles/valuesets/, instances in profiles/examples/)"
                )
            sd = _compile(path, data)
            if check_models:
                _model_check(path, data, sd.major)
            self.add(sd)
        vs_dir = folder / "valuesets"
        if vs_dir.is_dir():
            try:
                self.valuesets = ValueSets.load_dir(
                    vs_dir, codesystems=self._local_systems, check_models=check_models
                )
            except TerminologyDataError as exc:
                raise ProfileDataError(str(exc)) from None
        return self

    @classmethod
    def builtin(cls) -> ProfileRegistry:
        return _builtin(str(data_dir("profiles")))

    def add(self, sd: StructureDef) -> None:
        if sd.type == "Extension":
            other = self._extensions.get(sd.url)
            if other is not None:
                raise ProfileDataError(f"{sd.path}: extension {sd.url} is also defined by {other.path}")
            self._extensions[sd.url] = sd
            return
        by_version = self._profiles.setdefault(sd.url, {})
        if sd.major in by_version:
            raise ProfileDataError(
                f"{sd.path}: profile {sd.url} for FHIR {sd.major} is also defined by {by_version[sd.major].path}"
            )
        by_version[sd.major] = sd

    # -- look-ups -----------------------------------------------------------------------------
    def profile(self, url: str, fhir_version: str) -> StructureDef | None:
        """The resource profile (or extension definition) for ``url`` and the input's FHIR version."""
        url = _strip_version(url)
        if url in self._extensions:
            return self._extensions[url]
        return self._profiles.get(url, {}).get(_major(fhir_version))

    def extension(self, url: str) -> StructureDef | None:
        return self._extensions.get(_strip_version(url))

    def profiles(self) -> list[StructureDef]:
        return [sd for by_v in self._profiles.values() for sd in by_v.values()]

    def extensions(self) -> list[StructureDef]:
        return list(self._extensions.values())

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and (
            _strip_version(url) in self._profiles or _strip_version(url) in self._extensions
        )

    # -- what a resource claims -----------------------------------------------------------------
    def claims(self, resource: dict, base: str, fhir_version: str) -> list[ProfileClaim]:
        meta = resource.get("meta") if isinstance(resource, dict) else None
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        out: list[ProfileClaim] = []
        seen: set[str] = set()
        for k, raw in enumerate(profiles if isinstance(profiles, list) else []):
            if not isinstance(raw, str) or not raw.strip():
                continue
            url = _strip_version(raw.strip())
            if url in seen:
                continue
            seen.add(url)
            expr = f"{base}.meta.profile[{k}]"
            if self.profile(url, fhir_version) is not None:
                out.append(ProfileClaim(url, expr, "known"))
            elif url in self._profiles:
                versions = tuple(sorted(sd.fhir_version for sd in self._profiles[url].values()))
                out.append(ProfileClaim(url, expr, "other-version", versions))
            elif url.startswith(PROFILE_BASE):
                out.append(ProfileClaim(url, expr, "unknown"))
            else:
                out.append(ProfileClaim(url, expr, "foreign"))
        return out

    # -- conformance ----------------------------------------------------------------------------
    def check(
        self, resource: dict, base: str, fhir_version: str, tx: Terminology | None = None
    ) -> list[Violation]:
        """Violations of every profile of ours that ``resource.meta.profile`` names (and we hold)."""
        if not isinstance(resource, dict):
            return []
        out: list[Violation] = []
        for claim in self.claims(resource, base, fhir_version):
            if claim.status != "known":
                continue
            sd = self.profile(claim.url, fhir_version)
            assert sd is not None
            out.extend(_Checker(self, sd, tx).run(resource, base, claim.expression))
        return out

    # -- bindings ---------------------------------------------------------------------------------
    def member(self, tx_valuesets: ValueSets | None, vs: str, system: str | None, code: str) -> bool | None:
        """Is (system, code) in ValueSet ``vs``? None when the ValueSet is not loaded anywhere."""
        for registry in (tx_valuesets, self.valuesets):
            if registry is None or vs not in registry:
                continue
            systems = self._whole_systems(registry, vs)
            if systems is not None:
                return system in systems
            return registry.contains(vs, system, code)
        return None

    def valueset_title(self, tx_valuesets: ValueSets | None, vs: str) -> str | None:
        for registry in (tx_valuesets, self.valuesets):
            if registry is not None and vs in registry:
                data = registry.get(vs)
                return data.get("title") or data.get("name")
        return None

    def _whole_systems(self, registry: ValueSets, vs: str) -> frozenset[str] | None:
        """The systems of a ValueSet made only of whole external code systems, else None."""
        key = f"{id(registry)}|{vs}"
        if key not in self._whole:
            data = registry.get(vs)
            compose = data.get("compose") or {}
            includes = compose.get("include") or []
            whole = (
                bool(includes)
                and not compose.get("exclude")
                and all(
                    inc.get("system")
                    and not inc.get("concept")
                    and not inc.get("filter")
                    and not inc.get("valueSet")
                    and not (self._local_systems is not None and inc["system"] in self._local_systems)
                    for inc in includes
                )
            )
            self._whole[key] = frozenset(inc["system"] for inc in includes) if whole else None
        return self._whole[key]


@cache
def _builtin(folder: str) -> ProfileRegistry:
    return ProfileRegistry.load_dir(Path(folder), check_models=False)


# ---------------------------------------------------------------------------------- checking
_CODE_TYPES = {"code", "string", "uri"}
_PRIMITIVES = {
    t.lower()
    for t in [
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "integer64",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
    ]
}


def _type_name(key: str, name: str, element: dict, value: Any) -> str:
    """The FHIR type of one value, lower-cased: from the choice suffix, the element's type, or its shape."""
    if name.endswith("[x]"):
        return key[len(name) - 3 :].lower()
    types = element.get("type") or []
    if len(types) == 1 and isinstance(types[0], dict) and types[0].get("code"):
        return str(types[0]["code"]).lower()
    if isinstance(value, str):
        return "code"
    if isinstance(value, dict):
        if "coding" in value or ("text" in value and len(value) == 1):
            return "codeableconcept"
        if "concept" in value or "reference" in value:
            return "codeablereference"
        if "system" in value or "code" in value:
            return "coding"
    return ""


class _Checker:
    def __init__(self, reg: ProfileRegistry, sd: StructureDef, tx: Terminology | None) -> None:
        self.reg = reg
        self.sd = sd
        if tx is None:
            from fhirplugin.tx.store import default_terminology

            tx = default_terminology()
        self.tx_vs = tx.valuesets
        self.out: list[Violation] = []

    def run(self, resource: dict, base: str, claim_expr: str) -> list[Violation]:
        rtype = resource.get("resourceType")
        if rtype != self.sd.type:
            what = "extension definitions" if self.sd.type == "Extension" else f"{self.sd.type} resources"
            self._add(
                self.sd,
                self.sd.type,
                "resource-type",
                claim_expr,
                f"{base} is a {rtype} but names profile {self.sd.label}, which is for {what}; "
                "remove the profile or send the right resource.",
                "invalid",
            )
            return self.out
        self._walk(self.sd, self.sd.root, [(resource, base)])
        return self.out

    # -- helpers -------------------------------------------------------------------------------
    def _where(self, sd: StructureDef) -> str:
        if sd is self.sd:
            return f"profile {self.sd.label}"
        return f"extension {sd.label} (used by profile {self.sd.label})"

    def _add(self, sd: StructureDef, eid: str, constraint: str, expr: str, text: str, itype: str) -> None:
        self.out.append(Violation(self.sd.url, sd.url, eid, constraint, expr, text, itype))

    @staticmethod
    def _values(parent: dict, name: str, ppath: str) -> list[tuple[Any, str, str]]:
        """(value, path, key) of element ``name`` in ``parent``; lists give one entry per item."""
        if name.endswith("[x]"):
            prefix = name[:-3]
            keys = [k for k in parent if k.startswith(prefix) and k[len(prefix) : len(prefix) + 1].isupper()]
        else:
            keys = [name] if name in parent else []
            if not keys and f"_{name}" in parent:  # a primitive with only an id/extension
                return [(None, f"{ppath}.{name}", name)]
        out = []
        for key in keys:
            value = parent[key]
            if isinstance(value, list):
                out.extend((v, f"{ppath}.{key}[{i}]", key) for i, v in enumerate(value))
            elif value is not None:
                out.append((value, f"{ppath}.{key}", key))
        return out

    # -- the walk ------------------------------------------------------------------------------
    def _walk(self, sd: StructureDef, node: _Node, instances: list[tuple[Any, str]]) -> None:
        for name, base, slices in node.groups():
            for parent, ppath in instances:
                if not isinstance(parent, dict):
                    continue
                values = self._values(parent, name, ppath)
                label = name.removesuffix("[x]")
                if base is not None:
                    self._element(sd, base, values, f"{ppath}.{label}", None)
                    self._walk(sd, base, [(v, p) for v, p, _ in values])
                if slices:
                    self._slices(sd, base, slices, values, f"{ppath}.{label}")

    def _slices(
        self,
        sd: StructureDef,
        base: _Node | None,
        slices: list[_Node],
        values: list[tuple[Any, str, str]],
        epath: str,
    ) -> None:
        assigned: dict[str, list[tuple[Any, str, str]]] = {sl.eid: [] for sl in slices}
        for v in values:
            for sl in slices:
                assert sl.slicing is not None
                if all(
                    any(_contains(exp, got) for got in _dig(v[0], p)) for p, exp in sl.slicing.discriminators
                ):
                    assigned[sl.eid].append(v)
                    break
            else:
                rules = ((base.element or {}).get("slicing") or {}).get("rules") if base else None
                if rules == "closed":
                    self._add(
                        sd,
                        base.eid if base else epath,
                        "slicing",
                        v[1],
                        f"{v[1]} fits none of the slices {', '.join(s.slice or '' for s in slices)} that "
                        f"{self._where(sd)} allows for {base.eid if base else epath} (closed slicing).",
                        "structure",
                    )
        for sl in slices:
            matched = assigned[sl.eid]
            self._element(sd, sl, matched, epath, sl.slicing.described if sl.slicing else None)
            self._walk(sd, sl, [(v, p) for v, p, _ in matched])
            for t in (sl.element or {}).get("type") or []:
                for prof in t.get("profile") or []:
                    ext = self.reg.extension(prof)
                    if ext is not None and t.get("code") == "Extension":
                        self._walk(ext, ext.root, [(v, p) for v, p, _ in matched])

    def _element(
        self,
        sd: StructureDef,
        node: _Node,
        values: list[tuple[Any, str, str]],
        epath: str,
        slice_desc: str | None,
    ) -> None:
        el = node.element
        if not el:
            return
        where = self._where(sd)
        count = len(values)
        mn = el.get("min")
        if isinstance(mn, int) and count < mn:
            if slice_desc:
                text = (
                    f"{epath} has {_times(count)} with {slice_desc}, but {where} requires at least {mn} "
                    f"(element {node.eid}, min {mn})."
                )
            elif count == 0:
                text = f"{epath} is missing, but {where} requires it (element {node.eid}, min {mn})."
            else:
                text = (
                    f"{epath} has {_times(count)}, but {where} requires at least {mn} "
                    f"(element {node.eid}, min {mn})."
                )
            self._add(sd, node.eid, "min", epath, text, "required")
        mx = el.get("max")
        if isinstance(mx, str) and mx.isdigit() and count > int(mx):
            first = values[int(mx)][1]
            with_ = f" with {slice_desc}" if slice_desc else ""
            if mx == "0":
                text = (
                    f"{first} is present, but {where} does not allow {node.name}{with_} "
                    f"(element {node.eid}, max 0)."
                )
            else:
                text = (
                    f"{epath} has {_times(count)}{with_}, but {where} allows at most {mx}; {first} is one too "
                    f"many (element {node.eid}, max {mx})."
                )
            self._add(sd, node.eid, "max", first, text, "structure")
        for value, vpath, key in values:
            self._value(sd, node, value, vpath, key)

    def _value(self, sd: StructureDef, node: _Node, value: Any, vpath: str, key: str) -> None:
        el = node.element or {}
        where = self._where(sd)
        if node.name.endswith("[x]") and el.get("type"):
            suffix = key[len(node.name) - 3 :]
            allowed = [str(t.get("code", "")) for t in el["type"] if isinstance(t, dict)]
            if suffix.lower() not in {a.lower() for a in allowed}:
                shown = suffix[:1].lower() + suffix[1:] if suffix.lower() in _PRIMITIVES else suffix
                self._add(
                    sd,
                    node.eid,
                    "type",
                    vpath,
                    f"{vpath} is of type {shown}, but {where} allows only {' or '.join(allowed)} for {node.name} "
                    f"(element {node.eid}, type).",
                    "structure",
                )
                return
        fixed = _typed(el, "fixed")
        if fixed is not None and value != fixed[1]:
            self._add(
                sd,
                node.eid,
                "fixed",
                vpath,
                f"{vpath} must be exactly {_describe_value(fixed[1])} in {where} (element {node.eid}, "
                f"fixed{fixed[0]}).",
                "value",
            )
        pattern = _typed(el, "pattern")
        if pattern is not None and not _contains(pattern[1], value):
            self._add(
                sd,
                node.eid,
                "pattern",
                vpath,
                f"{vpath} does not match {_describe_value(pattern[1])}, which {where} requires "
                f"(element {node.eid}, pattern{pattern[0]}).",
                "value",
            )
        self._limits(sd, node, value, vpath)
        binding = el.get("binding")
        if isinstance(binding, dict) and binding.get("strength") == "required" and binding.get("valueSet"):
            self._binding(sd, node, binding["valueSet"], value, vpath, key)

    def _limits(self, sd: StructureDef, node: _Node, value: Any, vpath: str) -> None:
        el = node.element or {}
        number = value.get("value") if isinstance(value, dict) else value
        if not isinstance(number, int | float) or isinstance(number, bool):
            return
        for bound, word in (("minValue", "below the minimum"), ("maxValue", "above the maximum")):
            hit = _typed(el, bound)
            if hit is None:
                continue
            limit = hit[1].get("value") if isinstance(hit[1], dict) else hit[1]
            if hit[0] not in (*_NUMERIC_LIMITS, "Quantity") or not isinstance(limit, int | float):
                continue
            if (bound == "minValue" and number < limit) or (bound == "maxValue" and number > limit):
                self._add(
                    sd,
                    node.eid,
                    bound,
                    vpath,
                    f"{vpath} is {number}, {word} {limit} that {self._where(sd)} sets "
                    f"(element {node.eid}, {bound}).",
                    "value",
                )

    def _binding(self, sd: StructureDef, node: _Node, vs: str, value: Any, vpath: str, key: str) -> None:
        tname = _type_name(key, node.name, node.element or {}, value)
        if tname == "codeablereference":
            if not isinstance(value, dict) or "concept" not in value:
                return  # a reference only: nothing coded to check
            value, vpath, tname = value["concept"], f"{vpath}.concept", "codeableconcept"
        pairs: list[tuple[str | None, str]] = []
        if tname == "codeableconcept":
            codings = value.get("coding") if isinstance(value, dict) else None
            for c in codings if isinstance(codings, list) else []:
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    pairs.append((c.get("system") if isinstance(c.get("system"), str) else None, c["code"]))
        elif tname == "coding":
            if isinstance(value, dict) and isinstance(value.get("code"), str):
                pairs.append(
                    (value.get("system") if isinstance(value.get("system"), str) else None, value["code"])
                )
        elif tname in _CODE_TYPES:
            if not isinstance(value, str):
                return
            found = self.reg.member(self.tx_vs, vs, None, value)
            if found is False:
                self._binding_violation(sd, node, vs, vpath, f"{value!r}")
            return
        else:
            return  # Quantity units etc.: not checked
        results = [self.reg.member(self.tx_vs, vs, s, c) for s, c in pairs]
        if any(r is None for r in results) or any(results):
            return  # ValueSet not loaded: not checked; or a member found
        shown = ", ".join(f"{c} ({s or 'no system'})" for s, c in pairs) or "no coding"
        self._binding_violation(sd, node, vs, vpath, shown)

    def _binding_violation(self, sd: StructureDef, node: _Node, vs: str, vpath: str, shown: str) -> None:
        title = self.reg.valueset_title(self.tx_vs, vs)
        named = f"{vs.rsplit('/', 1)[-1]}" + (f" ({title})" if title else "")
        self._add(
            sd,
            node.eid,
            "binding",
            vpath,
            f"{vpath} has no code from ValueSet {named}, which {self._where(sd)} requires; found: {shown} "
            f"(element {node.eid}, required binding).",
            "code-invalid",
        )


# ---------------------------------------------------------------------------------- module API
def profile_claims(resource: dict, base: str, fhir_version: str) -> list[ProfileClaim]:
    """What ``resource.meta.profile`` names, against the built-in profiles."""
    return ProfileRegistry.builtin().claims(resource, base, fhir_version)


def check_resource(
    resource: dict, base: str, fhir_version: str, tx: Terminology | None = None
) -> list[Violation]:
    """Violations of the built-in profiles that ``resource`` claims in ``meta.profile``.

    ``base`` is the FHIRPath of the resource in the input (``Claim``, ``Bundle.entry[2].resource``);
    ``fhir_version`` R4 / R4B / R5; ``tx`` the terminology (ValueSets for bindings; default: built-in).
    """
    return ProfileRegistry.builtin().check(resource, base, fhir_version, tx)
