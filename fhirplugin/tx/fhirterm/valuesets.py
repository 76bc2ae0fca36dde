"""ValueSets (``terminology/valuesets``, ``profiles/valuesets``), evaluated locally.

Understood: ``compose.include`` / ``compose.exclude`` with ``concept`` lists, whole code systems
(CPT and HCPCS by code shape, ICD-10-CM by the code set, our CodeSystems by their concept lists),
``valueSet`` references (every listed ValueSet must hold the code; loops are refused) and ``filter``
``concept is-a <code, block or chapter>`` on ICD-10-CM. Anything else is refused when the file is
loaded, with the file and element named. ``include.version`` is not checked.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fhirplugin.resources import data_dir
from fhirplugin.systems import CPT, HCPCS, ICD10CM, canonical
from fhirplugin.tx import icd
from fhirplugin.tx.cpt import looks_like_cpt, looks_like_hcpcs
from fhirplugin.tx.fhirterm.codesystems import CodeSystem, CodeSystems
from fhirplugin.tx.fhirterm.files import Registry, TerminologyDataError, json_files, norm_code, read_resource

_CACHE = 65_536


@dataclass(slots=True)
class _Clause:
    system: str | None
    concepts: frozenset[str] | None = None
    under: list[str] = field(default_factory=list)  # ICD-10-CM is-a filter values: all must hold
    value_sets: list[str] = field(default_factory=list)  # urls, resolved after loading
    refs: list[str] = field(default_factory=list)  # as written, for messages

    @property
    def whole_system(self) -> bool:
        return self.system is not None and self.concepts is None and not self.under


@dataclass(slots=True)
class _CompiledValueSet:
    url: str
    path: Path
    include: list[_Clause]
    exclude: list[_Clause]


class ValueSets:
    """ValueSets by url (also ``url|version``, id, ``ValueSet/id`` and name)."""

    def __init__(self, codesystems: CodeSystems | None = None) -> None:
        self._reg = Registry("ValueSet")
        self._compiled: dict[str, _CompiledValueSet] = {}
        self._cs = codesystems or CodeSystems()
        self._contains = lru_cache(maxsize=_CACHE)(self._contains_uncached)

    @classmethod
    def load_dir(
        cls, folder: Path, *, codesystems: CodeSystems | None = None, check_models: bool = True
    ) -> ValueSets:
        """Load every ``*.json`` under ``folder`` (subfolders too); ``codesystems`` gives our code lists."""
        self = cls(codesystems)
        for path in json_files(folder):
            data = read_resource(path, "ValueSet", check_models)
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

    def __contains__(self, vs: object) -> bool:
        return isinstance(vs, str) and self._reg.resolve(vs) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._compiled)

    # -- compile ----------------------------------------------------------------------------------
    def _compile(self, path: Path, data: dict[str, Any]) -> _CompiledValueSet:
        compose = data.get("compose")
        if not compose:
            raise TerminologyDataError(
                f"{path}: ValueSet {data['url']} has no compose (expansion-only ValueSets are not read)"
            )
        include = [
            self._clause(path, f"compose.include[{i}]", inc)
            for i, inc in enumerate(compose.get("include", []))
        ]
        exclude = [
            self._clause(path, f"compose.exclude[{i}]", exc)
            for i, exc in enumerate(compose.get("exclude", []))
        ]
        return _CompiledValueSet(url=data["url"], path=path, include=_merge_lists(include), exclude=exclude)

    def _clause(self, path: Path, where: str, inc: dict[str, Any]) -> _Clause:
        system = canonical(inc.get("system"))
        refs = list(inc.get("valueSet", []))
        if system is None and not refs:
            raise TerminologyDataError(f"{path}: ValueSet.{where} needs a system or a valueSet")
        if system is None and (inc.get("concept") or inc.get("filter")):
            raise TerminologyDataError(f"{path}: ValueSet.{where} lists concepts or filters without a system")
        clause = _Clause(system=system, refs=refs)
        local = self._cs.by_url(system)
        if "concept" in inc:
            codes = set()
            for j, concept in enumerate(inc["concept"]):
                code = norm_code(system, concept["code"])
                _check_code(path, f"{where}.concept[{j}]", system, code, local)
                codes.add(code)
            clause.concepts = frozenset(codes)
        for j, flt in enumerate(inc.get("filter", [])):
            clause.under.append(_is_a_value(path, f"{where}.filter[{j}]", system, flt))
        return clause

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
            c = norm_code(clause.system, code)
            if clause.concepts is not None and c not in clause.concepts:
                return False
            if not all(icd.is_descendant_or_self(c, value) for value in clause.under):
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
        local = self._cs.by_url(system)
        return code in local.codes if local is not None else bool(code)


def _check_code(path: Path, where: str, system: str | None, code: str, local: CodeSystem | None) -> None:
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


def _is_a_value(path: Path, where: str, system: str | None, flt: dict[str, Any]) -> str:
    """The ICD-10-CM code, block or chapter of a ``concept is-a`` filter (the only filter read)."""
    prop, op, raw = flt.get("property"), flt.get("op"), flt.get("value")
    if prop != "concept" or op != "is-a":
        raise TerminologyDataError(
            f"{path}: ValueSet.{where}: filter {prop!r} {op!r} is not supported (only concept is-a)"
        )
    if system != ICD10CM:
        raise TerminologyDataError(
            f"{path}: ValueSet.{where}: is-a needs a hierarchy, which is known only for ICD-10-CM (not {system})"
        )
    if not isinstance(raw, str) or not raw.strip():
        raise TerminologyDataError(f"{path}: ValueSet.{where}: filter value is missing")
    value = norm_code(system, raw)
    if not icd.is_known(value) and not icd.looks_like_range(value):
        raise TerminologyDataError(
            f"{path}: ValueSet.{where}: {raw!r} is not an ICD-10-CM code, block or chapter"
        )
    return value


def _merge_lists(clauses: list[_Clause]) -> list[_Clause]:
    """Fold plain concept lists of one system into one clause, so a look-up is one set test."""
    plain: dict[str, set[str]] = {}
    rest: list[_Clause] = []
    for cl in clauses:
        if cl.system is not None and cl.concepts is not None and not cl.under and not cl.refs:
            plain.setdefault(cl.system, set()).update(cl.concepts)
        else:
            rest.append(cl)
    return [_Clause(system=s, concepts=frozenset(c)) for s, c in plain.items()] + rest
