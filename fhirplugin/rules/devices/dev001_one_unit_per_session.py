"""DEV001, a units-vs-documented-count rule (:mod:`fhirplugin.rules.templates.units`): one unit per
session for the device codes whose row says ``one_unit``."""

from __future__ import annotations

from fhirplugin.rules.base import RuleContext, register
from fhirplugin.rules.devices.data import FAMILY, DeviceCode
from fhirplugin.rules.templates import units


@register
class OneUnitPerSession(units.OneUnitPerSession):
    """A fiducial-marker or dosimeter placement code reported more than once for one session.

    What it checks:
        Claim lines and orders coded 49411 or 49412 (the codes with ``one_unit`` in
        ``terminology/devices/codes.csv``): a line with more than one unit, and every further line with
        the same code for the same patient, provider and date of service (claim lines with claim lines,
        orders with orders; lines of one claim without a date count as one session).
    Why:
        The descriptor says "single or multiple": the code is reported once for the session whether one
        marker or five were placed. Extra units or lines are denied, and repeated lines read as
        duplicate billing.
    Example:
        ``49411`` with ``quantity 3`` for three gold markers; two ``49411`` lines on 2026-03-02, one per
        marker.
    Fix:
        Set the units to 1 (fix ``set-units``), or delete the extra line or order (fix ``delete-line``).
        Document the number of devices in the procedure note instead.
    Source:
        CPT code descriptors of 49411 and 49412 (Surgery: Digestive System, abdomen, peritoneum and
        omentum), "single or multiple" devices; the CPT 49411 code page and an overview of 49411.
    """

    id = "DEV001"
    name = "devices.one-unit-per-session"
    family = "devices"
    data = FAMILY
    too_many = "{code} covers every marker or dosimeter placed in the session: {verb} 1 unit, not {units}."
    further = (
        "This is a further {code} {what} for the same patient, provider and date: {code} is {done} once per "
        "session however many devices were placed; delete this {what}."
    )

    def diagnostics(self, ctx: RuleContext, row: DeviceCode) -> str:
        text = (
            f"CPT descriptor of {row.code}: single or multiple devices, so one unit covers every marker or "
            f"dosimeter of the session ({row.source}; seeds 002_8dafaa6a1b2c017b and 004_77778cb5e6510739)."
        )
        mue = ctx.tx.mue.get(row.code)
        if mue is None:
            return text + f" The loaded MUE table has no value for {row.code}."
        return text + f" MUE {row.code}: {mue.value}, MAI {mue.mai_text} (source {mue.source})."
