from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.common import case_of
from fhirplugin.rules.devices.data import device_codes, device_lines

_NOT_PERFORMED = ("not-done", "entered-in-error")


@register
class PositionImaging(Rule):
    """A device placement Procedure submitted without imaging that documents the marker position.

    What it checks:
        For 49411 and 49412 billed with (or documented by) a submitted Procedure: the Procedure must link
        imaging (``Procedure.report`` to a DiagnosticReport, an ImagingStudy pointing at the Procedure, a
        DiagnosticReport based on it) or the claim must carry ``supportingInfo``. Without a submitted
        Procedure there is nothing to judge and no finding; orders are not judged, nor Procedures marked
        not-done or entered-in-error.
    Why:
        The post-placement radiograph or CT shows where the markers or dosimeter sit relative to the
        target; radiation oncology plans from it, and it is the record that supports the placement code.
    Example:
        A claim for ``49411`` with a Procedure that has no ``report`` and no ImagingStudy, and no
        ``Claim.supportingInfo``.
    Fix:
        Link the post-placement imaging (ImagingStudy or DiagnosticReport) to the Procedure, or attach it
        to the claim as supportingInfo.
    Source:
        An overview of CPT 49411 (post-placement imaging documents the marker position); the CPT 49411
        code page (positioning confirmed by imaging).
    """

    id = "DEV006"
    needs = frozenset({"Procedure", "DiagnosticReport", "ImagingStudy"})
    name = "devices.position-imaging"
    family = "devices"
    triggers = staticmethod(device_codes)
    severity = Severity.WARNING
    issue_type = "required"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for line in device_lines(ctx.submission, "Claim", "Procedure"):
            case = case_of(ctx.submission, line)
            if case is None or not case.submitted_procedure or case.supporting_info:
                continue
            for proc in line.procedures:
                if proc.resource_type != "Procedure" or proc.path in seen or proc.status in _NOT_PERFORMED:
                    continue
                seen.add(proc.path)
                if proc.reports:
                    continue
                yield self.finding(
                    f"The Procedure for {line.cpt} links no post-placement imaging (ImagingStudy or "
                    "DiagnosticReport) and the claim has no supportingInfo: link the images or report that show "
                    "where the markers or dosimeter sit.",
                    proc.path,
                    diagnostics=(
                        "Seeds 002_8dafaa6a1b2c017b and 004_77778cb5e6510739: post-placement imaging documents "
                        "the device position relative to the target."
                    ),
                )
