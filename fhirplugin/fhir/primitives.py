"""The primitive checks of the fast structural pre-check (:mod:`fhirplugin.fhir.fast`): one checker
per fhir_core primitive type, each made only when fhir_core still constrains the type the way the
checker assumes, and made again from its ``spec`` for the compiled tables."""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable
from functools import cache

Checker = Callable[[object], bool]

# ------------------------------------------------------------------------------------- primitives
_CACHE_MAX = 1 << 16  # verdicts remembered per date-like type (dates repeat a lot in real data)


def _tag(check: Callable[[object], bool], *spec) -> Callable[[object], bool]:
    """Remember how a checker was made (``spec``), so :mod:`fhirplugin.fhir.compiled` can store the
    table and :func:`checker_from_spec` can make the same checker again without the models."""
    check.spec = spec  # type: ignore[attr-defined]  # a function attribute; Callable does not declare it
    return check


def _utf8(v: str) -> bool:
    """pydantic-core cannot take a str with a lone surrogate (orjson never makes one)."""
    if v.isascii():
        return True
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _boolean(v) -> bool:
    return v is True or v is False


def _int_range(lo: int, hi: int) -> Callable[[object], bool]:
    def check(v) -> bool:
        return type(v) is int and lo <= v <= hi

    return _tag(check, "int", lo, hi)


def _decimal(v) -> bool:
    # fhir_core's Decimal tests str(value) against a regex: every int and every finite float passes;
    # a bool ("True") does not, and strings are not FHIR JSON.
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


# String: pattern "[ \r\n\t\S]+" searched (not anchored) by pydantic-core's Rust regex. Python's \s
# is a superset of Rust's (Unicode White_Space), so a Python match implies a Rust match.
_STRING_RE = re.compile("[ \r\n\t\\S]+")  # real CR/LF/TAB, as fhir_core writes it
# Code: "^[^\s]+(\s[^\s]+)*$" — a Python full match implies pydantic's match for the same reason.
_CODE_RE = re.compile(r"^[^\s]+(\s[^\s]+)*$")


def _string(v) -> bool:
    if type(v) is not str or not v:
        return False
    if v.isascii():
        return v.isprintable() or _STRING_RE.search(v) is not None
    return _STRING_RE.search(v) is not None and _utf8(v)


def _code(v) -> bool:
    if type(v) is not str or not v:
        return False
    if v.isascii() and v.isprintable():  # the only whitespace left is the space
        return v[0] != " " and v[-1] != " " and "  " not in v
    return _CODE_RE.fullmatch(v) is not None and _utf8(v)


def _any_text(v) -> bool:
    """uri, canonical, markdown, xhtml: fhir.resources' patterns match any string; we want one."""
    return type(v) is str and v != "" and (v.isascii() or _utf8(v))


def _pattern(regex: str, lo: int = 1, hi: int | None = None) -> Callable[[object], bool]:
    rx = re.compile(regex)

    def check(v) -> bool:
        return (
            type(v) is str
            and lo <= len(v)
            and (hi is None or len(v) <= hi)
            and v.isascii()
            and rx.fullmatch(v) is not None
        )

    return _tag(check, "pattern", regex, lo, hi)


def _valid_day(v: str) -> bool:
    try:
        _dt.date.fromisoformat(v[:10])
    except ValueError:
        return False
    return True


def _fraction_ok(v: str) -> bool:
    dot = v.find(".")
    if dot < 0:
        return True
    end = dot + 1
    while end < len(v) and v[end].isdigit():
        end += 1
    return end - dot - 1 <= 9


def _cached(compute: Callable[[str], bool]) -> Callable[[object], bool]:
    memo: dict[str, bool] = {}

    def check(v) -> bool:
        if type(v) is not str:
            return False
        r = memo.get(v)
        if r is None:
            r = compute(v)
            if len(memo) >= _CACHE_MAX:
                memo.clear()
            memo[v] = r
        return r

    return check


def _date_checker(rx: re.Pattern) -> Callable[[object], bool]:
    def compute(v: str) -> bool:
        if not v.isascii() or rx.fullmatch(v) is None:
            return False
        return len(v) in (4, 7) or (len(v) == 10 and _valid_day(v))

    return _tag(_cached(compute), "date", rx.pattern, rx.flags)


def _datetime_checker(rx: re.Pattern) -> Callable[[object], bool]:
    def compute(v: str) -> bool:
        if not v.isascii() or rx.fullmatch(v) is None or ":60" in v:  # leap seconds: let pydantic say
            return False
        if len(v) in (4, 7):
            return True
        return _valid_day(v) and (len(v) == 10 or ("T" in v and _fraction_ok(v)))

    return _tag(_cached(compute), "dateTime", rx.pattern, rx.flags)


def _instant_checker(rx: re.Pattern) -> Callable[[object], bool]:
    def compute(v: str) -> bool:
        if not v.isascii() or rx.fullmatch(v) is None or ":60" in v:
            return False
        return _valid_day(v) and _fraction_ok(v)

    return _tag(_cached(compute), "instant", rx.pattern, rx.flags)


def _time_checker(rx: re.Pattern) -> Callable[[object], bool]:
    def compute(v: str) -> bool:
        if not v.isascii() or rx.fullmatch(v) is None or ":60" in v:
            return False
        return _fraction_ok(v) and len(v) <= 15  # hh:mm:ss.ffffff at most

    return _tag(_cached(compute), "time", rx.pattern, rx.flags)


def _patterns(meta) -> list[str]:
    try:
        return [p for p in (getattr(m, "pattern", None) for m in meta) if p is not None]
    except TypeError:  # not iterable: not GroupedMetadata
        return []


