"""DRN007, a documentation-present rule (:mod:`fhirplugin.rules.templates.documentation`): imaging linked
to the drainage Procedure."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.drainage.data import FAMILY
from fhirplugin.rules.templates import documentation


@register
class ImagingDocumentation(documentation.ImagingLinked):
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
    data = FAMILY
    skip_not_performed = False
    text = (
        "The Procedure for {code} links no imaging record (DiagnosticReport or ImagingStudy) and the claim has "
        "no supportingInfo: link the images or report that show the collection and the catheter position."
    )
    diagnostics = "Seed 000_fd25ab081c3e8cfb: accurate imaging documentation supports the code."
