"""CodeSystems of our own (``terminology/codesystems``): complete concept lists, so a ValueSet that
includes the whole system, or a profile binding to it, checks membership locally."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhirplugin.resources import data_dir
from fhirplugin.tx.fhirterm.files import Registry, TerminologyDataError, json_files, read_resource


@dataclass(frozen=True, slots=True)
class CodeSystem:
    url: str
    codes: frozenset[str]


class CodeSystems:
    """CodeSystems with a complete concept list (our own), by url (also ``url|version``, id, name)."""

    def __init__(self) -> None:
        self._reg = Registry("CodeSystem")
        self._systems: dict[str, CodeSystem] = {}

    @classmethod
    def load_dir(cls, folder: Path, *, check_models: bool = True) -> CodeSystems:
        self = cls()
        for path in json_files(folder):
            data = read_resource(path, "CodeSystem", check_models)
            self._reg.add(path, data)
            self._systems[data["url"]] = _compile(path, data)
        return self

    @classmethod
    def builtin(cls) -> CodeSystems:
        """The CodeSystems under ``terminology/codesystems`` (validated by the tests, not here)."""
        return cls.load_dir(data_dir("terminology") / "codesystems", check_models=False)

    def get(self, cs: str) -> dict[str, Any]:
        """The CodeSystem JSON (a copy). KeyError when unknown."""
        return copy.deepcopy(self._reg.raw[self._reg.lookup(cs)])

    def codes(self, cs: str) -> frozenset[str]:
        """Every code of CodeSystem ``cs`` (nested concepts too). KeyError when unknown."""
        return self._systems[self._reg.lookup(cs)].codes

    def by_url(self, url: str | None) -> CodeSystem | None:
        return self._systems.get(url) if url else None

    def __contains__(self, cs: object) -> bool:
        return isinstance(cs, str) and self._reg.resolve(cs) is not None


def _compile(path: Path, data: dict[str, Any]) -> CodeSystem:
    codes: set[str] = set()

    def walk(concepts: list[dict[str, Any]]) -> None:
        for concept in concepts:
            code = concept["code"]
            if code in codes:
                raise TerminologyDataError(f"{path}: CodeSystem concept {code!r} is defined twice")
            codes.add(code)
            walk(concept.get("concept", []))

    walk(data.get("concept", []))
    return CodeSystem(url=data["url"], codes=frozenset(codes))
