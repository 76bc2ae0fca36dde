"""Human-readable output, grouped by input resource; coloured on a terminal (rich).

Where rich would write no colour (a file or a pipe, ``color=False``), the same text is written
without importing rich (~15 ms of every start): rich's transformations of plain text are applied
as rich applies them (control codes stripped, ``:emoji:`` codes replaced, per markup span); text
with a tab (which rich expands by cell width) still goes through rich."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
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
        tally = counts.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += r.entries or 0
    parts = []
    for rtype, (count, entries) in counts.items():
        if not rtype:
            parts.append(f"{count} input{'s' if count != 1 else ''} not read as FHIR")
            continue
        part = f"{count} {rtype}{'s' if count != 1 else ''}"
        if rtype == "Bundle":
            part += f" ({entries} entr{'y' if entries == 1 else 'ies'})"
        parts.append(part)
    return ", ".join(parts) or "nothing"


# one printed line: the markup spans of :func:`write` as (style or "", text) pairs
Line = list[tuple[str, str]]


def _lines(results: Sequence[Result]) -> Iterator[Line]:
    counts = dict.fromkeys(Severity, 0)
    for r in results:
        yield [("bold", _title(r))]
        if not r.findings:
            yield [("", "  "), ("green", "ok"), ("", "  no problems found")]
        for f in r.findings:
            counts[f.severity] += 1
            where = ", ".join(f.expression) if f.expression else "-"
            yield [
                ("", "  "),
                (STYLE[f.severity], f"{f.severity.value:<11}"),
                ("", "  "),
                ("rule", f.rule_id),  # bold; written as it is (an id), not escaped
                ("", f"  {where}"),
            ]
            yield [("", f"      {f.text}")]
            if f.diagnostics:
                yield [("", "      "), ("dim", f.diagnostics)]
            fix = describe(f.fix)
            if fix:
                yield [("", "      "), ("green", "fix:"), ("", f" {fix}")]
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no issues"
    yield [("", f"{checked(results)} checked: {summary}")]


_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))  # what rich strips from text (rich.control)


def _rich_styles(out: TextIO, color: bool | None) -> bool:
    """Whether rich would take ``out`` for a terminal (rich.console.Console.is_terminal)."""
    if color is not None:
        return color
    if "IPython" in sys.modules:  # a notebook: rich renders there itself
        return True
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    isatty = getattr(out, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:
        return False


def _plain(piece: str) -> str:
    """``piece`` as rich writes it without styles: emoji codes replaced, then control codes dropped."""
    if piece.count(":") >= 2:
        from rich._emoji_replace import _emoji_replace

        piece = _emoji_replace(piece)
    return piece.translate(_CONTROL)


_TAG_LIKE = re.compile(r"\[[a-z#/@][^[]*?]")  # what rich.markup.escape escapes


def _rich_only(line: Line) -> bool:
    """Text rich changes in ways not copied here: tabs (expanded by cell width), backslashes and
    tag-like ``[x]`` (escaped, which splits rich's emoji replacement), markup in a rule id."""
    return any(
        "\t" in t or "\\" in t or _TAG_LIKE.search(t) or (style == "rule" and "[" in t)
        for style, t in line
    )


def write(results: Sequence[Result], out: TextIO, *, color: bool | None = None) -> None:
    lines = list(_lines(results))
    if not _rich_styles(out, color) and not any(_rich_only(line) for line in lines):
        out.writelines("".join(_plain(t) for _, t in line) + "\n" for line in lines)
        return
    _write_rich(lines, out, color)


def _write_rich(lines: list[Line], out: TextIO, color: bool | None) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(
        file=out, force_terminal=color, no_color=color is False, highlight=False, soft_wrap=True
    )
    for line in lines:
        console.print("".join(_markup(style, t, escape) for style, t in line))


def _markup(style: str, text: str, escape: Callable[[str], str]) -> str:
    if style == "rule":
        return f"[bold]{text}[/bold]"
    return f"[{style}]{escape(text)}[/]" if style else escape(text)
