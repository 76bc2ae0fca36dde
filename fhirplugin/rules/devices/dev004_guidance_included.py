"""DEV004, a guidance-included rule (:mod:`fhirplugin.rules.templates.guidance`) on the device tables."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.devices.data import FAMILY
from fhirplugin.rules.templates import guidance


@register
class GuidanceIncluded(guidance.GuidanceIncluded):
    """Imaging guidance billed or ordered with open device placement (49412), which includes it.

    What it checks:
        A line coded 76942, 77002, 77012 or 77021 for the same patient, provider and date as a 49412
        line (claim lines with claim lines and the Procedures they document; orders with orders). The
        pairs come from ``terminology/devices/guidance-included.csv``. Guidance beside 49411 gets no
        finding: it is reported separately with the percutaneous code, so 49411 is not in that table. On
        another date there is no finding. When the loaded NCCI PTP table has the pair with modifier
        indicator 1 and the guidance line carries an NCCI PTP-associated modifier, the finding drops to a
        warning that asks for the documentation.
    Why:
        The 49412 descriptor includes imaging guidance when it is performed; guidance billed beside it is
        unbundling and is denied. With 49411 the guidance is a separate service and is paid.
    Example:
        ``49412`` and ``76942`` on one claim for one date (error on the 76942 line); ``49411`` and
        ``77012`` (no finding).
    Fix:
        Remove the guidance line or order (fix ``delete-line``). Keep it only if the guidance served another,
        separately reportable procedure; then add the fitting modifier and document it.
    Source:
        CPT code descriptor of 49412 (imaging guidance included); CPT guidance that imaging guidance
        is reported separately with 49411 (from memory, unverified); CMS NCCI PTP edits and their modifier
        indicators (NCCI Policy Manual, chapter I).
    """

    id = "DEV004"
    name = "devices.guidance-included"
    family = "devices"
    data = FAMILY
    noun_one = noun_many = "open device placement"
    included = (
        "Imaging guidance {code} is included in {noun} {primaries} {where} for the same patient, provider and "
        "date; remove the {code} {what}."
    )
    bypassed = (
        "Imaging guidance {code} carries modifier {mods} beside {primaries} {where} for the same patient and "
        "date: keep it only if the record shows the guidance served another procedure, otherwise remove the "
        "{what}."
    )
    pair_source = "{primary}/{guidance}: {note} ({source})"
    diagnostics = "{sources}. Imaging guidance with 49411 is reported separately and is not flagged. {edits}"
