from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.devices.data import (
    PrimaryJudgement,
    device_code,
    device_codes,
    device_lines,
    judge_primary,
    region_words,
    session_partners,
)

# a bill is judged with the other bills of the session, an order with the other orders
_PARTNERS = {"Claim": ("Claim",), "ServiceRequest": ("ServiceRequest",)}
_CRITERIA = "terminology/devices/open-primary.csv"


def _code_path(line: ServiceLine) -> str:
    return line.code.path if line.code is not None else line.code_path


@register
class AddOnNeedsOpenPrimary(Rule):
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
    needs = frozenset({"Procedure"})
    name = "devices.add-on-open-primary"
    family = "devices"
    triggers = staticmethod(device_codes)
    # two device codes of different approaches in one session: reported here as an approach conflict
    restates_ptp = staticmethod(
        lambda: [
            (a, b)
            for a, da in device_codes().items()
            for b, db in device_codes().items()
            if da.approach != db.approach
        ]
    )
    # the primary of the device add-on codes is judged here, against the open-primary criteria
    restates_aoc = staticmethod(lambda: [c for c, e in device_codes().items() if e.approach == "open"])
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        sub = ctx.submission
        lines = list(device_lines(sub, *_PARTNERS))
        for i, line in enumerate(lines):
            dc = device_code(line)
            entry = ctx.tx.cpt.get(line.cpt or "")
            if dc is None:  # pragma: no cover - device_lines yields device codes only
                continue
            partners = session_partners(sub, line, _PARTNERS[line.resource_type])
            add_on = entry is not None and entry.add_on
            conflicts = [
                other
                for other in lines[i + 1 :]
                if (odc := device_code(other)) is not None
                and odc.approach != dc.approach
                and any(o is other for o in partners)
            ]
            if not add_on and not conflicts:
                continue  # nothing to judge the partners for
            judged = [(o, judge_primary(ctx.tx, o)) for o in partners]
            primaries = [(o, j) for o, j in judged if j.counts]
            if add_on and not primaries:
                yield self._no_primary(line, judged, entry.verified, entry.source)
            for other in conflicts:
                yield self._conflict(line, other, primaries)

    def _no_primary(
        self,
        line: ServiceLine,
        judged: list[tuple[ServiceLine, PrimaryJudgement]],
        verified: bool,
        source: str,
    ) -> Finding:
        dc = device_code(line)
        code = line.cpt or ""
        order = line.resource_type == "ServiceRequest"
        region = region_words(dc.region) if dc else "the same region"
        seen = "; ".join(dict.fromkeys(j.reason for _, j in judged)) or "no other line in the session"
        diagnostics = (
            f"{code} is an add-on code (terminology/cpt/codes.csv, {source}) for devices placed during an open "
            f"procedure; the primary must be reported for the same patient, provider and date. Checked against "
            f"{_CRITERIA}: {seen}."
        )
        unverified = not verified or any(not j.verified for _, j in judged)
        if order:
            return self.finding(
                f"{code} is an add-on code for devices placed during open surgery, but none of the orders for this "
                f"patient and date is an open procedure in the {region}: order it with the open procedure, or order "
                f"49411 if the devices are to be placed through the skin.",
                _code_path(line),
                diagnostics=diagnostics,
                severity=Severity.WARNING,
                unverified=unverified,
            )
        return self.finding(
            f"{code} is an add-on code for devices placed during open surgery, but no line for this patient, "
            f"provider and date is an open procedure in the {region}: report the open procedure with it, report "
            f"49327 instead if they were placed during a laparoscopic procedure, or 49411 if they were placed "
            f"through the skin.",
            _code_path(line),
            diagnostics=diagnostics,
            unverified=unverified,
        )

    def _conflict(
        self, line: ServiceLine, other: ServiceLine, primaries: list[tuple[ServiceLine, PrimaryJudgement]]
    ) -> Finding:
        a, b = device_code(line), device_code(other)
        assert a is not None and b is not None
        open_line, closed_line = (line, other) if a.approach == "open" else (other, line)
        drop = closed_line if primaries else open_line
        keep = open_line if drop is closed_line else closed_line
        why = (
            f"an open primary is in the session ({primaries[0][1].reason})"
            if primaries
            else "no open primary procedure is in the session"
        )
        what = "order" if line.resource_type == "ServiceRequest" else "line"
        return self.finding(
            f"{a.code} ({a.approach}) and {b.code} ({b.approach}) are both "
            f"{'ordered' if what == 'order' else 'reported'} for the same patient, provider and date: the devices "
            f"of one session are placed by one approach; keep {keep.cpt} and delete the {drop.cpt} {what}.",
            [_code_path(line), _code_path(other)],
            diagnostics=(
                f"{a.code}: {a.approach} placement; {b.code}: {b.approach} placement (terminology/devices/codes.csv; "
                f"{a.source}; {b.source}). Suggested deletion of {drop.cpt} because {why}."
            ),
            fix={"action": "delete-line", "path": drop.path},
            unverified=True,
        )
