from __future__ import annotations

from collections.abc import Iterator

from fhirplugin.fhir.case import ServiceLine
from fhirplugin.findings import Finding, Severity
from fhirplugin.rules.base import Rule, RuleContext, register
from fhirplugin.rules.common import join_or
from fhirplugin.rules.drainage.data import (
    REPEAT,
    SEPARATE_COLLECTION,
    drainage_code,
    drainage_codes,
    drainage_lines,
    modifier_uses,
    modifiers_for,
)


def _mods(line: ServiceLine) -> set[str]:
    return {m.code.strip().upper() for m in line.modifiers}


def _sites(line: ServiceLine) -> set[tuple[str | None, str]]:
    return {(c.system, c.code) for c in line.all_body_sites()}


def _procs(line: ServiceLine) -> set[str]:
    return {p.path for p in line.procedures if p.resource_type == "Procedure"}


def _by_other_physician(line: ServiceLine, earlier: list[ServiceLine]) -> bool:
    """The input names the line's rendering provider and every earlier line's, and none is the same."""
    if line.rendering_provider is None or not earlier:
        return False
    return all(
        o.rendering_provider is not None and o.rendering_provider != line.rendering_provider for o in earlier
    )


def _by_same_physician(line: ServiceLine, earlier: list[ServiceLine]) -> bool:
    """The input names the line's rendering provider, and an earlier line has the same one."""
    return line.rendering_provider is not None and any(
        o.rendering_provider == line.rendering_provider for o in earlier
    )


def _billed_together(lines: list[ServiceLine]) -> list[list[ServiceLine]]:
    """Lines of one code billed by one billing provider for one patient and date (whoever rendered
    them: 76 or 77 tells the payer which), two or more, in input order."""
    groups: dict[tuple, list[ServiceLine]] = {}
    for line in lines:
        when = line.date if line.date is not None else f"?{line.resource_path}"
        key = (line.patient, line.billing_provider or line.provider, when, line.cpt)
        groups.setdefault(key, []).append(line)
    return [g for g in groups.values() if len(g) >= 2]


