"""Template: a family line whose diagnoses include none that supports the code.

Parameterised by the ValueSet each code names (its row's ``dx_valueset``), the words for the region
(``region``), what the rule leaves to another (``defers``) and the wording.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext
from fhirplugin.rules.templates.family import Family
from fhirplugin.systems import ICD10CM


class DiagnosisSupportsCode(Rule):
    """Template (not registered): a family declares ``data`` and the wording below."""

    data: ClassVar[Family]
    severity = Severity.WARNING
    issue_type = "business-rule"
    needs = frozenset({"Condition"})
    # fields: code, region, listed (the valid ICD-10-CM codes), valueset
    no_diagnosis: ClassVar[str]
    unsupported: ClassVar[str]
    no_diagnosis_diagnostics: ClassVar[str]
    diagnostics: ClassVar[str]

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls.triggers = staticmethod(cls.data.codes)

    def region(self, row: Any) -> str:
        """Words for the region the code covers (its row's ``region``)."""
        return str(row.region)

    def defers(self, ctx: RuleContext, line: ServiceLine, row: Any) -> bool:
        """True when another rule says better what is wrong with this line (no finding here)."""
        return False

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        icd = ctx.tx.icd
        for line in self.data.lines(ctx.submission):
            row = self.data.code(line)
            code = line.cpt or ""
            if row is None:  # pragma: no cover - data.lines yields family codes only
                continue
            if line.diagnosis_pointers and all(p.target is None for p in line.diagnosis_pointers):
                continue  # dangling pointers: GEN004
            words = {"code": code, "region": self.region(row), "valueset": row.dx_valueset, "listed": ""}
            diagnoses = line.diagnoses()
            if not diagnoses:
                yield self.finding(
                    self.no_diagnosis.format(**words),
                    line.path,
                    diagnostics=self.no_diagnosis_diagnostics.format(**words),
                )
                continue
            valid = [c for d in diagnoses for c in d.icd10() if icd.is_valid(c.code)]
            if not valid:
                continue  # no ICD-10-CM to judge, or only invalid codes (GEN003)
            if any(ctx.tx.valuesets.contains(row.dx_valueset, ICD10CM, c.code) for c in valid):
                continue
            if self.defers(ctx, line, row):
                continue
            words["listed"] = ", ".join(dict.fromkeys(c.code for c in valid))
            yield self.finding(
                self.unsupported.format(**words),
                list(dict.fromkeys(c.path for c in valid)),
                diagnostics=self.diagnostics.format(**words),
                unverified=True,
            )
