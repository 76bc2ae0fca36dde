"""ICD-10-CM look-ups over the ``simple-icd-10-cm`` package (the code set it ships, April 2026).

Codes are accepted with or without the dot and in any case (``k651`` = ``K65.1``). The package is
imported on first use (loading it takes about two seconds), and every answer is cached, since the
rules ask per claim line.

Words used here: a *code* is a category (``K65``), subcategory (``K65.1``) or 7-character code
(``T81.43XA``); a *block* is a range of categories (``C15-C26``); a *chapter* is numbered (``2``) and
also spans a range (``C00-D49``). Only codes are valid diagnoses; a code is *billable* when it has no
children (a leaf).
"""

from __future__ import annotations

import re
import warnings
from functools import cache, lru_cache
from importlib import metadata
from types import ModuleType

__all__ = [
    "ancestors",
    "code_set_version",
    "is_billable",
    "is_descendant_or_self",
    "is_known",
    "is_valid",
    "looks_like_range",
    "normalize",
    "title",
]

_RANGE = re.compile(r"^([A-Z][0-9A-Z][0-9A-Z])-([A-Z][0-9A-Z][0-9A-Z])$")
_CHAPTER_SPAN = re.compile(r"\(([A-Z][0-9A-Z][0-9A-Z])-([A-Z][0-9A-Z][0-9A-Z])\)\s*$")
_CACHE = 131_072


@cache
def _lib() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm

    return simple_icd_10_cm


def code_set_version() -> str:
    """A label for the code set in use, e.g. ``"simple-icd-10-cm 1.5.0 (code-list-April-2026.txt)"``."""
    lib = _lib()
    data_file = getattr(lib.simple_icd_10_cm, "_all_codes_package_file_name", "")
    try:
        version = metadata.version("simple-icd-10-cm")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with fhirplugin
        version = "?"
    return f"simple-icd-10-cm {version}" + (f" ({data_file})" if data_file else "")


@lru_cache(maxsize=_CACHE)
def normalize(code: str) -> str:
    """Strip, upper-case and put the dot after the third character: ``" k651 "`` → ``"K65.1"``.

    Ranges (``c15-c26`` → ``C15-C26``) and chapter numbers keep their form; a dot anywhere but after
    the third character is left in place (so ``K6.51`` stays invalid). Does not check validity.
    """
    c = "".join(code.split()).upper()
    if "-" in c or c.isdigit() or c.count(".") > 1 or c.find(".") not in (-1, 3):
        return c  # a range, a chapter, or a dot out of place (left as is, so it stays invalid)
    c = c.replace(".", "")
    return c if len(c) <= 3 else f"{c[:3]}.{c[3:]}"


@lru_cache(maxsize=_CACHE)
def is_valid(code: str) -> bool:
    """True for an ICD-10-CM code (category, subcategory or 7-character code), billable or not.

    Blocks (``C15-C26``) and chapters are not diagnosis codes and give False.
    """
    c = normalize(code)
    lib = _lib()
    if not c or "-" in c or c.isdigit() or not lib.is_valid_item(c):
        return False
    return bool(lib.is_category(c) or lib.is_subcategory(c))


@lru_cache(maxsize=_CACHE)
def is_billable(code: str) -> bool:
    """True for a valid code with no children (``K65.1`` yes, ``K65`` no)."""
    c = normalize(code)
    return is_valid(c) and bool(_lib().is_leaf(c))


def looks_like_range(code: str) -> bool:
    """True for the shape of a category range such as ``C15-C26`` (known block or not)."""
    return bool(_RANGE.match(normalize(code)))


@lru_cache(maxsize=_CACHE)
def is_known(code: str) -> bool:
    """True for a code, a block (``C15-C26``) or a chapter (``2`` or ``C00-D49``) of the code set."""
    c = normalize(code)
    if not c:
        return False
    return bool(_lib().is_valid_item(c)) or c in _chapter_ranges()


@lru_cache(maxsize=_CACHE)
def title(code: str) -> str | None:
    """The code set's title for a code, block or chapter, or None when unknown."""
    c = normalize(code)
    c = _chapter_ranges().get(c, c)
    lib = _lib()
    if not c or not lib.is_valid_item(c):
        return None
    return str(lib.get_description(c))


@lru_cache(maxsize=_CACHE)
def ancestors(code: str) -> tuple[str, ...]:
    """The parents of a code, nearest first, up to its chapter number (empty when unknown).

    ``ancestors("K65.1")`` → ``("K65", "K65-K68", "11")``.
    """
    c = normalize(code)
    lib = _lib()
    if not c or not lib.is_valid_item(c):
        return ()
    return tuple(lib.get_ancestors(c))


@lru_cache(maxsize=_CACHE)
def is_descendant_or_self(code: str, ancestor: str) -> bool:
    """True when ``code`` is ``ancestor`` or sits below it (ValueSet ``is-a``).

    ``ancestor`` may be a code (``K65``), a block (``C15-C26``), a chapter (``2`` or ``C00-D49``), or
    any other range of categories (``K65-K66``: compared by category, both ends included). An unknown
    ``code`` gives False.
    """
    c, a = normalize(code), normalize(ancestor)
    if not c or not a:
        return False
    lib = _lib()
    if not lib.is_valid_item(c):
        return False
    a = _chapter_ranges().get(a, a)
    if c == a:
        return True
    if a in ancestors(c):
        return True
    m = _RANGE.match(a)
    if m and not lib.is_valid_item(a) and is_valid(c):
        return m.group(1) <= c[:3] <= m.group(2)
    return False


@cache
def _chapter_ranges() -> dict[str, str]:
    """``{"C00-D49": "2", ...}`` from the chapter titles, which end with their span in brackets."""
    lib = _lib()
    spans: dict[str, str] = {}
    for number in range(1, 40):
        name = str(number)
        if not lib.is_valid_item(name) or not lib.is_chapter(name):
            continue
        m = _CHAPTER_SPAN.search(lib.get_description(name))
        if m:
            spans[f"{m.group(1)}-{m.group(2)}"] = name
    return spans
