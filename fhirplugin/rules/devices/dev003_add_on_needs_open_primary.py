"""DEV003, an add-on-needs-primary rule (:mod:`fhirplugin.rules.templates.addon`) on the device tables."""

from __future__ import annotations

from fhirplugin.rules.base import register
from fhirplugin.rules.devices.data import FAMILY, DeviceCode, region_words
from fhirplugin.rules.templates import addon


@register
class AddOnNeedsOpenPrimary(addon.AddOnNeedsPrimary):
    """An open device placement add-on (49412) without its open primary procedure, or beside 49411.

    What it checks:
        For claim lines and orders coded 49412 (add-on per ``terminology/cpt/codes.csv``, open approach
        per ``terminology/devices/codes.csv``): another line of the same session (same patient, provider
        and date; claim lines with claim lines, orders with orders) must be an open primary procedure as
        ``terminology/devices/open-primary.csv`` defines it: a CPT Surgery-section code that is not an
        add-on, not documented with a non-open approach (laparoscopic, percutaneous, ...) and not of a
        family that never is open surgery (imaging guidance, device placement, image-guided drainage...).
        A surgical code with no approach documented is taken as the open primary. Missing on a claim →
        error; missing among orders → warning (the surgery may be ordered apart). Separately, 49411
        (percutaneous) and 49412 (open) in one session → error on both codes.
    Why:
        An add-on code is paid only with its primary procedure (NCCI add-on code edits); 49412 describes
        devices placed during open surgery, so its primary is that open procedure. One session's devices
        are placed by one approach: 49411 and 49412 together report the same placement twice.
    Example:
        ``49412`` alone on a claim; ``49412`` with ``99213`` only; ``49412`` beside a laparoscopic
        colectomy (that is ``49327``); ``49411`` and ``49412`` on one claim for one date.
    Fix:
        Report 49412 with the open procedure it was done with (add that line), or, if the devices were
        placed through the skin, report 49411 instead. With both 49411 and 49412, keep the one that matches
        the documented approach: the fix deletes 49411 when an open primary is in the session, else 49412.
    Source:
        CPT code descriptor of add-on code 49412 (open approach, with the primary procedure); CMS
        Physician Fee Schedule global period ZZZ for 49412; CMS NCCI add-on code edits; the 49327, 49412
        and 49411 cross-references. The list of primary codes CMS allows for 49412 was not available, so
        the open-primary criteria are partly inferred (such rows make the finding unverified).
    """

    id = "DEV003"
    name = "devices.add-on-open-primary"
    family = "devices"
    data = FAMILY
    criteria_file = "open-primary.csv"
    scope = "an abdominal, pelvic or retroperitoneal procedure code"
    missing_order = (
        "{code} is an add-on code for devices placed during open surgery, but none of the orders for this "
        "patient and date is an open procedure in the {region}: order it with the open procedure, or order "
        "49411 if the devices are to be placed through the skin."
    )
    missing_claim = (
        "{code} is an add-on code for devices placed during open surgery, but no line for this patient, "
        "provider and date is an open procedure in the {region}: report the open procedure with it, report "
        "49327 instead if they were placed during a laparoscopic procedure, or 49411 if they were placed "
        "through the skin."
    )
    diagnostics = (
        "{code} is an add-on code (terminology/cpt/codes.csv, {source}) for devices placed during an open "
        "procedure; the primary must be reported for the same patient, provider and date. Checked against "
        "{criteria}: {seen}."
    )
    conflict = (
        "{a} ({a_approach}) and {b} ({b_approach}) are both {done} for the same patient, provider and date: "
        "the devices of one session are placed by one approach; keep {keep} and delete the {drop} {what}."
    )
    conflict_diagnostics = (
        "{a}: {a_approach} placement; {b}: {b_approach} placement (terminology/devices/codes.csv; {a_source}; "
        "{b_source}). Suggested deletion of {drop} because {why}."
    )
    with_primary = "an open primary is in the session ({reason})"
    without_primary = "no open primary procedure is in the session"

    def region(self, row: DeviceCode) -> str:
        return region_words(row.region)
