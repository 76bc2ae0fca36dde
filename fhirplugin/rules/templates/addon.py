"""Template: an add-on family code without the primary procedure it needs in the session.

Parameterised by the family's criteria table (what counts as the primary: CPT code ranges, approaches
that do or do not count, CPT code families that never count; :class:`PrimaryCriterion` rows) and the
wording. Optionally, two family codes of different approaches in one session conflict. The add-on
codes it judges are named in ``restates_aoc`` so AOC001 (the CMS add-on code edits) does not say the
same thing twice while the family rule is enabled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import model_validator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext
from fhirplugin.rules.common import join_or, sessions
from fhirplugin.rules.tables import Bool, VerifiedRow, read_table, unique
from fhirplugin.rules.templates.family import Family
from fhirplugin.systems import APPROACH_SYSTEM

if TYPE_CHECKING:
    from fhirplugin.tx.store import Terminology

# a bill is judged with the other bills of the session, an order with the other orders
PARTNERS = {"Claim": ("Claim",), "ServiceRequest": ("ServiceRequest",)}


class PrimaryCriterion(VerifiedRow):
    """A row of a criteria table: what makes a line the primary procedure of an add-on code."""

    criterion: Literal["range", "approach", "family"]
    value: str
    counts: Bool  # True: makes a line a primary (range: required); False: rules it out

    @model_validator(mode="before")
    @classmethod
    def _lower(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            data["criterion"] = str(data.get("criterion", "")).lower()
            if data["criterion"] != "range":
                data["value"] = str(data.get("value", "")).strip().lower()
        return data

    @model_validator(mode="after")
    def _range(self) -> PrimaryCriterion:
        if self.criterion == "range":
            low, _, high = self.value.partition("-")
            if not (low.isdigit() and len(low) == 5 and (not high or (high.isdigit() and len(high) == 5))):
                raise ValueError(f"range must be two 5-digit CPT codes like 10004-69990, not {self.value!r}")
        return self

    def contains(self, code: str) -> bool:
        """For a ``range`` row: is the 5-digit CPT ``code`` inside it."""
        low, _, high = self.value.partition("-")
        return code.isdigit() and len(code) == 5 and low <= code <= (high or low)


def read_criteria(path: Path) -> tuple[PrimaryCriterion, ...]:
    """A criteria table, in file order; a (criterion, value) listed twice is an error."""
    rows = read_table(path, PrimaryCriterion)
    unique(path, rows, lambda r: (r.criterion, r.value), lambda k: f"{k[0]} {k[1]}")
    return tuple(r for _, r in rows)


def approaches(line: ServiceLine) -> list[str]:
    """Distinct approach codes documented for the line (item and linked documentation), sorted."""
    return sorted(
        {c.code.strip().lower() for c in line.all_approaches() if c.system in (None, APPROACH_SYSTEM)}
    )


@dataclass(frozen=True, slots=True)
class PrimaryJudgement:
    """Whether a line is a primary procedure for an add-on code, and why."""

    counts: bool
    reason: str
    verified: bool


def judge_primary(
    tx: Terminology, line: ServiceLine, criteria: tuple[PrimaryCriterion, ...], scope: str
) -> PrimaryJudgement:
    """Judge ``line`` against ``criteria`` and the add-on flag of ``cpt/codes.csv``.

    Order: a CPT code; not an add-on; inside a counting range (else it is not ``scope``); a documented
    approach that counts (open) makes it one, one that does not (laparoscopic, percutaneous, ...) rules
    it out; else a code family that never counts rules it out; otherwise it counts (a surgical code with
    no approach documented is taken as the open procedure; a code missing from the built-in table as
    well, since its add-on status is unknown).
    """
    code = line.cpt
    if code is None:
        shown = line.code.code if line.code is not None else "the line"
        return PrimaryJudgement(False, f"{shown} is not a CPT code", True)
    entry = tx.cpt.get(code)
    if entry is not None and entry.add_on:
        return PrimaryJudgement(False, f"{code} is an add-on code itself", entry.verified)
    ranges = [c for c in criteria if c.criterion == "range" and c.counts]
    if ranges and not any(r.contains(code) for r in ranges):
        where = join_or(r.value for r in ranges)
        return PrimaryJudgement(False, f"{code} is not {scope} ({where})", all(r.verified for r in ranges))
    for r in criteria:
        if r.criterion == "range" and not r.counts and r.contains(code):
            what = r.note.removeprefix("[M] ").removeprefix("[I] ").split(":", 1)[0]
            return PrimaryJudgement(
                False, f"{code} is in {r.value} ({what}), not an open procedure", r.verified
            )
    by_approach = {c.value: c for c in criteria if c.criterion == "approach"}
    documented = [by_approach[a] for a in approaches(line) if a in by_approach]
    opened = [c for c in documented if c.counts]
    if opened:
        return PrimaryJudgement(
            True, f"{code} documented with an {opened[0].value} approach", opened[0].verified
        )
    if documented:
        c = documented[0]
        return PrimaryJudgement(False, f"{code} is documented as {c.value}, not open", c.verified)
    family = entry.family if entry is not None else None
    for c in criteria:
        if c.criterion == "family" and not c.counts and c.value == family:
            return PrimaryJudgement(
                False, f"{code} is in the CPT family {family}, not open surgery", c.verified
            )
    if entry is None:
        return PrimaryJudgement(True, f"{code} (not in the built-in CPT table: taken as the primary)", False)
    return PrimaryJudgement(True, f"{code} (no approach documented: taken as the open primary)", True)


def code_path(line: ServiceLine) -> str:
    return line.code.path if line.code is not None else line.code_path


class AddOnNeedsPrimary(Rule):
    """Template (not registered): a family declares ``data``, ``criteria_file`` and the wording."""

    data: ClassVar[Family]
    criteria_file: ClassVar[str]  # the criteria table, under terminology/<family>/
    scope: ClassVar[str]  # what a primary must be, in words (judge_primary)
    severity = Severity.ERROR
    issue_type = "business-rule"
    needs = frozenset({"Procedure"})
    # fields: code, region, seen (the judgements), source (the CPT table's), criteria (the table's path)
    missing_claim: ClassVar[str]
    missing_order: ClassVar[str]  # a warning: the primary may be ordered apart
    diagnostics: ClassVar[str]
    # two family codes of different approaches in one session; fields: a, b, a_approach, b_approach,
    # keep, drop, what, done, why, a_source, b_source; "" for no conflict check
    conflict: ClassVar[str] = ""
    conflict_diagnostics: ClassVar[str] = ""
    # why a deletion is suggested; field: reason (the primary's judgement)
    with_primary: ClassVar[str] = ""
    without_primary: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls.triggers = staticmethod(cls.data.codes)
        cls.restates_aoc = staticmethod(cls.restated_aoc)
        if cls.conflict:
            cls.restates_ptp = staticmethod(cls.restated_ptp)

    @classmethod
    def restated_aoc(cls) -> list[str]:
        """The family's add-on codes: the primary of each is judged here, against the criteria."""
        return [c for c, e in cls.data.codes().items() if e.approach == "open"]

    @classmethod
    def restated_ptp(cls) -> list[tuple[str, str]]:
        """Two family codes of different approaches in one session: reported here as a conflict."""
        codes = cls.data.codes()
        return [(a, b) for a, da in codes.items() for b, db in codes.items() if da.approach != db.approach]

    def criteria(self) -> tuple[PrimaryCriterion, ...]:
        return tuple(self.data.table(self.criteria_file, read_criteria))

    def region(self, row: Any) -> str:
        return str(row.region)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        sub = ctx.submission
        lines = list(self.data.lines(sub, *PARTNERS))
        criteria = self.criteria()
        for i, line in enumerate(lines):
            row = self.data.code(line)
            entry = ctx.tx.cpt.get(line.cpt or "")
            if row is None:  # pragma: no cover - data.lines yields family codes only
                continue
            partners = sessions(sub).lines(line, PARTNERS[line.resource_type])
            add_on = entry is not None and entry.add_on
            conflicts = []
            if self.conflict:
                conflicts = [
                    other
                    for other in lines[i + 1 :]
                    if (orow := self.data.code(other)) is not None
                    and orow.approach != row.approach
                    and any(o is other for o in partners)
                ]
            if not add_on and not conflicts:
                continue  # nothing to judge the partners for
            judged = [(o, judge_primary(ctx.tx, o, criteria, self.scope)) for o in partners]
            primaries = [(o, j) for o, j in judged if j.counts]
            if add_on and not primaries and entry is not None:
                yield self._no_primary(line, row, judged, entry.verified, entry.source)
            for other in conflicts:
                yield self._conflict(line, other, primaries)

    def _no_primary(
        self,
        line: ServiceLine,
        row: Any,
        judged: list[tuple[ServiceLine, PrimaryJudgement]],
        verified: bool,
        source: str,
    ) -> Finding:
        code = line.cpt or ""
        words = {
            "code": code,
            "region": self.region(row),
            "seen": "; ".join(dict.fromkeys(j.reason for _, j in judged)) or "no other line in the session",
            "source": source,
            "criteria": f"terminology/{self.data.name}/{self.criteria_file}",
        }
        unverified = not verified or any(not j.verified for _, j in judged)
        order = line.resource_type == "ServiceRequest"
        return self.finding(
            (self.missing_order if order else self.missing_claim).format(**words),
            code_path(line),
            diagnostics=self.diagnostics.format(**words),
            severity=Severity.WARNING if order else None,
            unverified=unverified,
        )

    def _conflict(
        self, line: ServiceLine, other: ServiceLine, primaries: list[tuple[ServiceLine, PrimaryJudgement]]
    ) -> Finding:
        a, b = self.data.code(line), self.data.code(other)
        assert a is not None and b is not None
        open_line, closed_line = (line, other) if a.approach == "open" else (other, line)
        drop = closed_line if primaries else open_line
        keep = open_line if drop is closed_line else closed_line
        what = "order" if line.resource_type == "ServiceRequest" else "line"
        words = {
            "a": a.code,
            "b": b.code,
            "a_approach": a.approach,
            "b_approach": b.approach,
            "a_source": a.source,
            "b_source": b.source,
            "keep": keep.cpt,
            "drop": drop.cpt,
            "what": what,
            "done": "ordered" if what == "order" else "reported",
            "criteria": f"terminology/{self.data.name}/{self.criteria_file}",
        }
        words["why"] = (
            self.with_primary.format(reason=primaries[0][1].reason) if primaries else self.without_primary
        )
        return self.finding(
            self.conflict.format(**words),
            [code_path(line), code_path(other)],
            diagnostics=self.conflict_diagnostics.format(**words),
            fix={"action": "delete-line", "path": drop.path},
            unverified=True,
        )