@register
class DistinctOrRepeat(Rule):
    """A further same-day line of a drainage code without the modifier that says why it is there.

    What it checks:
        Claim lines with the same drainage code (10030, 49405, 49406, 49407) for one patient, billing
        provider and date. Every line after the first needs XS or 59 (a separate collection with its own
        catheter) or 76 or 77 (the drainage repeated the same day, by the same or another physician; the
        advice says 77 when the claim's care team names different rendering providers for the lines). A
        line that carries 76 or 77 while its own Procedure documents a different site from the other lines
        gets a warning: a separate collection is XS (or 59), not a repeat. So does 76 on a line whose
        rendering provider differs from the earlier lines', and 77 on one that shares it. Modifiers come from
        ``terminology/drainage/modifiers.csv``. 59 with XS on one line is left to GEN007.
    Why:
        Without a modifier the second line reads as a duplicate and is denied. Note that these codes have a
        date-of-service MUE (MAI 3): the modifiers separate the lines but never lift the per-day limit.
    Example:
        Two ``49406`` lines on 2026-03-02 for two abscesses, the second without a modifier.
    Fix:
        Add XS (or 59) to the line for the second collection, or 76/77 when the same drainage was repeated;
        document the separate site or the repeat.
    Source:
        CPT guidance for image-guided fluid collection drainage (one unit per collection with its own
        catheter); NCCI Policy Manual, chapter I (modifiers 59 and XE, XS, XP, XU); CPT Appendix A
        (modifiers 76 and 77).
    """

    id = "DRN003"
    needs = frozenset({"Procedure"})
    name = "drainage.distinct-or-repeat-modifier"
    family = "drainage"
    triggers = staticmethod(drainage_codes)
    severity = Severity.ERROR
    issue_type = "business-rule"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        groups = _billed_together(drainage_lines(ctx.submission, "Claim"))
        if not groups:
            return
        separate = set(modifiers_for(SEPARATE_COLLECTION))
        repeat = set(modifiers_for(REPEAT))
        sep_words = join_or(modifiers_for(SEPARATE_COLLECTION))
        same, other = modifiers_for(REPEAT, "same"), modifiers_for(REPEAT, "other")
        for group in groups:
            code = group[0].cpt or ""
            diagnostics = self._diagnostics(ctx, code, group)
            position = {id(line): n for n, line in enumerate(group)}
            lacking = [line for line in group if not (_mods(line) & (separate | repeat))]
            for line in lacking[1:]:
                earlier = group[: position[id(line)]]
                # a repeat is by the same physician unless the lines name different rendering providers
                who, rep_mods = (
                    ("another physician", other)
                    if _by_other_physician(line, earlier)
                    else ("the same physician", same)
                )
                yield self.finding(
                    f"This is a further {code} line for the same patient and date: add {sep_words} when it "
                    f"drains a separate collection with its own catheter, or {join_or(rep_mods)} when {who} "
                    f"repeated the drainage.",
                    line.path,
                    diagnostics=diagnostics,
                )
            for n, line in enumerate(group):
                yield from self._wrong_physician(line, group[:n], same, other, diagnostics)
            for line in group:
                mods = _mods(line)
                if not (mods & repeat) or (mods & separate):
                    continue
                others = [o for o in group if o is not line]
                mine, sites = _procs(line), _sites(line)
                if (
                    mine
                    and sites
                    and all(mine.isdisjoint(_procs(o)) for o in others)
                    and all(_sites(o) and sites.isdisjoint(_sites(o)) for o in others)
                ):
                    rep = next(m for m in line.modifiers if m.code.strip().upper() in repeat)
                    yield self.finding(
                        f"This {code} line carries {rep.code} (repeat), but its Procedure documents a different "
                        f"site from the other {code} line(s): a separate collection takes {sep_words}, not "
                        f"{rep.code}.",
                        rep.path,
                        severity=Severity.WARNING,
                        diagnostics=diagnostics,
                    )

    def _wrong_physician(
        self,
        line: ServiceLine,
        earlier: list[ServiceLine],
        same: tuple[str, ...],
        other: tuple[str, ...],
        diagnostics: str,
    ) -> Iterator[Finding]:
        """76 (same physician) on a line another rendering provider repeated, or 77 (another physician)
        on one the same rendering provider repeated; only when the input names the rendering providers."""
        for m in line.modifiers:
            code = m.code.strip().upper()
            if code in same and _by_other_physician(line, earlier):
                who, right = "is not the earlier line's: a repeat by another physician", join_or(other)
            elif code in other and _by_same_physician(line, earlier):
                who, right = "is an earlier line's: a repeat by the same physician", join_or(same)
            else:
                continue
            yield self.finding(
                f"This {line.cpt} line carries {code}, but its rendering provider (the claim's care team) {who} "
                f"takes {right}.",
                m.path,
                severity=Severity.WARNING,
                diagnostics=diagnostics,
            )

    @staticmethod
    def _diagnostics(ctx: RuleContext, code: str, group: list[ServiceLine]) -> str:
        uses = modifier_uses()
        dc = drainage_code(group[0])
        parts = [
            f"One unit of {code} per collection with its own catheter ({dc.source if dc else 'CPT'}); "
            + "; ".join(f"{m.code}: {m.note} ({m.source})" for m in uses.values())
            + "."
        ]
        mue = ctx.tx.mue.get(code)
        if mue is not None and not mue.per_line:
            total = sum(line.unit_count for line in group)
            parts.append(
                f"MUE {code}: {mue.value} per date of service, MAI {mue.mai_text}; units are added up over every "
                f"line of the date ({total:g} here) and 59, XS, 76 or 77 do not lift the limit; above it only "
                f"an appeal with documentation helps (MUE source {mue.source})."
            )
        return " ".join(parts)
