from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ProcedureInfo
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.drainage.data import (
    count,
    documented_procedures,
    drainage_code,
    drainage_codes,
    drainage_lines,
    session_groups,
)


def catheterised(proc: ProcedureInfo) -> tuple[int | None, str]:
    """Collections this documentation shows drained with their own catheter, and how it shows it.

    The collection-count extension when present, else the devices not removed in the session; None
    when the resource says neither (nothing to compare).
    """
    if proc.collections is not None:
        n = proc.collections
        return n, f"{proc.path}: collection count {n}"
    if proc.devices:
        n = sum(1 for d in proc.devices if d.action != "removed")
        return n, f"{proc.path}: {n} catheter(s) not removed"
    return None, ""


@register
class UnitsVsCollections(Rule):
    """More units or lines of a drainage code than collections drained with their own catheter.

    What it checks:
        For 10030, 49405, 49406 and 49407, the units of one code on one date for one patient and provider
        (all lines added up; claim lines, or orders with a quantity) against the collections the linked
        documentation shows: the collection-count extension of the Procedure (or order), else the catheters
        on the Procedure that were not removed. With no such documentation there is nothing to compare and
        no finding; a drainage whose catheters were all removed is left to DRN005.
    Why:
        The unit of these codes is one collection drained through its own catheter: two catheters in one
        abscess are one unit, and units beyond the catheterised collections are denied. The Medicare MUE for
        the date is checked separately by the generic MUE rule.
    Example:
        ``49406`` with ``quantity 2`` while the Procedure shows one catheter left in one collection.
    Fix:
        Report one unit per separate collection drained with its own catheter; if a second collection was
        drained, document it (its site and catheter) on the Procedure.
    Source:
        CPT guidance for image-guided fluid collection drainage by catheter (10030, 49405-49407): one
        unit per collection drained with a separate catheter.
    """

    id = "DRN002"
    needs = frozenset({"Procedure"})
    name = "drainage.units-vs-collections"
    family = "drainage"
    triggers = staticmethod(drainage_codes)
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        lines = drainage_lines(ctx.submission, "Claim", "ServiceRequest")
        for group in session_groups(lines).values():
            procs = documented_procedures(group, "Procedure", "ServiceRequest")
            if not procs:
                continue
            counts = [catheterised(p) for p in procs]
            if any(n is None for n, _ in counts):
                continue
            documented = sum(n or 0 for n, _ in counts)
            if documented < 1:
                continue
            total, flagged = 0.0, []
            for line in group:
                total += line.unit_count
                if total > documented:
                    flagged.append(line.units.path or line.path)
            if not flagged:
                continue
            code = group[0].cpt or ""
            dc = drainage_code(group[0])
            what = "ordered" if group[0].resource_type == "ServiceRequest" else "reported"
            yield self.finding(
                f"{code} is {what} for {count(total, 'unit')} on {count(len(group), 'line')} for this date, but "
                f"the documentation shows {count(documented, 'collection')} drained with its own catheter; "
                f"report one unit per catheterised collection.",
                flagged,
                diagnostics=(
                    f"One unit of {code} per collection drained through a separate catheter (CPT "
                    f"instruction; {dc.source if dc else ''}). Documented: "
                    + "; ".join(words for _, words in counts)
                    + "."
                ),
            )
