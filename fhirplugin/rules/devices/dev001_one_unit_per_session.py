from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.devices.data import DeviceCode, device_code, device_codes, device_lines

if TYPE_CHECKING:
    from fhirplugin.tx.store import Terminology


def _groups(lines: list[ServiceLine]) -> dict[tuple, list[ServiceLine]]:
    """Lines grouped by (resource type, patient, provider, date, code), in input order."""
    out: dict[tuple, list[ServiceLine]] = {}
    for line in lines:
        date: dt.date | str | None = line.date if line.date is not None else f"?{line.resource_path}"
        out.setdefault((line.resource_type, line.patient, line.provider, date, line.cpt), []).append(line)
    return out


def _diagnostics(tx: Terminology, dc: DeviceCode) -> str:
    text = (
        f"CPT descriptor of {dc.code}: single or multiple devices, so one unit covers every marker or "
        f"dosimeter of the session ({dc.source}; seeds 002_8dafaa6a1b2c017b and 004_77778cb5e6510739)."
    )
    mue = tx.mue.get(dc.code)
    if mue is None:
        return text + f" The loaded MUE table has no value for {dc.code}."
    return text + f" MUE {dc.code}: {mue.value}, MAI {mue.mai_text} (source {mue.source})."


@register
class OneUnitPerSession(Rule):
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
    needs = frozenset({"Procedure", "Device"})
    name = "devices.one-unit-per-session"
    family = "devices"
    triggers = staticmethod(device_codes)
    restates_mue = staticmethod(lambda: [c for c, dc in device_codes().items() if dc.one_unit])
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        lines = [
            line
            for line in device_lines(ctx.submission, "Claim", "ServiceRequest")
            if (dc := device_code(line)) is not None and dc.one_unit
        ]
        for group in _groups(lines).values():
            first, extra = group[0], group[1:]
            dc = device_code(first)
            if dc is None:  # pragma: no cover - filtered above
                continue
            diagnostics = _diagnostics(ctx.tx, dc)
            order = first.resource_type == "ServiceRequest"
            units = first.units
            if units.value is not None and units.path is not None and units.value > 1:
                yield self.finding(
                    f"{dc.code} covers every marker or dosimeter placed in the session: "
                    f"{'order' if order else 'report'} 1 unit, not {units.value:g}.",
                    units.path,
                    diagnostics=diagnostics,
                    fix={"action": "set-units", "path": units.path.removesuffix(".value"), "value": 1},
                )
            what = "order" if order else "line"
            for line in extra:
                yield self.finding(
                    f"This is a further {dc.code} {what} for the same patient, provider and date: {dc.code} is "
                    f"{'ordered' if order else 'reported'} once per session however many devices were placed; "
                    f"delete this {what}.",
                    line.path,
                    diagnostics=diagnostics,
                    fix={"action": "delete-line", "path": line.path},
                )
