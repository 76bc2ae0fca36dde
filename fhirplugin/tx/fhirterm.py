"""FHIR ValueSets and ConceptMaps kept as JSON files, evaluated locally (no terminology server).

Files live under ``data_dir("terminology")``: ``valuesets/*.json``, ``conceptmaps/*.json`` and, for
code systems of our own whose hierarchy a filter may use, ``codesystems/*.json``. A folder given to
``load_dir`` is checked file by file against the fhir.resources R4B model (R5 is accepted too, e.g.
ConceptMaps written with ``relationship``), so a broken file fails at load time with a message naming
it. The files shipped with fhirplugin (``builtin()``) skip that check: the test suite validates every
one of them with fhir.resources, and building those models took most of the start-up time.

ValueSet support: ``compose.include``/``compose.exclude`` with ``concept`` lists, ``filter`` (on
``concept`` or ``code``: ``is-a``, ``descendent-of``, ``is-not-a``, ``generalizes``, ``=``, ``in``,
``not-in``, ``regex``) and ``valueSet`` (every listed ValueSet must contain the code); a ValueSet with
only an ``expansion`` is read from ``expansion.contains``. Hierarchical filters use the ICD-10-CM
tree for ICD-10-CM and the concept nesting of a CodeSystem under ``codesystems/``; for other systems
``is-a`` compares codes exactly and ``descendent-of`` is refused at load time. ``include.version`` is
not checked.

ConceptMap support: R4 ``equivalence`` and R5 ``relationship`` (each answer carries both), R4
``dependsOn.property``/``value``, R5 ``dependsOn.attribute``/``value[x]`` and STU3 ``element``;
``group.unmapped`` modes ``provided``, ``fixed`` and ``other-map``. Targets that say there is no
match (``unmatched``, ``disjoint``, ``not-related-to``) are not returned.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fhirplugin.fhir.case import CPT, HCPCS, ICD10CM
from fhirplugin.resources import data_dir
from fhirplugin.systems import canonical
from fhirplugin.tx import icd
from fhirplugin.tx.cpt import looks_like_cpt, looks_like_hcpcs

__all__ = [
    "CodeSystems",
    "ConceptMaps",
    "TerminologyDataError",
    "Translation",
    "ValueSets",
]

# R4 ConceptMapEquivalence → R5 ConceptMapRelationship, and back
_EQUIVALENCE_TO_RELATIONSHIP = {
    "relatedto": "related-to",
    "equivalent": "equivalent",
    "equal": "equivalent",
    "wider": "source-is-narrower-than-target",
    "subsumes": "source-is-narrower-than-target",
    "narrower": "source-is-broader-than-target",
    "specializes": "source-is-broader-than-target",
    "inexact": "related-to",
    "unmatched": "not-related-to",
    "disjoint": "not-related-to",
}
_RELATIONSHIP_TO_EQUIVALENCE = {
    "related-to": "relatedto",
    "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider",
    "source-is-broader-than-target": "narrower",
    "not-related-to": "disjoint",
}
_NO_MATCH = {"not-related-to"}
_HIERARCHY_OPS = {"is-a", "descendent-of", "is-not-a", "generalizes"}
_FILTER_OPS = _HIERARCHY_OPS | {"=", "in", "not-in", "regex"}
_CACHE = 65_536


class TerminologyDataError(ValueError):
    """A terminology file is broken or refers to something that does not exist; names the file."""


# -- code normalisation per system ---------------------------------------------------------------


def _norm(system: str | None, code: str) -> str:
    if system == ICD10CM:
        return icd.normalize(code)
    if system in (CPT, HCPCS):
        return code.strip().upper()
    return code.strip()


def _strip_version(canonical: str | None) -> str | None:
    return canonical.split("|", 1)[0] if canonical else canonical


# -- loading and checking files -------------------------------------------------------------------


def _models(kind: str) -> tuple[type, type]:
    if kind == "ValueSet":
        from fhir.resources.R4B.valueset import ValueSet as R4B
        from fhir.resources.valueset import ValueSet as R5
    elif kind == "ConceptMap":
        from fhir.resources.conceptmap import ConceptMap as R5
        from fhir.resources.R4B.conceptmap import ConceptMap as R4B
    else:
        from fhir.resources.codesystem import CodeSystem as R5
        from fhir.resources.R4B.codesystem import CodeSystem as R4B
    return R4B, R5


def _fhirpath(kind: str, loc: Iterable[Any]) -> str:
    out = kind
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe(kind: str, exc) -> str:
    errors = exc.errors()
    shown = "; ".join(f"{_fhirpath(kind, e['loc'])}: {e['msg']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return shown + more


def _model_problem(kind: str, model: type, data: dict[str, Any]) -> str | None:
    """None when ``data`` passes ``model``, else a short description of what is wrong."""
    from pydantic import ValidationError

    try:
        model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        return _describe(kind, exc)
    except (TypeError, ValueError) as exc:  # fhir.resources raises plain ValueErrors for some checks
        return str(exc)
    return None


def _read_resource(path: Path, kind: str, check_models: bool = True) -> dict[str, Any]:
    """Parse one JSON file and check it is a valid ``kind`` (R4B, else R5; the model check is left out
    with ``check_models=False``, for the shipped files the tests validate)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TerminologyDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise TerminologyDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TerminologyDataError(
            f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise TerminologyDataError(f"{path}: expected a JSON object holding a {kind}")
    if data.get("resourceType") != kind:
        raise TerminologyDataError(f"{path}: resourceType is {data.get('resourceType')!r}, expected {kind!r}")
    if check_models:
        r4b, r5 = _models(kind)
        problem = _model_problem(kind, r4b, data)
        if problem is not None and _model_problem(kind, r5, data) is not None:
            raise TerminologyDataError(f"{path}: not a valid FHIR {kind}: {problem}")
    if not isinstance(data.get("url"), str) or not data["url"]:
        raise TerminologyDataError(f"{path}: {kind}.url is required (resources are looked up by url)")
    return data


def _json_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise TerminologyDataError(f"{folder}: no such folder")
    return sorted(p for p in folder.rglob("*.json") if p.is_file())


class _Registry:
    """Resources of one kind keyed by url, url|version, id, ``Kind/id`` and name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.by_key: dict[str, str] = {}  # key -> url
        self.files: dict[str, Path] = {}  # url -> file
        self.raw: dict[str, dict[str, Any]] = {}  # url -> JSON

    def add(self, path: Path, data: dict[str, Any]) -> None:
        url = data["url"]
        if url in self.files:
            raise TerminologyDataError(f"{path}: {self.kind} url {url!r} is also used by {self.files[url]}")
        keys = {url}
        if data.get("version"):
            keys.add(f"{url}|{data['version']}")
        if data.get("id"):
            keys |= {data["id"], f"{self.kind}/{data['id']}"}
        if data.get("name"):
            keys.add(data["name"])
        for key in keys:
            other = self.by_key.get(key)
            if other is not None and other != url:
                raise TerminologyDataError(
                    f"{path}: {self.kind} key {key!r} (id, name or url) is also used by {self.files[other]}"
                )
        for key in keys:
            self.by_key[key] = url
        self.files[url] = path
        self.raw[url] = data

    def resolve(self, ref: str) -> str | None:
        return self.by_key.get(ref) or self.by_key.get(_strip_version(ref) or "")

    def lookup(self, ref: str) -> str:
        url = self.resolve(ref) if isinstance(ref, str) else None
        if url is None:
            raise KeyError(f"no {self.kind} {ref!r} is loaded")
        return url


# -- CodeSystems (our own, for hierarchy) ---------------------------------------------------------


@dataclass(slots=True)
class _CodeSystem:
    url: str
    codes: frozenset[str]
    parents: dict[str, frozenset[str]]  # code -> all ancestors

    def is_a(self, code: str, ancestor: str) -> bool:
        return code == ancestor or ancestor in self.parents.get(code, frozenset())


class CodeSystems:
    """CodeSystems with a complete concept list (our own), used for membership and ``is-a``."""

    def __init__(self) -> None:
        self._reg = _Registry("CodeSystem")
        self._systems: dict[str, _CodeSystem] = {}

    @classmethod
    def load_dir(cls, folder: Path, *, check_models: bool = True) -> CodeSystems:
        self = cls()
        for path in _json_files(folder):
            data = _read_resource(path, "CodeSystem", check_models)
            self._reg.add(path, data)
            self._systems[data["url"]] = self._compile(path, data)
        return self

    @classmethod
    def builtin(cls) -> CodeSystems:
        """The CodeSystems under ``terminology/codesystems`` (validated by the tests, not here)."""
        return cls.load_dir(data_dir("terminology") / "codesystems", check_models=False)

    @staticmethod
    def _compile(path: Path, data: dict[str, Any]) -> _CodeSystem:
        parents: dict[str, frozenset[str]] = {}

        def walk(concepts: list[dict[str, Any]], above: frozenset[str]) -> None:
            for concept in concepts:
                code = concept["code"]
                if code in parents:
                    raise TerminologyDataError(f"{path}: CodeSystem concept {code!r} is defined twice")
                parents[code] = above
                walk(concept.get("concept", []), above | {code})

        walk(data.get("concept", []), frozenset())
        return _CodeSystem(url=data["url"], codes=frozenset(parents), parents=parents)

    def get(self, cs: str) -> dict[str, Any]:
        return copy.deepcopy(self._reg.raw[self._reg.lookup(cs)])

    def codes(self, cs: str) -> frozenset[str]:
        return self._systems[self._reg.lookup(cs)].codes

    def _by_url(self, url: str | None) -> _CodeSystem | None:
        return self._systems.get(url) if url else None

    def __contains__(self, cs: object) -> bool:
        return isinstance(cs, str) and self._reg.resolve(cs) is not None

    def __len__(self) -> int:
        return len(self._systems)


# -- ValueSets ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Clause:
    system: str | None
    concepts: frozenset[str] | None = None
    filters: list[Callable[[str], bool]] = field(default_factory=list)
    value_sets: list[str] = field(default_factory=list)  # urls, resolved after loading
    refs: list[str] = field(default_factory=list)  # as written, for messages

    @property
    def whole_system(self) -> bool:
        return self.system is not None and self.concepts is None and not self.filters


@dataclass(slots=True)
class _CompiledValueSet:
    url: str
    path: Path
    include: list[_Clause]
    exclude: list[_Clause]


class ValueSets:
    """ValueSets by url (also ``url|version``, id, ``ValueSet/id`` and name)."""

    def __init__(self, codesystems: CodeSystems | None = None) -> None:
        self._reg = _Registry("ValueSet")
        self._compiled: dict[str, _CompiledValueSet] = {}
        self._cs = codesystems or CodeSystems()
        self._contains = lru_cache(maxsize=_CACHE)(self._contains_uncached)

    @classmethod
    def load_dir(
        cls, folder: Path, *, codesystems: CodeSystems | None = None, check_models: bool = True
    ) -> ValueSets:
        """Load every ``*.json`` under ``folder`` (subfolders too); ``codesystems`` gives hierarchies."""
        self = cls(codesystems)
        for path in _json_files(folder):
            data = _read_resource(path, "ValueSet", check_models)
            self._reg.add(path, data)
            self._compiled[data["url"]] = self._compile(path, data)
        self._link()
        return self

    @classmethod
    def builtin(cls) -> ValueSets:
        """The ValueSets under ``terminology/valuesets``, with the CodeSystems of ``terminology/codesystems``."""
        root = data_dir("terminology")
        return cls.load_dir(root / "valuesets", codesystems=CodeSystems.builtin(), check_models=False)

    # -- public ---------------------------------------------------------------------------------
    def get(self, vs: str) -> dict[str, Any]:
        """The ValueSet JSON (a copy). KeyError when unknown."""
        return copy.deepcopy(self._reg.raw[self._reg.lookup(vs)])

    def contains(self, vs: str, system: str | None, code: str) -> bool:
        """True when the ValueSet holds ``code``; ``system=None`` matches the code in any system.

        KeyError when no ValueSet ``vs`` is loaded.
        """
        url = self._reg.lookup(vs)
        if not isinstance(code, str) or not code.strip():
            return False
        return self._contains(url, canonical(system), code)

    def expand(self, vs: str) -> list[tuple[str, str]]:
        """The ``(system, code)`` pairs of a ValueSet made only of concept lists (and ValueSets of them).

        TerminologyDataError when it uses filters or whole code systems (not enumerable here).
        """
        compiled = self._compiled[self._reg.lookup(vs)]
        candidates: list[tuple[str, str]] = []
        for clause in compiled.include:
            if clause.system is None:
                candidates.extend(self.expand(clause.value_sets[0]))
            elif clause.concepts is None or clause.filters:
                raise TerminologyDataError(
                    f"{compiled.path}: ValueSet {compiled.url} uses a filter or a whole code system; "
                    "it cannot be expanded locally"
                )
            else:
                candidates.extend((clause.system, code) for code in sorted(clause.concepts))
        return [pair for pair in dict.fromkeys(candidates) if self._contains(compiled.url, *pair)]

    def __contains__(self, vs: object) -> bool:
        return isinstance(vs, str) and self._reg.resolve(vs) is not None

    def __len__(self) -> int:
        return len(self._compiled)

    def __iter__(self) -> Iterator[str]:
        return iter(self._compiled)

    # -- compile ----------------------------------------------------------------------------------
    def _compile(self, path: Path, data: dict[str, Any]) -> _CompiledValueSet:
        compose = data.get("compose")
        if compose:
            include = [
                self._clause(path, f"compose.include[{i}]", inc)
                for i, inc in enumerate(compose.get("include", []))
            ]
            exclude = [
                self._clause(path, f"compose.exclude[{i}]", exc)
                for i, exc in enumerate(compose.get("exclude", []))
            ]
        elif data.get("expansion"):
            include = self._expansion(data["expansion"].get("contains", []))
            exclude = []
        else:
            raise TerminologyDataError(f"{path}: ValueSet {data['url']} has neither compose nor expansion")
        return _CompiledValueSet(url=data["url"], path=path, include=_merge_lists(include), exclude=exclude)

    def _expansion(self, contains: list[dict[str, Any]]) -> list[_Clause]:
        by_system: dict[str | None, set[str]] = {}

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item.get("code") and not item.get("abstract"):
                    system = item.get("system")
                    by_system.setdefault(system, set()).add(_norm(system, item["code"]))
                walk(item.get("contains", []))

        walk(contains)
        return [_Clause(system=s, concepts=frozenset(c)) for s, c in by_system.items()]

    def _clause(self, path: Path, where: str, inc: dict[str, Any]) -> _Clause:
        system = canonical(inc.get("system"))
        refs = list(inc.get("valueSet", []))
        if system is None and not refs:
            raise TerminologyDataError(f"{path}: ValueSet.{where} needs a system or a valueSet")
        if system is None and (inc.get("concept") or inc.get("filter")):
            raise TerminologyDataError(f"{path}: ValueSet.{where} lists concepts or filters without a system")
        clause = _Clause(system=system, refs=refs)
        local = self._cs._by_url(system)
        if "concept" in inc:
            codes = set()
            for j, concept in enumerate(inc["concept"]):
                code = _norm(system, concept["code"])
                self._check_code(path, f"{where}.concept[{j}]", system, code, local)
                codes.add(code)
            clause.concepts = frozenset(codes)
        for j, flt in enumerate(inc.get("filter", [])):
            clause.filters.append(self._filter(path, f"{where}.filter[{j}]", system, flt, local))
        return clause

    @staticmethod
    def _check_code(path: Path, where: str, system: str | None, code: str, local: _CodeSystem | None) -> None:
        problem = None
        if system == ICD10CM and not icd.is_valid(code):
            problem = f"{code!r} is not an ICD-10-CM code ({icd.code_set_version()})"
        elif system == CPT and not looks_like_cpt(code):
            problem = f"{code!r} is not shaped like a CPT code"
        elif system == HCPCS and not looks_like_hcpcs(code):
            problem = f"{code!r} is not shaped like a HCPCS Level II code"
        elif local is not None and code not in local.codes:
            problem = f"{code!r} is not defined in CodeSystem {local.url}"
        if problem:
            raise TerminologyDataError(f"{path}: ValueSet.{where}: {problem}")

    def _filter(
        self, path: Path, where: str, system: str, flt: dict[str, Any], local: _CodeSystem | None
    ) -> Callable[[str], bool]:
        prop, op, raw = flt.get("property"), flt.get("op"), flt.get("value")
        if prop not in ("concept", "code"):
            raise TerminologyDataError(
                f"{path}: ValueSet.{where}: filters on property {prop!r} are not supported (only concept/code)"
            )
        if op not in _FILTER_OPS:
            raise TerminologyDataError(
                f"{path}: ValueSet.{where}: filter op {op!r} is not supported ({', '.join(sorted(_FILTER_OPS))})"
            )
        if not isinstance(raw, str) or not raw.strip():
            raise TerminologyDataError(f"{path}: ValueSet.{where}: filter value is missing")
        if op == "regex":
            try:
                pattern = re.compile(raw)
            except re.error as exc:
                raise TerminologyDataError(f"{path}: ValueSet.{where}: bad regex {raw!r} ({exc})") from None
            return lambda c: pattern.fullmatch(c) is not None
        if op in ("in", "not-in"):
            values = frozenset(_norm(system, v) for v in raw.split(",") if v.strip())
            return (lambda c: c in values) if op == "in" else (lambda c: c not in values)
        value = _norm(system, raw)
        if op == "=":
            return lambda c: c == value
        # hierarchy
        if system == ICD10CM:
            if not icd.is_known(value) and not icd.looks_like_range(value):
                raise TerminologyDataError(
                    f"{path}: ValueSet.{where}: {raw!r} is not an ICD-10-CM code, block or chapter"
                )
            under = icd.is_descendant_or_self
        elif local is not None:
            if value not in local.codes:
                raise TerminologyDataError(f"{path}: ValueSet.{where}: {raw!r} is not defined in {local.url}")
            under = local.is_a
        elif op == "is-a":
            return lambda c: c == value
        elif op == "is-not-a":
            return lambda c: c != value
        else:
            raise TerminologyDataError(
                f"{path}: ValueSet.{where}: op {op!r} needs a hierarchy, which is known only for ICD-10-CM "
                f"and for CodeSystems under codesystems/ (not {system})"
            )
        if op == "is-a":
            return lambda c: under(c, value)
        if op == "descendent-of":
            return lambda c: c != value and under(c, value)
        if op == "is-not-a":
            return lambda c: not under(c, value)
        return lambda c: under(value, c)  # generalizes

    def _link(self) -> None:
        """Resolve ``valueSet`` references and refuse cycles."""
        for compiled in self._compiled.values():
            for clause in (*compiled.include, *compiled.exclude):
                clause.value_sets = []
                for ref in clause.refs:
                    url = self._reg.resolve(ref)
                    if url is None:
                        raise TerminologyDataError(
                            f"{compiled.path}: ValueSet {ref!r} is referenced but not loaded"
                        )
                    clause.value_sets.append(url)

        state: dict[str, int] = {}

        def visit(url: str, chain: list[str]) -> None:
            if state.get(url) == 2:
                return
            if state.get(url) == 1:
                loop = " -> ".join([*chain[chain.index(url) :], url])
                raise TerminologyDataError(f"{self._compiled[url].path}: ValueSet references loop: {loop}")
            state[url] = 1
            compiled = self._compiled[url]
            for clause in (*compiled.include, *compiled.exclude):
                for ref in clause.value_sets:
                    visit(ref, [*chain, url])
            state[url] = 2

        for url in self._compiled:
            visit(url, [])

    # -- evaluate ---------------------------------------------------------------------------------
    def _contains_uncached(self, url: str, system: str | None, code: str) -> bool:
        compiled = self._compiled[url]
        if not any(self._matches(cl, system, code) for cl in compiled.include):
            return False
        return not any(self._matches(cl, system, code) for cl in compiled.exclude)

    def _matches(self, clause: _Clause, system: str | None, code: str) -> bool:
        if clause.system is not None and system is not None and system != clause.system:
            return False
        sys = clause.system or system
        if clause.system is not None:
            c = _norm(clause.system, code)
            if clause.concepts is not None and c not in clause.concepts:
                return False
            if not all(f(c) for f in clause.filters):
                return False
            if clause.whole_system and not self._in_system(clause.system, c):
                return False
        return all(self._contains(ref, sys, code) for ref in clause.value_sets)

    def _in_system(self, system: str, code: str) -> bool:
        if system == ICD10CM:
            return icd.is_valid(code)
        if system == CPT:
            return looks_like_cpt(code)
        if system == HCPCS:
            return looks_like_hcpcs(code)
        local = self._cs._by_url(system)
        return code in local.codes if local is not None else bool(code)


def _merge_lists(clauses: list[_Clause]) -> list[_Clause]:
    """Fold plain concept lists of one system into one clause, so a look-up is one set test."""
    plain: dict[str, set[str]] = {}
    rest: list[_Clause] = []
    for cl in clauses:
        if cl.system is not None and cl.concepts is not None and not cl.filters and not cl.refs:
            plain.setdefault(cl.system, set()).update(cl.concepts)
        else:
            rest.append(cl)
    return [_Clause(system=s, concepts=frozenset(c)) for s, c in plain.items()] + rest


# -- ConceptMaps ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Translation:
    """One target of a ConceptMap look-up.

    ``relationship`` uses the R5 codes (``equivalent``, ``related-to``, ``source-is-narrower-than-target``,
    ``source-is-broader-than-target``), ``equivalence`` the R4 ones; both are filled whichever the file used.
    ``depends_on`` holds the target's conditions (property → value) that the caller's values met.
    """

    system: str | None
    code: str
    display: str | None
    relationship: str
    equivalence: str
    depends_on: dict[str, str] = field(default_factory=dict)
    comment: str | None = None
    concept_map: str = ""  # url of the ConceptMap that gave it


@dataclass(frozen=True, slots=True)
class _Condition:
    key: str
    system: str | None
    value: str


@dataclass(frozen=True, slots=True)
class _Target:
    code: str
    display: str | None
    relationship: str
    equivalence: str
    conditions: tuple[_Condition, ...]
    comment: str | None


@dataclass(slots=True)
class _Group:
    source: str | None
    target: str | None
    elements: dict[str, list[_Target]]
    unmapped: dict[str, Any] | None


class ConceptMaps:
    """ConceptMaps by url (also ``url|version``, id, ``ConceptMap/id`` and name)."""

    def __init__(self) -> None:
        self._reg = _Registry("ConceptMap")
        self._groups: dict[str, list[_Group]] = {}

    @classmethod
    def load_dir(cls, folder: Path, *, check_models: bool = True) -> ConceptMaps:
        """Load every ``*.json`` under ``folder`` (subfolders too)."""
        self = cls()
        for path in _json_files(folder):
            data = _read_resource(path, "ConceptMap", check_models)
            self._reg.add(path, data)
            self._groups[data["url"]] = self._compile(path, data)
        for url, groups in self._groups.items():
            for i, group in enumerate(groups):
                um = group.unmapped or {}
                other = um.get("url") or um.get("otherMap")
                if um.get("mode") == "other-map" and (not other or self._reg.resolve(other) is None):
                    raise TerminologyDataError(
                        f"{self._reg.files[url]}: ConceptMap.group[{i}].unmapped refers to ConceptMap "
                        f"{other!r}, which is not loaded"
                    )
        return self

    @classmethod
    def builtin(cls) -> ConceptMaps:
        """The ConceptMaps under ``terminology/conceptmaps`` (validated by the tests, not here)."""
        return cls.load_dir(data_dir("terminology") / "conceptmaps", check_models=False)

    def get(self, cm: str) -> dict[str, Any]:
        """The ConceptMap JSON (a copy). KeyError when unknown."""
        return copy.deepcopy(self._reg.raw[self._reg.lookup(cm)])

    def translate(
        self, cm: str, system: str | None, code: str, depends_on: dict[str, str] | None = None
    ) -> list[Translation]:
        """The targets for ``code`` (``system=None``: any source system), in file order.

        A target with ``dependsOn`` conditions is returned only when ``depends_on`` gives each of
        its properties the stated value. KeyError when no ConceptMap ``cm`` is loaded.
        """
        url = self._reg.lookup(cm)
        if not isinstance(code, str) or not code.strip():
            return []
        return self._translate(url, system, code, depends_on or {}, frozenset())

    def __contains__(self, cm: object) -> bool:
        return isinstance(cm, str) and self._reg.resolve(cm) is not None

    def __len__(self) -> int:
        return len(self._groups)

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    # -- internals ----------------------------------------------------------------------------------
    def _translate(
        self, url: str, system: str | None, code: str, given: dict[str, str], seen: frozenset[str]
    ) -> list[Translation]:
        out: list[Translation] = []
        for group in self._groups[url]:
            if system is not None and group.source is not None and group.source != system:
                continue
            source = group.source or system
            targets = group.elements.get(_norm(source, code))
            if targets is None:
                out.extend(self._unmapped(url, group, source, code, given, seen))
                continue
            for t in targets:
                if t.relationship in _NO_MATCH:
                    continue
                met = {}
                for cond in t.conditions:
                    value = given.get(cond.key)
                    if value is None or _norm(cond.system, value) != _norm(cond.system, cond.value):
                        break
                    met[cond.key] = cond.value
                else:
                    out.append(
                        Translation(
                            system=group.target,
                            code=t.code,
                            display=t.display,
                            relationship=t.relationship,
                            equivalence=t.equivalence,
                            depends_on=met,
                            comment=t.comment,
                            concept_map=url,
                        )
                    )
        return out

    def _unmapped(
        self,
        url: str,
        group: _Group,
        source: str | None,
        code: str,
        given: dict[str, str],
        seen: frozenset[str],
    ) -> list[Translation]:
        um = group.unmapped
        if not um:
            return []
        mode = um.get("mode")
        if mode == "other-map":
            other = self._reg.lookup(um.get("url") or um.get("otherMap"))
            if other in seen or other == url:
                return []
            return self._translate(other, source, code, given, seen | {url})
        provided = mode in ("provided", "use-source-code")  # R4 / R5 names
        relationship = um.get("relationship") or ("equivalent" if provided else "related-to")
        target_code = code.strip() if provided else um.get("code")
        if not target_code:
            return []
        return [
            Translation(
                system=group.target or source,
                code=target_code,
                display=um.get("display"),
                relationship=relationship,
                equivalence=_RELATIONSHIP_TO_EQUIVALENCE.get(relationship, "relatedto"),
                comment=f"unmapped: {mode}",
                concept_map=url,
            )
        ]

    @staticmethod
    def _compile(path: Path, data: dict[str, Any]) -> list[_Group]:
        groups = []
        for g, grp in enumerate(data.get("group", [])):
            source = _strip_version(grp.get("source"))
            target = _strip_version(grp.get("target"))
            elements: dict[str, list[_Target]] = {}
            for e, element in enumerate(grp.get("element", [])):
                where = f"ConceptMap.group[{g}].element[{e}]"
                if not element.get("code"):
                    raise TerminologyDataError(f"{path}: {where}.code is required here")
                key = _norm(source, element["code"])
                targets = elements.setdefault(key, [])
                for t, target_json in enumerate(element.get("target", [])):
                    targets.append(ConceptMaps._target(path, f"{where}.target[{t}]", target_json))
            groups.append(
                _Group(source=source, target=target, elements=elements, unmapped=grp.get("unmapped"))
            )
        return groups

    @staticmethod
    def _target(path: Path, where: str, tj: dict[str, Any]) -> _Target:
        if "relationship" in tj:
            relationship = tj["relationship"]
            equivalence = _RELATIONSHIP_TO_EQUIVALENCE.get(relationship, "relatedto")
        elif "equivalence" in tj:
            equivalence = tj["equivalence"]
            relationship = _EQUIVALENCE_TO_RELATIONSHIP.get(equivalence, "related-to")
        else:
            raise TerminologyDataError(f"{path}: {where} needs an equivalence (R4) or a relationship (R5)")
        if not tj.get("code") and relationship not in _NO_MATCH:
            raise TerminologyDataError(f"{path}: {where}.code is required unless the target says 'no match'")
        conditions = []
        for d, dep in enumerate(tj.get("dependsOn", [])):
            key = dep.get("property") or dep.get("attribute") or dep.get("element")
            value = _dep_value(dep)
            if not key or value is None:
                raise TerminologyDataError(
                    f"{path}: {where}.dependsOn[{d}] needs property (or attribute) and a value"
                )
            system = dep.get("system") or (dep.get("valueCoding") or {}).get("system")
            conditions.append(_Condition(key=key, system=system, value=value))
        return _Target(
            code=tj.get("code", ""),
            display=tj.get("display"),
            relationship=relationship,
            equivalence=equivalence,
            conditions=tuple(conditions),
            comment=tj.get("comment"),
        )


def _dep_value(dep: dict[str, Any]) -> str | None:
    for key in ("value", "valueCode", "valueString", "valueInteger", "valueDecimal"):
        if key in dep and dep[key] is not None:
            return str(dep[key])
    if "valueBoolean" in dep:
        return "true" if dep["valueBoolean"] else "false"
    if isinstance(dep.get("valueCoding"), dict):
        return dep["valueCoding"].get("code")
    return None
