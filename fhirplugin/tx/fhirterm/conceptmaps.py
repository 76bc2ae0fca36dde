"""ConceptMaps (``terminology/conceptmaps``), evaluated locally.

Understood: R4 ``group.element.target`` with ``equivalence`` and ``dependsOn`` conditions
(``property``, ``value``, optional ``system``). Targets that say there is no match (``unmatched``,
``disjoint``) are not returned. R5 ``relationship`` targets and ``group.unmapped`` are refused when
the file is loaded, with the file and element named.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirplugin.resources import data_dir
from fhirplugin.tx.fhirterm.files import (
    Registry,
    TerminologyDataError,
    json_files,
    norm_code,
    read_resource,
    strip_version,
)

_NO_MATCH = {"unmatched", "disjoint"}


@dataclass(frozen=True, slots=True)
class Translation:
    """One target of a ConceptMap look-up.

    ``equivalence`` is the R4 code (``relatedto``, ``equivalent``, ``wider``...). ``depends_on`` holds
    the target's conditions (property → value) that the caller's values met.
    """

    system: str | None
    code: str
    display: str | None
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
    equivalence: str
    conditions: tuple[_Condition, ...]
    comment: str | None


@dataclass(slots=True)
class _Group:
    source: str | None
    target: str | None
    elements: dict[str, list[_Target]]


class ConceptMaps:
    """ConceptMaps by url (also ``url|version``, id, ``ConceptMap/id`` and name)."""

    def __init__(self) -> None:
        self._reg = Registry("ConceptMap")
        self._groups: dict[str, list[_Group]] = {}

    @classmethod
    def load_dir(cls, folder: Path, *, check_models: bool = True) -> ConceptMaps:
        """Load every ``*.json`` under ``folder`` (subfolders too)."""
        self = cls()
        for path in json_files(folder):
            data = read_resource(path, "ConceptMap", check_models)
            self._reg.add(path, data)
            self._groups[data["url"]] = _compile(path, data)
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
        given = depends_on or {}
        out: list[Translation] = []
        for group in self._groups[url]:
            if system is not None and group.source is not None and group.source != system:
                continue
            for t in group.elements.get(norm_code(group.source or system, code), ()):
                if t.equivalence in _NO_MATCH:
                    continue
                met = {}
                for cond in t.conditions:
                    value = given.get(cond.key)
                    if value is None or norm_code(cond.system, value) != norm_code(cond.system, cond.value):
                        break
                    met[cond.key] = cond.value
                else:
                    out.append(
                        Translation(
                            system=group.target,
                            code=t.code,
                            display=t.display,
                            equivalence=t.equivalence,
                            depends_on=met,
                            comment=t.comment,
                            concept_map=url,
                        )
                    )
        return out

    def __contains__(self, cm: object) -> bool:
        return isinstance(cm, str) and self._reg.resolve(cm) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)


def _compile(path: Path, data: dict[str, Any]) -> list[_Group]:
    groups = []
    for g, grp in enumerate(data.get("group", [])):
        if grp.get("unmapped"):
            raise TerminologyDataError(f"{path}: ConceptMap.group[{g}].unmapped is not supported")
        source = strip_version(grp.get("source"))
        elements: dict[str, list[_Target]] = {}
        for e, element in enumerate(grp.get("element", [])):
            where = f"ConceptMap.group[{g}].element[{e}]"
            if not element.get("code"):
                raise TerminologyDataError(f"{path}: {where}.code is required here")
            targets = elements.setdefault(norm_code(source, element["code"]), [])
            for t, target_json in enumerate(element.get("target", [])):
                targets.append(_target(path, f"{where}.target[{t}]", target_json))
        groups.append(_Group(source=source, target=strip_version(grp.get("target")), elements=elements))
    return groups


def _target(path: Path, where: str, tj: dict[str, Any]) -> _Target:
    equivalence = tj.get("equivalence")
    if not isinstance(equivalence, str) or not equivalence:
        raise TerminologyDataError(
            f"{path}: {where} needs an equivalence (R4; R5 relationship targets are not read)"
        )
    if not tj.get("code") and equivalence not in _NO_MATCH:
        raise TerminologyDataError(f"{path}: {where}.code is required unless the target says 'no match'")
    conditions = []
    for d, dep in enumerate(tj.get("dependsOn", [])):
        key, value = dep.get("property"), dep.get("value")
        if not key or value is None:
            raise TerminologyDataError(f"{path}: {where}.dependsOn[{d}] needs a property and a value")
        conditions.append(_Condition(key=key, system=dep.get("system"), value=str(value)))
    return _Target(
        code=tj.get("code", ""),
        display=tj.get("display"),
        equivalence=equivalence,
        conditions=tuple(conditions),
        comment=tj.get("comment"),
    )
