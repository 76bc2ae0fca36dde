"""DRN001, a guidance-included rule (:mod:`fhirplugin.rules.templates.guidance`) on the drainage tables."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.drainage.data import FAMILY
from fhirplugin.rules.templates import guidance


@register
class GuidanceIncluded(guidance.GuidanceIncluded):
    """Imaging guidance billed or ordered with an image-guided drainage code that already includes it.

    What it checks:
        A line coded 75989, 76942, 77002, 77003, 77012 or 77021 for the same patient, provider and date
        as a line coded 10030, 49405, 49406 or 49407 (claim lines with claim lines and the Procedures
        they document; orders with orders). The pairs come from ``terminology/drainage/guidance-included.csv``.
        On another date there is no finding. When the loaded NCCI PTP table has the pair with modifier
        indicator 1 and the guidance line carries an NCCI PTP-associated modifier (59, XS, ...), the
        finding drops to a warning that asks for the documentation.
    Why:
        Since CPT 2014 the catheter drainage codes include the imaging guidance (the old separate
        supervision-and-interpretation pairing was retired); guidance billed beside them is unbundling
        and is denied.
    Example:
        ``49407`` and ``76942`` on one claim, same date of service; an order for ``49406`` and an order for
        ``77012`` signed the same day.
    Fix:
        Remove the guidance line (or the guidance order). Keep it only if the guidance served another,
        separately reportable procedure, add the fitting modifier and document it.
    Source:
        CPT guidance for image-guided fluid collection drainage by catheter (10030, 49405-49407:
        imaging guidance included, 75989, 76942, 77002, 77003, 77012 and 77021 not reported with them);
        CMS NCCI PTP edits and their modifier indicators (NCCI Policy Manual, chapter I).
    """

    id = "DRN001"
    name = "drainage.guidance-included"
    family = "drainage"
    data = FAMILY
    noun_one, noun_many = "drainage code", "drainage codes"
    included = (
        "Imaging guidance {code} is included in {noun} {primaries} {where} for the same patient, provider and "
        "date; remove the {code} {what}."
    )
    bypassed = (
        "Imaging guidance {code} carries modifier {mods} beside {primaries} {where} for the same patient and "
        "date: keep it only if the record shows the guidance was for a different procedure than the drainage, "
        "otherwise remove the {what}."
    )
    diagnostics = (
        "CPT instruction: {primaries} {includes} the imaging guidance; {code} is not reported with {it} "
        "({sources}). {edits}"
    )
    inferred = " (built-in row inferred from the CPT instruction, not read from a CMS file)"
