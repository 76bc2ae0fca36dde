"""A rule family's tables, read once through :mod:`fhirplugin.rules.tables`.

A family declares ``Family("drainage", CodeRow)``: its code table is ``terminology/drainage/codes.csv``
read with the row model ``CodeRow`` (code → row); :meth:`Family.table` reads its other tables. The
templates find the family's lines in a submission through it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from fhirplugin.fhir.case import ServiceLine, Submission
from fhirplugin.resources import data_dir
from fhirplugin.rules.common import lines_with
from fhirplugin.rules.tables import Code, VerifiedRow, read_keyed

C = TypeVar("C", bound="CodeRow")


class CodeRow(VerifiedRow):
    """A row of a family's ``codes.csv``: one code the family's rules are about."""

    code: Code
    # our own short description; a family table with it adds the code to the built-in CPT table (tx/cpt.py)
    description: str = ""


class GuidancePair(VerifiedRow):
    """A row of a family's ``guidance-included.csv``: imaging guidance included in a primary code."""

    primary_code: Code
    guidance_code: Code

    @property
    def primary(self) -> str:
        return self.primary_code

    @property
    def guidance(self) -> str:
        return self.guidance_code


class Family(Generic[C]):
    """The tables of ``terminology/<name>/``, each read on first use and kept."""

    def __init__(self, name: str, codes: type[C], codes_file: str = "codes.csv") -> None:
        self.name = name
        self._codes_model = codes
        self._codes_file = codes_file
        self._tables: dict[str, Any] = {}

    def path(self, file: str) -> Path:
        return data_dir("terminology") / self.name / file

    def table(self, file: str, read: Callable[[Path], Any]) -> Any:
        """``read(path)`` of ``terminology/<family>/<file>``, once."""
        try:
            return self._tables[file]
        except KeyError:
            value = self._tables[file] = read(self.path(file))
            return value

    def keyed(
        self, file: str, model: type[Any], key: Callable[[Any], Hashable], what: Callable[[Any], str] = str
    ) -> Mapping[Any, Any]:
        return self.table(file, lambda p: read_keyed(p, model, key, what))

    def codes(self) -> Mapping[str, C]:
        """The family's codes (``codes.csv``) by code."""
        return self.keyed(self._codes_file, self._codes_model, lambda r: r.code, lambda k: f"code {k}")

    def guidance_pairs(self, file: str = "guidance-included.csv") -> Mapping[tuple[str, str], GuidancePair]:
        """(primary code, guidance code) → the pair, for imaging guidance included in a family code."""
        return self.keyed(
            file, GuidancePair, lambda r: (r.primary_code, r.guidance_code), lambda k: f"pair {k[0]}/{k[1]}"
        )

    def code(self, line: ServiceLine) -> C | None:
        return self.codes().get(line.cpt) if line.cpt else None

    def lines(self, sub: Submission, *types: str) -> list[ServiceLine]:
        """Lines billed/ordered/documented with a family code (of the given resource types, or all)."""
        return lines_with(sub, self.codes(), *types)
