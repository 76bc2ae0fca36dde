from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.common import case_of
from fhirplugin.rules.drainage.data import documented_procedures, drainage_codes, drainage_lines


@register
class ImagingDocumentation(Rule):
    """A drainage Procedure submitted without any linked imaging documentation.

    What it checks:
        For 10030, 49405, 49406 and 49407 billed with (or documented by) a submitted Procedure: the
        Procedure must link imaging documentation (``Procedure.report`` to a DiagnosticReport, an
        ImagingStudy pointing at the Procedure, a DiagnosticReport based on it) or the claim must carry
        ``supportingInfo``. Without a submitted Procedure there is no finding; orders are not judged.
    Why:
        The imaging guidance is part of the drainage code, and its record (images and report showing the
        collection and the catheter position) is what supports the code and its medical necessity.
    Example:
        A claim for ``49407`` with a Procedure that has no ``report`` and no ImagingStudy, and no
        ``Claim.supportingInfo``.
    Fix:
        Link the DiagnosticReport or ImagingStudy of the guided drainage to the Procedure, or attach it to
        the claim as supportingInfo.
    Source:
        CPT 49407 guidance (accurate imaging documentation supports medical necessity); CPT
        Radiology guidelines for imaging guidance.
    """

    id = "DRN007"
    needs = frozenset({"Procedure", "DiagnosticReport", "ImagingStudy", "DocumentReference"})
    name = "drainage.imaging-documentation"
    family = "drainage"
    triggers = staticmethod(drainage_codes)
    severity = Severity.WARNING
    issue_type = "required"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for line in drainage_lines(ctx.submission, "Claim", "Procedure"):
            case = case_of(ctx.submission, line)
            if case is None or not case.submitted_procedure or case.supporting_info:
                continue
            for proc in documented_procedures([line]):
                if proc.path in seen or proc.reports:
                    continue
                seen.add(proc.path)
                yield self.finding(
                    f"The Procedure for {line.cpt} links no imaging record (DiagnosticReport or ImagingStudy) and "
                    "the claim has no supportingInfo: link the images or report that show the collection and "
                    "the catheter position.",
                    proc.path,
                    diagnostics="Seed 000_fd25ab081c3e8cfb: accurate imaging documentation supports the code.",
                )
