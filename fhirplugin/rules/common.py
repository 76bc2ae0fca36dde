"""What the rules share: finding a family's lines, lines grouped by session, and wording.

Tables are read by :mod:`fhirplugin.rules.tables`; the mechanisms the families declare their rules
with are :mod:`fhirplugin.rules.templates`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from fhirplugin.fhir.case import Case, ServiceLine, Submission

if TYPE_CHECKING:
    from fhirplugin.tx.store import Terminology

P = TypeVar("P")

# columns that may be empty in every family table
OPTIONAL_COLUMNS = ("note", "source")


# ---------------------------------------------------------------- lines and sessions
def lines_with(sub: Submission, codes: Mapping[str, object], *types: str) -> list[ServiceLine]:
    """Lines whose CPT code is a key of ``codes`` (of the given resource types, or all), in order.

    Several rules of a family ask the same question of one submission: the answer is kept on it.
    """
    return sub.memo(("lines_with", id(codes), types), lambda: _lines_with(sub, codes, types))


def _lines_with(sub: Submission, codes: Mapping[str, object], types: tuple[str, ...]) -> list[ServiceLine]:
    return [
        line
        for line in sub.lines()
        if line.cpt is not None and line.cpt in codes and (not types or line.resource_type in types)
    ]


def session_key(line: ServiceLine) -> tuple:
    """Same patient, provider and date of service; a line with no date shares its session only with
    the lines of its own resource."""
    if line.date is None:
        return (line.patient, line.provider, None, line.resource_path)
    return (line.patient, line.provider, line.date)


class Sessions:
    """The lines of one submission grouped by session, each group by CPT code and resource type.

    Built once per submission (:func:`sessions`); pairing rules look their partners up here instead
    of comparing every line with every other, so their cost stays flat in the number of lines.
    """

    __slots__ = ("_groups", "_position")

    def __init__(self, lines: list[ServiceLine]) -> None:
        self._position = {id(line): i for i, line in enumerate(lines)}
        # session key -> CPT code (None for none) -> resource type -> lines in input order
        self._groups: dict[tuple, dict[str | None, dict[str, list[ServiceLine]]]] = {}
        for line in lines:
            by_code = self._groups.setdefault(session_key(line), {})
            by_code.setdefault(line.cpt, {}).setdefault(line.resource_type, []).append(line)

    def position(self, line: ServiceLine) -> int:
        return self._position[id(line)]

    def lines(self, line: ServiceLine, types: Iterable[str]) -> list[ServiceLine]:
        """Other lines of the given resource types in ``line``'s session, in input order."""
        kinds = tuple(types)
        found = [
            o
            for by_type in self._groups[session_key(line)].values()
            for kind in kinds
            for o in by_type.get(kind, ())
            if o is not line
        ]
        found.sort(key=self.position)
        return found

    def paired(
        self, line: ServiceLine, pairs: Mapping[tuple[str, str], P], types: Iterable[str]
    ) -> list[tuple[ServiceLine, P]]:
        """``(other, pairs[(other.cpt, line.cpt)])`` for the first other line of each paired code in
        ``line``'s session (of the given resource types), in input order.

        The same answer as walking the session's lines in order and keeping the first line of each
        code that ``pairs`` pairs with ``line.cpt``; here one look-up per distinct code of the session.
        """
        kinds = tuple(types)
        code = line.cpt or ""
        found: list[tuple[ServiceLine, P]] = []
        for other_code, by_type in self._groups[session_key(line)].items():
            pair = pairs.get((other_code or "", code))
            if pair is None:
                continue
            first = None
            for kind in kinds:
                for o in by_type.get(kind, ()):
                    if o is not line:
                        if first is None or self.position(o) < self.position(first):
                            first = o
                        break
            if first is not None:
                found.append((first, pair))
        found.sort(key=lambda f: self.position(f[0]))
        return found


def sessions(sub: Submission) -> Sessions:
    """The submission's lines by session (computed once per submission)."""
    return sub.memo("sessions", lambda: Sessions(sub.lines()))


def case_of(sub: Submission, line: ServiceLine) -> Case | None:
    """The case (claim or order) that holds ``line``."""
    for case in sub.cases:
        if any(x is line for x in case.lines):
            return case
    return None


# ---------------------------------------------------------------- words
def code_label(tx: Terminology, code: str) -> str:
    """``49406 (our short description)``; the bare code when the table does not know it."""
    entry = tx.cpt.get(code)
    return f"{code} ({entry.description})" if entry is not None and entry.description else code


def join_or(items: Iterable[str], word: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c`` (``word="and"`` for a list of all)."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def is_unverified(comment: str | None) -> bool:
    """A ConceptMap target, ValueSet include or table note whose tag says memory [M] or inference [I]."""
    return comment is not None and ("[M]" in comment or "[I]" in comment)
