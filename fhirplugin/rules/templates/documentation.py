"""Template: a family code whose submitted Procedure lacks documentation the code needs.

Two kinds: :class:`ImagingLinked` (the Procedure links imaging, or the claim carries
``supportingInfo``) and :class:`DeviceLeftInPlace` (the Procedure names a device left in place).
Each judges every linked Procedure once; orders are not judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from fhirplugin.fhir.case import ProcedureInfo, ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext
from fhirplugin.rules.common import case_of
from fhirplugin.rules.templates.family import Family

NOT_PERFORMED = ("not-done", "entered-in-error")


class DocumentationPresent(Rule):
    """Template (not registered): a family declares ``data`` and the wording of a subclass."""

    data: ClassVar[Family]
    severity = Severity.WARNING
    # a claim that attaches documentation (supportingInfo), or has no submitted Procedure, is not judged
    only_submitted: ClassVar[bool] = False
    # Procedures marked not-done or entered-in-error are not judged
    skip_not_performed: ClassVar[bool] = True

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        if hasattr(cls, "data"):
            cls.triggers = staticmethod(cls.data.codes)

    def missing(self, ctx: RuleContext, line: ServiceLine, proc: ProcedureInfo, row: Any) -> Finding | None:
        raise NotImplementedError  # pragma: no cover - abstract

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for line in self.data.lines(ctx.submission, "Claim", "Procedure"):
            if self.only_submitted:
                case = case_of(ctx.submission, line)
                if case is None or not case.submitted_procedure or case.supporting_info:
                    continue
            row = self.data.code(line)
            for proc in line.procedures:
                if proc.resource_type != "Procedure" or proc.path in seen:
                    continue
                if self.skip_not_performed and proc.status in NOT_PERFORMED:
                    continue
                seen.add(proc.path)
                found = self.missing(ctx, line, proc, row)
                if found is not None:
                    yield found


class ImagingLinked(DocumentationPresent):
    """The Procedure links imaging (a report, an ImagingStudy or a DiagnosticReport based on it)."""

    issue_type = "required"
    only_submitted = True
    text: ClassVar[str]  # field: code
    diagnostics: ClassVar[str]

    def missing(self, ctx: RuleContext, line: ServiceLine, proc: ProcedureInfo, row: Any) -> Finding | None:
        if proc.reports:
            return None
        return self.finding(self.text.format(code=line.cpt), proc.path, diagnostics=self.diagnostics)


class DeviceLeftInPlace(DocumentationPresent):
    """The Procedure names a device left in place (a focalDevice implanted)."""

    issue_type = "business-rule"
    # fields: code, instead (what to report when none stayed: ``instead`` below)
    removed: ClassVar[str]
    not_left: ClassVar[str]
    none: ClassVar[str]
    diagnostics: ClassVar[str]  # fields: code, source

    def instead(self, code: str, row: Any) -> str:
        """What to report when no device stayed in place."""
        return ""

    def missing(self, ctx: RuleContext, line: ServiceLine, proc: ProcedureInfo, row: Any) -> Finding | None:
        if any(d.action == "implanted" for d in proc.devices):
            return None
        code = line.cpt or ""
        words = {"code": code, "instead": self.instead(code, row) if row is not None else ""}
        diagnostics = self.diagnostics.format(code=code, source=row.source if row is not None else "CPT")
        removed = [d for d in proc.devices if d.action == "removed"]
        if removed and len(removed) == len(proc.devices):
            return self.finding(self.removed.format(**words), removed[0].path, diagnostics=diagnostics)
        if proc.devices:
            return self.finding(self.not_left.format(**words), proc.devices[0].path, diagnostics=diagnostics)
        return self.finding(self.none.format(**words), proc.path, diagnostics=diagnostics)
