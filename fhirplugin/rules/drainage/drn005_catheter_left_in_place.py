from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.common import join_or
from fhirplugin.rules.drainage.data import (
    documented_procedures,
    drainage_code,
    drainage_codes,
    drainage_lines,
)

_NOT_PERFORMED = ("not-done", "entered-in-error")


def _example(dc) -> str:
    """Which aspiration code fits the drainage code's site, from the family table."""
    if not dc.aspiration_codes:
        return " (it depends on the site)"
    codes = join_or(dc.aspiration_codes)
    if not dc.aspiration_guidance:
        return f" (for example {codes}, which includes the imaging guidance)"
    return f" (for example {codes}, with the imaging guidance {join_or(dc.aspiration_guidance)})"


@register
class CatheterLeftInPlace(Rule):
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
    triggers = staticmethod(drainage_codes)
    severity = Severity.WARNING
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for line in drainage_lines(ctx.submission, "Claim", "Procedure"):
            dc = drainage_code(line)
            code = line.cpt or ""
            instead = ""
            if dc is not None:
                instead = f"report the aspiration code for the site instead of {code}" + _example(dc)
            for proc in documented_procedures([line]):
                if proc.path in seen or proc.status in _NOT_PERFORMED:
                    continue
                seen.add(proc.path)
                if any(d.action == "implanted" for d in proc.devices):
                    continue
                removed = [d for d in proc.devices if d.action == "removed"]
                diagnostics = f"Indwelling catheter required for {code} ({dc.source if dc else 'CPT'})."
                if removed and len(removed) == len(proc.devices):
                    yield self.finding(
                        f"The catheter for {code} was removed in the same session: without an indwelling "
                        f"catheter, {instead}.",
                        removed[0].path,
                        diagnostics=diagnostics,
                    )
                elif proc.devices:
                    yield self.finding(
                        f"The Procedure for {code} lists a device but not as left in place: document the "
                        f"catheter left to drain (focalDevice action implanted), or, if none stayed, {instead}.",
                        proc.devices[0].path,
                        diagnostics=diagnostics,
                    )
                else:
                    yield self.finding(
                        f"The Procedure for {code} documents no catheter left in place: add it (focalDevice "
                        f"with action implanted), or, if the collection was only aspirated, {instead}.",
                        proc.path,
                        diagnostics=diagnostics,
                    )
