"""Template: a family code chosen for the wrong age group (36555 under 5 years, 36556 from 5).

Parameterised by the family's ``codes.csv`` read with :class:`AgeCode` rows: codes of one ``group``
differ only by the patient's age at the date of service, each covering ``min_age`` (inclusive) to
``below_age`` (exclusive, empty: no upper bound) in whole years. The age comes from the case's Patient
(``Patient.birthDate``) and the line's date; without either there is nothing to judge and no finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import ClassVar

from fhirplugin.fhir.case import Case, ServiceLine, Submission
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext
from fhirplugin.rules.common import code_label, join_or
from fhirplugin.rules.templates.family import CodeRow, Family
from fhirplugin.systems import CPT


class AgeCode(CodeRow):
    """A row of an age family's ``codes.csv``."""

    group: str  # the codes that differ only by age share a group
    min_age: int = 0  # in whole years, inclusive
    below_age: int | None = None  # in whole years, exclusive; None: no upper bound

    def covers(self, age: int) -> bool:
        return self.min_age <= age and (self.below_age is None or age < self.below_age)

    @property
    def ages(self) -> str:
        """``under 5``, ``5 or older``, ``5 to 17``."""
        if self.below_age is None:
            return f"{self.min_age} or older"
        if self.min_age == 0:
            return f"under {self.below_age}"
        return f"{self.min_age} to {self.below_age - 1}"


def age_on(birth: dt.date, day: dt.date) -> int:
    """Whole years from ``birth`` to ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _cases_by_line(sub: Submission) -> dict[int, Case]:
    return sub.memo("cases_by_line", lambda: {id(line): case for case in sub.cases for line in case.lines})


class AgeDecidesCode(Rule):
    """Template (not registered): a family declares ``data`` (with :class:`AgeCode` rows) and wording."""

    data: ClassVar[Family[AgeCode]]
    severity = Severity.ERROR
    issue_type = "code-invalid"
    needs = frozenset({"Patient"})
    # fields: code, ages (the billed code's), age, date, birth, expected (labels), patient (its path)
    text: ClassVar[str] = (
        "{code} is for patients {ages}, but the patient was {age} on {date}: report {expected} instead."
    )
    diagnostics: ClassVar[str] = "Patient.birthDate {birth} at {patient}; age {age} on {date}; {source}."

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls.triggers = staticmethod(cls.data.codes)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        codes = self.data.codes()
        cases = _cases_by_line(ctx.submission)
        for line in self.data.lines(ctx.submission):
            row = self.data.code(line)
            case = cases.get(id(line))
            subject = case.subject if case is not None else None
            if row is None or line.code is None or line.date is None or subject is None:
                continue
            if subject.birth_date is None or subject.birth_date > line.date:
                continue
            age = age_on(subject.birth_date, line.date)
            if row.covers(age):
                continue
            expected = [c.code for c in codes.values() if c.group == row.group and c.covers(age)]
            if not expected:
                continue
            yield self._finding(ctx, line, row, age, expected, subject.birth_date, subject.path)

    def _finding(
        self,
        ctx: RuleContext,
        line: ServiceLine,
        row: AgeCode,
        age: int,
        expected: list[str],
        birth: dt.date,
        patient: str,
    ) -> Finding:
        assert line.code is not None and line.date is not None
        words = {
            "code": row.code,
            "ages": row.ages,
            "age": age,
            "date": line.date.isoformat(),
            "birth": birth.isoformat(),
            "patient": patient,
            "expected": join_or(code_label(ctx.tx, c) for c in expected),
            "source": row.source,
        }
        fix = None
        if len(expected) == 1:
            fix = {
                "action": "replace-code",
                "path": line.code.path,
                "from": row.code,
                "to": expected[0],
                "system": CPT,
            }
        return self.finding(
            self.text.format(**words),
            line.code.path,
            diagnostics=self.diagnostics.format(**words),
            fix=fix,
            unverified=not row.verified,
        )