def _lengths(meta) -> tuple[int | None, int | None]:
    lo = hi = None
    for m in meta:
        if type(m).__name__ == "MinLen":
            lo = m.min_length
        elif type(m).__name__ == "MaxLen":
            hi = m.max_length
    return lo, hi


_ID_PATTERN = r"^[A-Za-z0-9\-.]+$"
for _f, _name in ((_boolean, "boolean"), (_decimal, "decimal"), (_string, "string"), (_code, "code")):
    _tag(_f, _name)
_tag(_any_text, "text")

_MADE: dict[str, Callable[..., Checker]] = {"int": _int_range, "pattern": _pattern}
_DATES = {
    "date": _date_checker,
    "dateTime": _datetime_checker,
    "instant": _instant_checker,
    "time": _time_checker,
}
_SHARED = {"boolean": _boolean, "decimal": _decimal, "string": _string, "code": _code, "text": _any_text}


@cache
def checker_from_spec(spec: tuple) -> Callable[[object], bool]:
    """The checker a ``spec`` (a checker's ``.spec``) describes: the same function, made again."""
    kind, *args = spec
    if kind in _SHARED:
        return _SHARED[kind]
    if kind in _MADE:
        return _MADE[kind](*args)
    if kind in _DATES:
        return _DATES[kind](re.compile(args[0], args[1]))
    if kind == "same_type":
        return _same_type(args[0])
    raise ValueError(f"unknown checker spec {spec!r}")


def _same_type(rtype: str) -> Callable[[object], bool]:
    def same_type(v) -> bool:
        return type(v) is str and v == rtype

    return _tag(same_type, "same_type", rtype)


# ------------------------------------------------------------------------------ fhir_core types
# one maker per fhir_core primitive type name: (annotation metadata, Python base type) -> checker, or
# None when fhir_core constrains the type otherwise than the checker assumes ("not supported", never
# a guess); a type with no maker (base64Binary, uuid, url, ...) is not checked here


def _string_of(meta: object, base: object) -> Checker | None:
    return _string if base is str and _patterns(meta) == [_STRING_RE.pattern] else None


def _code_of(meta: object, base: object) -> Checker | None:
    return _code if base is str and _patterns(meta) == [_CODE_RE.pattern] else None


def _id_of(meta: object, base: object) -> Checker | None:
    if base is not str:
        return None
    pats, (lo, hi) = _patterns(meta), _lengths(meta)
    return _pattern(_ID_PATTERN, 1, hi) if pats == [_ID_PATTERN] and lo == 1 else None


def _text_of(any_text_pattern: str) -> Callable[[object, object], Checker | None]:
    """uri, canonical, markdown: any text, when fhir_core's pattern is the one that allows it."""

    def make(meta: object, base: object) -> Checker | None:
        rx = getattr(type(meta), "pattern", None)
        if base is not str or rx is None:
            return None
        return _any_text if rx.pattern == any_text_pattern else None

    return make


def _xhtml_of(meta: object, base: object) -> Checker | None:
    if base is not str:
        return None
    mtype = type(meta)
    plain = not hasattr(mtype, "__get_pydantic_core_schema__") and not hasattr(mtype, "__iter__")
    return _any_text if plain else None


def _oid_of(meta: object, base: object) -> Checker | None:
    rx = getattr(type(meta), "pattern", None)
    if base is not str or rx is None:
        return None
    return _pattern(rx.pattern) if rx.pattern.startswith("^urn:oid:") else None


def _integer_of(meta: object, base: object) -> Checker | None:
    if base is not int:
        return None
    lo, hi = getattr(meta, "min_length", None), getattr(meta, "max_length", None)
    return _int_range(lo, hi) if isinstance(lo, int) and isinstance(hi, int) else None


_DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


def _decimal_of(meta: object, base: object) -> Checker | None:
    if getattr(base, "__name__", None) != "Decimal":
        return None
    rx = getattr(type(meta), "pattern", None)
    return _decimal if rx is not None and rx.pattern == _DECIMAL_PATTERN else None


def _dated(python_type: type, make: Callable[[re.Pattern], Checker]) -> Callable[[object, object], Checker | None]:
    """date, dateTime, instant, time: fhir_core's own regex, checked on the Python type it parses to."""

    def of(meta: object, base: object) -> Checker | None:
        rx = getattr(type(meta), "pattern", None)
        if not isinstance(rx, re.Pattern) or base is not python_type:
            return None
        return make(rx)

    return of


_MAKERS: dict[str, Callable[[object, object], Checker | None]] = {
    "string": _string_of,
    "code": _code_of,
    "id": _id_of,
    "uri": _text_of(r"\S*"),
    "canonical": _text_of(r"\S*"),
    "markdown": _text_of(r"\s*(\S|\s)*"),
    "xhtml": _xhtml_of,
    "oid": _oid_of,
    "integer": _integer_of,
    "unsignedInt": _integer_of,
    "positiveInt": _integer_of,
    "integer64": _integer_of,
    "decimal": _decimal_of,
    "date": _dated(_dt.date, _date_checker),
    "dateTime": _dated(_dt.datetime, _datetime_checker),
    "instant": _dated(_dt.datetime, _instant_checker),
    "time": _dated(_dt.time, _time_checker),
}


def primitive_checker(fhir_type: str, meta: object, base: object) -> Checker | None:
    """A checker for one fhir_core primitive annotation, or None when this module does not check it
    (see :data:`_MAKERS`)."""
    make = _MAKERS.get(fhir_type)
    return make(meta, base) if make is not None else None
