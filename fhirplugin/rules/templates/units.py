"""Template: the units of a family code in one session against what the documentation allows.

Lines of one code for one patient, provider and date (claim lines with claim lines, orders with
orders) are a session group. :class:`UnitsVsDocumentedCount` compares their units with the count the
linked documentation shows (collections with their own catheter); :class:`OneUnitPerSession` allows
one unit, however many devices, for the codes whose row says ``one_unit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from fhirplugin.fhir.case import ProcedureInfo, ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext
from fhirplugin.rules.templates.family import Family


def session_groups(lines: Iterable[ServiceLine]) -> dict[tuple, list[ServiceLine]]:
    """Lines grouped by (resource type, patient, provider, date, CPT code), in input order."""
    groups: dict[tuple, list[ServiceLine]] = {}
    for line in lines:
        date: dt.date | str | None = line.date if line.date is not None else f"?{line.resource_path}"
        groups.setdefault((line.resource_type, line.patient, line.provider, date, line.cpt), []).append(line)
    return groups


def count(n: float, singular: str, plural: str | None = None) -> str:
    """``1 unit``, ``2 units``."""
    return f"{n:g} {singular if n == 1 else plural or singular + 's'}"


def documented_procedures(lines: Iterable[ServiceLine], *types: str) -> list[ProcedureInfo]:
    """Linked Procedure (or given types) documentation of ``lines``, each once, in order."""
    types = types or ("Procedure",)
    seen: set[str] = set()
    out = []
    for line in lines:
        for p in line.procedures:
            if p.resource_type in types and p.path not in seen:
                seen.add(p.path)
                out.append(p)
    return out


class UnitsPerSession(Rule):
    """Template base (not registered): the family's claim lines and orders by session group."""

    data: ClassVar[Family]
    severity = Severity.ERROR
    issue_type = "business-rule"

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        if hasattr(cls, "data"):
            cls.triggers = staticmethod(cls.data.codes)

    def counted(self, row: Any) -> bool:
        return True

    def judge(self, ctx: RuleContext, group: list[ServiceLine], row: Any) -> Iterator[Finding]:
        raise NotImplementedError  # pragma: no cover - abstract

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        lines = [
            line
            for line in self.data.lines(ctx.submission, "Claim", "ServiceRequest")
            if (row := self.data.code(line)) is not None and self.counted(row)
        ]
        for group in session_groups(lines).values():
            yield from self.judge(ctx, group, self.data.code(group[0]))


def catheterised(proc: ProcedureInfo) -> tuple[int | None, str]:
    """Collections this documentation shows drained with their own catheter, and how it shows it.

    The collection-count extension when present, else the devices not removed in the session; None
    when the resource says neither (nothing to compare).
    """
    if proc.collections is not None:
        n = proc.collections
        return n, f"{proc.path}: collection count {n}"
    if proc.devices:
        n = sum(1 for d in proc.devices if d.action != "removed")
        return n, f"{proc.path}: {n} catheter(s) not removed"
    return None, ""


class UnitsVsDocumentedCount(UnitsPerSession):
    """More units than the linked documentation (Procedure or order) shows: one finding per group on
    every line past the documented count."""

    needs = frozenset({"Procedure"})
    # fields: code, what (reported | ordered), units ("2 units"), lines ("1 line"), documented
    # ("1 collection"), source, evidence
    text: ClassVar[str]
    diagnostics: ClassVar[str]
    noun: ClassVar[str] = "collection"

    def judge(self, ctx: RuleContext, group: list[ServiceLine], row: Any) -> Iterator[Finding]:
        procs = documented_procedures(group, "Procedure", "ServiceRequest")
        if not procs:
            return
        counts = [catheterised(p) for p in procs]
        if any(n is None for n, _ in counts):
            return
        documented = sum(n or 0 for n, _ in counts)
        if documented < 1:
            return
        total, flagged = 0.0, []
        for line in group:
            total += line.unit_count
            if total > documented:
                flagged.append(line.units.path or line.path)
        if not flagged:
            return
        words = {
            "code": group[0].cpt or "",
            "what": "ordered" if group[0].resource_type == "ServiceRequest" else "reported",
            "units": count(total, "unit"),
            "lines": count(len(group), "line"),
            "documented": count(documented, self.noun),
            "source": row.source if row is not None else "",
            "evidence": "; ".join(words for _, words in counts),
        }
        yield self.finding(self.text.format(**words), flagged, diagnostics=self.diagnostics.format(**words))


class OneUnitPerSession(UnitsPerSession):
    """A code reported once per session: more than one unit on its first line, and every further line."""

    needs = frozenset({"Procedure", "Device"})
    # fields: code, verb (report | order), units (the first line's), what (line | order), done
    # (reported | ordered)
    too_many: ClassVar[str]
    further: ClassVar[str]

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        if hasattr(cls, "data"):
            cls.restates_mue = staticmethod(cls.restated)

    @classmethod
    def restated(cls) -> list[str]:
        """The codes whose MUE this rule judges (PTP001's sibling MUE001 leaves them alone)."""
        return [c for c, row in cls.data.codes().items() if row.one_unit]

    def counted(self, row: Any) -> bool:
        return bool(row.one_unit)

    def diagnostics(self, ctx: RuleContext, row: Any) -> str:
        raise NotImplementedError  # pragma: no cover - abstract

    def judge(self, ctx: RuleContext, group: list[ServiceLine], row: Any) -> Iterator[Finding]:
        first, extra = group[0], group[1:]
        if row is None:  # pragma: no cover - filtered by counted
            return
        diagnostics = self.diagnostics(ctx, row)
        order = first.resource_type == "ServiceRequest"
        words = {
            "code": row.code,
            "verb": "order" if order else "report",
            "what": "order" if order else "line",
            "done": "ordered" if order else "reported",
            "units": "",
        }
        units = first.units
        if units.value is not None and units.path is not None and units.value > 1:
            words["units"] = f"{units.value:g}"
            yield self.finding(
                self.too_many.format(**words),
                units.path,
                diagnostics=diagnostics,
                fix={"action": "set-units", "path": units.path.removesuffix(".value"), "value": 1},
            )
        for line in extra:
            yield self.finding(
                self.further.format(**words),
                line.path,
                diagnostics=diagnostics,
                fix={"action": "delete-line", "path": line.path},
            )
