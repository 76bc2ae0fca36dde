"""Turn bytes into top-level JSON values, safely: size cap, depth cap, JSON or NDJSON.

Nothing here raises on bad input: every problem becomes an :class:`InputProblem` that the
engine reports as an OperationOutcome issue, and the other resources in the input still run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypedDict

import orjson

from fhirplugin.jsontypes import JSONObject, JSONValue

DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # one resource (one JSON document or one NDJSON line)
DEFAULT_MAX_DEPTH = 64  # FHIR resources nest ~15 deep; Bundle + contained stays well below this


@dataclass(slots=True)
class InputProblem:
    code: str  # INP001 not JSON, INP004 too large / too deep, INP006 not a JSON object
    text: str
    diagnostics: str | None = None


@dataclass(slots=True)
class RawInput:
    """One top-level value read from a file, a line of NDJSON, or an HTTP body."""

    index: int  # 0-based position among the inputs of this source
    line: int | None  # 1-based line in the source for NDJSON, None for a whole-file document
    value: JSONObject | None = None  # the parsed object; None when a problem stopped the reading
    problems: list[InputProblem] = field(default_factory=list)


_CONTAINERS = (dict, list)


def too_deep(value: JSONValue, limit: int) -> bool:
    """True when JSON nesting (objects and arrays) exceeds ``limit``; iterative, so hostile input
    cannot exhaust the stack."""
    if not isinstance(value, _CONTAINERS):
        return False
    stack: list[tuple[JSONObject | list[JSONValue], int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > limit:
            return True
        depth += 1
        for v in item.values() if isinstance(item, dict) else item:
            if isinstance(v, _CONTAINERS):
                push((v, depth))
    return False


def depth_problem(line: int | None, max_depth: int) -> InputProblem:
    """INP004 for JSON nested deeper than ``max_depth`` (``line``: NDJSON line, None for a document)."""
    where = f"Line {line}" if line is not None else "The input"
    return InputProblem(
        "INP004", f"{where} nests JSON deeper than {max_depth} levels; no FHIR resource does."
    )


def _describe(exc: Exception) -> str:
    msg = str(exc)
    return msg.split(": line")[0] if msg else exc.__class__.__name__


def parse_document(
    data: bytes,
    *,
    index: int = 0,
    line: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    check_depth: bool = True,
) -> RawInput:
    """Parse one JSON document (a whole file or one NDJSON line).

    ``check_depth=False`` leaves the depth of a JSON object to the caller: the engine proves it on
    the way (:func:`fhirplugin.fhir.fast.accepts`) or calls :func:`too_deep` before anything else
    walks the value. Anything but an object is still checked here.
    """
    raw = RawInput(index=index, line=line)
    where = f"line {line}" if line is not None else "the input"
    if len(data) > max_bytes:
        raw.problems.append(
            InputProblem(
                "INP004",
                f"{where.capitalize()} is {len(data):,} bytes, above the {max_bytes:,}-byte limit for one resource; "
                "split it (NDJSON, one resource per line) or raise the limit (FHIRPLUGIN_MAX_RESOURCE_BYTES).",
            )
        )
        return raw
    try:
        value: JSONValue = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc).lower() or "recursion" in str(exc).lower():
            raw.problems.append(depth_problem(line, max_depth))
        elif what := not_text(data):
            problem = _not_text_problem(what)
            if line is not None:
                problem.text = problem.text.replace("The input", f"Line {line}", 1)
            raw.problems.append(problem)
        else:
            raw.problems.append(
                InputProblem(
                    "INP001",
                    f"{where.capitalize()} is not valid JSON: {_describe(exc)}.",
                    diagnostics=f"JSON decoder: {exc}",
                )
            )
        return raw
    if (check_depth or type(value) is not dict) and too_deep(value, max_depth):
        raw.problems.append(depth_problem(line, max_depth))
        return raw
    if not isinstance(value, dict):
        raw.problems.append(
            InputProblem(
                "INP006",
                f"{where.capitalize()} is a JSON {type(value).__name__ if value is not None else 'null'}, "
                "not a JSON object; a FHIR resource is an object with a resourceType.",
            )
        )
        return raw
    raw.value = value
    return raw


_MAGIC = (
    (b"%PDF", "a PDF file"),
    (b"PK\x03\x04", "a ZIP file (or an Office document)"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
)


def not_text(data: bytes) -> str | None:
    """What ``data`` looks like when it is not UTF-8 text ("a PDF file", "a binary file"), else None.

    Only the first 64 KiB are looked at: enough to tell a document or an image from JSON, cheap on a
    large NDJSON file. A NUL byte counts as binary (JSON text never holds one unescaped).
    """
    import codecs

    head = data[:65536]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if b"\x00" in head:
        return "a binary file"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(data) <= len(head))
    except UnicodeDecodeError:
        return "a binary file or text in another encoding"
    return None


def _not_text_problem(what: str) -> InputProblem:
    return InputProblem(
        "INP001", f"The input is not UTF-8 text: it looks like {what}. FHIR JSON is UTF-8 text."
    )


class _ReadOptions(TypedDict):
    max_bytes: int
    max_depth: int
    check_depth: bool


def split_inputs(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    check_depth: bool = True,
    ndjson: bool | None = None,
) -> list[RawInput]:
    """Read a whole file: one JSON document, or NDJSON (one resource per line).

    ``ndjson=True`` (a file named ``*.ndjson``) reads it line by line whatever its lines hold;
    ``None`` guesses: NDJSON when the first line is a JSON object on its own, or when the whole
    input is not one JSON document but another of its lines is a resource on its own (a broken first
    line must not hide the good lines after it); otherwise one document.
    """
    opts: _ReadOptions = {"max_bytes": max_bytes, "max_depth": max_depth, "check_depth": check_depth}
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    what = not_text(data)
    if what:
        return [RawInput(0, None, problems=[_not_text_problem(what)])]
    stripped = data.strip()
    if not stripped:
        return [RawInput(0, None, problems=[InputProblem("INP001", "The input is empty: no JSON found.")])]
    if ndjson:
        return list(iter_ndjson(data, **opts))
    lines = [ln for ln in stripped.split(b"\n") if ln.strip()]
    if len(lines) > 1:
        if _standalone_object(lines[0]):
            return list(iter_ndjson(data, **opts))
        whole = parse_document(data, **opts)
        if not any(p.code == "INP001" for p in whole.problems):
            return [whole]
        if any(_standalone_object(ln, resource=True) for ln in lines[1:]):
            return list(iter_ndjson(data, **opts))
        return [whole]
    return [parse_document(data, **opts)]


def _standalone_object(line: bytes, *, resource: bool = False) -> bool:
    """A line that is a whole JSON object (with a resourceType when ``resource``)."""
    s = line.strip()
    if not (s.startswith(b"{") and s.endswith(b"}")):
        return False
    try:
        value = orjson.loads(s)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and (not resource or "resourceType" in value)


def iter_ndjson(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    check_depth: bool = True,
) -> Iterator[RawInput]:
    """Yield one RawInput per non-blank NDJSON line, numbering lines from 1."""
    index = 0
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        yield parse_document(
            line, index=index, line=lineno, max_bytes=max_bytes, max_depth=max_depth, check_depth=check_depth
        )
        index += 1
