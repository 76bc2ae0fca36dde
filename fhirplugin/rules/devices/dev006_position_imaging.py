"""DEV006, a documentation-present rule (:mod:`fhirplugin.rules.templates.documentation`): imaging of the
device position linked to the Procedure."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.devices.data import FAMILY
from fhirplugin.rules.templates import documentation


@register
class PositionImaging(documentation.ImagingLinked):
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
    data = FAMILY
    text = (
        "The Procedure for {code} links no post-placement imaging (ImagingStudy or DiagnosticReport) and the "
        "claim has no supportingInfo: link the images or report that show where the markers or dosimeter sit."
    )
    diagnostics = (
        "Seeds 002_8dafaa6a1b2c017b and 004_77778cb5e6510739: post-placement imaging documents the device "
        "position relative to the target."
    )
