"""DRN005, a documentation-present rule (:mod:`fhirplugin.rules.templates.documentation`): the drainage
catheter left in place."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.common import join_or
from fhirplugin.rules.drainage.data import FAMILY, DrainageCode
from fhirplugin.rules.templates import documentation


def _example(dc: DrainageCode) -> str:
    """Which aspiration code fits the drainage code's site, from the family table."""
    if not dc.aspiration_codes:
        return " (it depends on the site)"
    codes = join_or(dc.aspiration_codes)
    if not dc.aspiration_guidance:
        return f" (for example {codes}, which includes the imaging guidance)"
    return f" (for example {codes}, with the imaging guidance {join_or(dc.aspiration_guidance)})"


@register
class CatheterLeftInPlace(documentation.DeviceLeftInPlace):
    """An image-guided drainage code whose Procedure does not show a catheter left in place.

    What it checks:
        For 10030, 49405, 49406 and 49407 on a claim line or a submitted Procedure: the linked Procedure
        resource must name a device left in place (``focalDevice`` with an implant/insert/left-in-place
        action). No device, devices only listed as used, or every device removed in the session → warning.
        Without a Procedure there is nothing to judge and no finding; orders are not judged.
    Why:
        These codes describe placing a catheter that stays to keep draining. When the fluid was only
        aspirated, or the catheter came out at the end of the session, an aspiration code is reported
        instead (the site-specific one, or 10160 with the imaging-guidance code).
    Example:
        ``49406`` with a Procedure whose catheter ``focalDevice.action`` is ``removed``.
    Fix:
        Document the catheter left in place (focalDevice with action implanted), or, if none stayed,
        replace the drainage code by the aspiration code and bill the needle guidance with it.
    Source:
        CPT guidance for catheter drainage (an indwelling catheter left at the end of the session),
        as explained in ACR Clinical Examples in Radiology, Spring 2015.
    """

    id = "DRN005"
    needs = frozenset({"Procedure", "Device"})
    name = "drainage.catheter-left-in-place"
    family = "drainage"
    data = FAMILY
    removed = "The catheter for {code} was removed in the same session: without an indwelling catheter, {instead}."
    not_left = (
        "The Procedure for {code} lists a device but not as left in place: document the catheter left to drain "
        "(focalDevice action implanted), or, if none stayed, {instead}."
    )
    none = (
        "The Procedure for {code} documents no catheter left in place: add it (focalDevice with action "
        "implanted), or, if the collection was only aspirated, {instead}."
    )
    diagnostics = "Indwelling catheter required for {code} ({source})."

    def instead(self, code: str, row: DrainageCode) -> str:
        return f"report the aspiration code for the site instead of {code}" + _example(row)
