"""Human-readable output, grouped by input resource; coloured on a terminal (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from fhirplugin.engine import Result
from fhirplugin.findings import Severity
from fhirplugin.reporters.fixes import describe

STYLE = {
    Severity.FATAL: "bold red",
    Severity.ERROR: "red",
    Severity.WARNING: "yellow",
    Severity.INFORMATION: "cyan",
}


def _title(r: Result) -> str:
    where = r.source + (f":{r.line}" if r.line is not None else "")
    if r.resource_type is None:
        return f"{where} (not read as FHIR)"  # no version to speak of: nothing could be read
    what = r.resource_type
    if r.resource_id:
        what += f"/{r.resource_id}"
    return f"{where} {what} (FHIR {r.fhir_version})"


def checked(results: Sequence[Result]) -> str:
    """What was checked, by type: "1 Bundle (10 entries)", "2 Claims, 1 input not read as FHIR"."""
    counts: dict[str, list[int]] = {}
    for r in results:
        key = r.resource_type or ""
        n = counts.setdefault(key, [0, 0])
        n[0] += 1
        n[1] += r.entries or 0
    parts = []
    for rtype, (n, entries) in counts.items():
        if not rtype:
            parts.append(f"{n} input{'s' if n != 1 else ''} not read as FHIR")
            continue
        part = f"{n} {rtype}{'s' if n != 1 else ''}"
        if rtype == "Bundle":
            part += f" ({entries} entr{'y' if entries == 1 else 'ies'})"
        parts.append(part)
    return ", ".join(parts) or "nothing"


def write(results: Sequence[Result], out: TextIO, *, color: bool | None = None) -> None:
    from rich.console import Console  # only the text format needs rich
    from rich.markup import escape

    console = Console(
        file=out, force_terminal=color, no_color=color is False, highlight=False, soft_wrap=True
    )
    counts = dict.fromkeys(Severity, 0)
    for r in results:
        console.print(f"[bold]{escape(_title(r))}[/bold]")
        if not r.findings:
            console.print("  [green]ok[/green]  no problems found")
        for f in r.findings:
            counts[f.severity] += 1
            where = ", ".join(f.expression) if f.expression else "-"
            console.print(
                f"  [{STYLE[f.severity]}]{f.severity.value:<11}[/]  [bold]{f.rule_id}[/bold]  {escape(where)}"
            )
            console.print(f"      {escape(f.text)}")
            if f.diagnostics:
                console.print(f"      [dim]{escape(f.diagnostics)}[/dim]")
            fix = describe(f.fix)
            if fix:
                console.print(f"      [green]fix:[/green] {escape(fix)}")
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no issues"
    console.print(f"{checked(results)} checked: {summary}")
