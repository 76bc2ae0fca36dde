"""The summary tables ``fhirplugin batch`` prints to stderr at the end of a run (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fhirplugin.findings import Severity

if TYPE_CHECKING:
    from rich.table import Table

    from fhirplugin.batch.runner import BatchSummary


def summary_tables(summary: BatchSummary, threshold: Severity) -> list[Table]:
    """Rich tables for the end of a run: totals, then issues by rule and severity."""
    from rich.table import Table

    totals = Table(title="fhirplugin batch", show_header=False, title_justify="left")
    totals.add_column("what")
    totals.add_column("value", justify="right")
    totals.add_row("files", f"{summary.sources:,}")
    totals.add_row("resources", f"{summary.resources:,}")
    totals.add_row("resources with issues", f"{summary.with_issues:,}")
    totals.add_row(f"resources failing (>= {threshold.value})", f"{summary.failing(threshold):,}")
    for sev in Severity:
        if summary.worst.get(sev.value):
            totals.add_row(f"  worst issue {sev.value}", f"{summary.worst[sev.value]:,}")
    if summary.unreadable:
        totals.add_row("unreadable paths", f"{len(summary.unreadable):,}")
    totals.add_row("jobs", str(summary.jobs))
    totals.add_row("elapsed", f"{summary.elapsed:.2f} s")
    totals.add_row("resources/s", f"{summary.rate:,.0f}")
    by_rule = Table(title="issues by rule and severity", title_justify="left")
    by_rule.add_column("rule")
    sevs = [s for s in Severity if any(k[1] == s.value for k in summary.issues)]
    for sev in sevs:
        by_rule.add_column(sev.value, justify="right")
    by_rule.add_column("total", justify="right")
    rules = sorted({k[0] for k in summary.issues})
    for rule in rules:
        counts = [summary.issues.get((rule, s.value), 0) for s in sevs]
        by_rule.add_row(rule, *[f"{n:,}" if n else "" for n in counts], f"{sum(counts):,}")
    return [totals, by_rule] if rules else [totals]
