"""The text report written without rich (to a file or a pipe) is byte for byte what rich writes."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from fhirplugin.engine import Result
from fhirplugin.findings import Finding, Severity
from fhirplugin.reporters import text

# the characters rich treats specially: markup brackets, backslashes, emoji codes, control codes, tabs
PIECES = st.sampled_from(
    ["a", "Z", "0", " ", ":", "[", "]", "\\", "\r", "\x07", "\x1b", "\t", "\n", "é", "漢", "😀", ":id:",
     ":warning:", ":ok:", "[bold]", "[/]", "\\[", ":smile-emoji:", "urn:oid:1", "item[0]", "[#x]"]
)  # fmt: skip
TEXT = st.lists(PIECES, max_size=12).map("".join)


@st.composite
def results(draw: st.DrawFn) -> list[Result]:
    out = []
    for i in range(draw(st.integers(0, 3))):
        r = Result(
            draw(TEXT) or "x",
            i,
            draw(st.sampled_from([None, 3])),
            draw(st.sampled_from([None, "Claim", "Bundle"])),
            draw(st.one_of(st.none(), TEXT)),
            "R4",
        )
        r.entries = draw(st.sampled_from([None, 2]))
        r.findings = [
            Finding(
                draw(st.sampled_from(["DRN001", "", "STR002"])),
                draw(st.sampled_from(list(Severity))),
                "invalid",
                draw(TEXT),
                draw(st.lists(TEXT, max_size=2)),
                draw(st.one_of(st.none(), TEXT)),
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
        out.append(r)
    return out


@settings(max_examples=400, deadline=None)
@given(results())
def test_plain_text_is_what_rich_writes(res: list[Result]) -> None:
    by_rich = io.StringIO()
    text._write_rich(list(text._lines(res)), by_rich, None)
    for color in (None, False):
        plain = io.StringIO()
        text.write(res, plain, color=color)
        assert plain.getvalue() == by_rich.getvalue()


def test_a_terminal_still_gets_colour() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    r = Result("f.json", 0, None, "Claim", "c1", "R4")
    r.findings = [Finding("DRN001", Severity.ERROR, "invalid", "wrong", ["Claim.item[0]"], None)]
    out = Tty()
    text.write([r], out)
    assert "\x1b[" in out.getvalue() and "Claim.item[0]" in out.getvalue()
