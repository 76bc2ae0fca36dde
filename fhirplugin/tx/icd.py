"""ICD-10-CM look-ups over the ``simple-icd-10-cm`` package (the code set it ships, April 2026).

Codes are accepted with or without the dot and in any case (``k651`` = ``K65.1``). Importing the
package parses its XML (two to four seconds, in every process that starts), so the facts used here
(kind, leaf, title and ancestors of each of its ~98,500 items) are read once into a compact index, kept
as a read-only SQLite file in a cache folder and read from there by key (opening it takes under a
millisecond; each code is looked up once, on first use). The cache is keyed by the package's
version and data files, written atomically, and only ever a copy: when it is missing,
stale, unreadable or unwritable the package itself is used. Folder: ``FHIRPLUGIN_CACHE_DIR``, else
``$XDG_CACHE_HOME/fhirplugin``, else ``~/.cache/fhirplugin``; ``FHIRPLUGIN_CACHE_DIR=""`` turns the
cache off. Every answer is also cached in memory, since the rules ask per claim line.

Words used here: a *code* is a category (``K65``), subcategory (``K65.1``) or 7-character code
(``T81.43XA``); a *block* is a range of categories (``C15-C26``); a *chapter* is numbered (``2``) and
also spans a range (``C00-D49``). Only codes are valid diagnoses; a code is *billable* when it has no
children (a leaf).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sqlite3
import sys
import tempfile
import threading
import warnings
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from types import ModuleType

import orjson

log = logging.getLogger("fhirplugin.tx.icd")

__all__ = [
    "ancestors",
    "build_index",
    "cache_dir",
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


# the index: code -> [flags, title, ancestors nearest first]. Ancestors are stored, not walked by
# name: the package has 39 blocks named like the category they hold (block B10 holds category B10).
_CATEGORY, _SUBCATEGORY, _LEAF, _CHAPTER = 1, 2, 4, 8
_FORMAT = 3
_FILE = "icd10cm-index.sqlite3"


@cache
def _listing(folder: str) -> tuple[str, ...]:
    try:
        return tuple(os.listdir(folder))
    except OSError:
        return ()


def dist_version(dist: str) -> str | None:
    """The installed version of a distribution (``"simple-icd-10-cm"``), read from the name of its
    ``.dist-info`` folder on ``sys.path`` (reading its metadata as ``importlib.metadata`` does costs a
    few milliseconds a package, at every start); None when it is not installed."""
    norm = re.sub(r"[-_.]+", "_", dist).lower()
    for folder in sys.path:
        for name in _listing(folder or "."):
            if name.endswith(".dist-info"):
                stem = name[: -len(".dist-info")]
                project, _, version = stem.partition("-")
                if version and re.sub(r"[-_.]+", "_", project).lower() == norm:
                    return version
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _package_key() -> dict | None:
    """What the cache must match: the package's version and its data files (names and sizes),
    found without importing it. None when the package cannot be found."""
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    try:
        files = sorted((f.name, f.stat().st_size) for f in data.iterdir() if f.suffix in (".txt", ".xml"))
    except OSError:
        return None
    version = dist_version("simple-icd-10-cm")
    if version is None:
        return None
    return {"format": _FORMAT, "version": version, "files": [list(f) for f in files]}


def cache_dir() -> Path | None:
    """Where the index is cached, or None when caching is off (``FHIRPLUGIN_CACHE_DIR=""``)."""
    env = os.environ.get("FHIRPLUGIN_CACHE_DIR")
    if env is not None:
        return Path(env) if env.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fhirplugin"


def build_index() -> dict:
    """The index straight from the package (slow: imports it)."""
    lib = _lib()
    items: dict[str, list] = {}
    for code in lib.get_all_codes(True):
        flags = (
            (_CATEGORY if lib.is_category(code) else 0)
            | (_SUBCATEGORY if lib.is_subcategory(code) else 0)
            | (_LEAF if lib.is_leaf(code) else 0)
            | (_CHAPTER if lib.is_chapter(code) else 0)
        )
        items[code] = [flags, str(lib.get_description(code)), [str(a) for a in lib.get_ancestors(code)]]
    data_file = getattr(lib.simple_icd_10_cm, "_all_codes_package_file_name", "")
    return {"data_file": data_file, "items": items}


class _Items:
    """The index in memory (just built from the package, when it cannot be cached)."""

    def __init__(self, doc: dict) -> None:
        self.items: dict[str, list] = doc["items"]
        self.data_file: str = doc.get("data_file") or ""

    def get(self, code: str) -> list | None:
        return self.items.get(code)


class _Store:
    """The cached index: a read-only SQLite file, one row per item, read by key on demand.

    Opening it costs well under a millisecond whatever its size (the JSON form took ~0.3 s CPU to
    parse on every start). The connection belongs to the process that opened it: a forked worker
    opens its own. Look-ups are serialised (the service asks from several threads); the callers
    cache every answer, so they are few.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._conn: sqlite3.Connection | None = None
        meta = dict(self._query("SELECT name, value FROM meta", ()))
        self.key = orjson.loads(meta["key"])
        self.data_file = meta.get("data_file") or ""
        self.count = int(meta.get("count") or 0)  # written with the rows (counting them scans the file)

    def _query(self, sql: str, args: tuple) -> list:
        with self._lock:
            conn = self._conn
            if conn is None or self._pid != os.getpid():
                conn = self._conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
                self._pid = os.getpid()
            return conn.execute(sql, args).fetchall()

    def get(self, code: str) -> list | None:
        rows = self._query("SELECT flags, title, ancestors FROM items WHERE code = ?", (code,))
        if not rows:
            return None
        flags, title, ancestors = rows[0]
        return [flags, title, ancestors.split("|") if ancestors else []]


def _write(path: Path, doc: dict, key: dict) -> None:
    """Write the index as SQLite next to ``path``, then move it into place (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".icd10cm-", suffix=".sqlite3")
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.execute(
                "CREATE TABLE items (code TEXT PRIMARY KEY, flags INTEGER NOT NULL, title TEXT NOT NULL, "
                "ancestors TEXT NOT NULL) WITHOUT ROWID"
            )
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("key", orjson.dumps(key).decode()),
                    ("data_file", doc.get("data_file") or ""),
                    ("count", str(len(doc["items"]))),
                ],
            )
            con.executemany(
                "INSERT INTO items VALUES (?, ?, ?, ?)",
                ((code, f, t, "|".join(a)) for code, (f, t, a) in doc["items"].items()),
            )
            con.commit()
        finally:
            con.close()
        os.chmod(tmp, 0o644)  # public code-set data: readable by a service user other than the builder
        os.replace(tmp, path)
    except (OSError, sqlite3.Error):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _open(path: Path, key: dict) -> _Store | None:
    """The cached index at ``path`` when it is there, readable and made for ``key``; else None."""
    if not path.is_file():
        return None
    try:
        store = _Store(path)
    except (sqlite3.Error, KeyError, ValueError, OSError):  # orjson.JSONDecodeError is a ValueError
        return None
    return store if store.key == key and store.count > 0 else None


@cache
def _index() -> _Items | _Store:
    """The index, from the cache when it matches the installed package, else built and cached."""
    key = _package_key()
    folder = cache_dir()
    if folder is None or key is None:
        return _Items(build_index())
    path = folder / _FILE
    store = _open(path, key)
    if store is not None:
        return store
    doc = build_index()
    try:  # cached for the next process
        _write(path, doc, key)
        store = _open(path, key)
        if store is not None:
            return store
    except (OSError, sqlite3.Error) as exc:
        log.info("ICD-10-CM index not cached in %s: %s", path.parent, getattr(exc, "strerror", None) or exc)
    return _Items(doc)


def _item(code: str) -> list | None:
    return _index().get(code)


def code_set_version() -> str:
    """A label for the code set in use, e.g. ``"simple-icd-10-cm 1.5.0 (code-list-April-2026.txt)"``."""
    data_file = _index().data_file
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
    if not c or "-" in c or c.isdigit():
        return False
    item = _item(c)
    return item is not None and bool(item[0] & (_CATEGORY | _SUBCATEGORY))


@lru_cache(maxsize=_CACHE)
def is_billable(code: str) -> bool:
    """True for a valid code with no children (``K65.1`` yes, ``K65`` no)."""
    c = normalize(code)
    return is_valid(c) and (item := _item(c)) is not None and bool(item[0] & _LEAF)


def looks_like_range(code: str) -> bool:
    """True for the shape of a category range such as ``C15-C26`` (known block or not)."""
    return bool(_RANGE.match(normalize(code)))


@lru_cache(maxsize=_CACHE)
def is_known(code: str) -> bool:
    """True for a code, a block (``C15-C26``) or a chapter (``2`` or ``C00-D49``) of the code set."""
    c = normalize(code)
    if not c:
        return False
    return _item(c) is not None or c in _chapter_ranges()


@lru_cache(maxsize=_CACHE)
def title(code: str) -> str | None:
    """The code set's title for a code, block or chapter, or None when unknown."""
    c = normalize(code)
    c = _chapter_ranges().get(c, c)
    item = _item(c) if c else None
    return item[1] if item is not None else None


@lru_cache(maxsize=_CACHE)
def ancestors(code: str) -> tuple[str, ...]:
    """The parents of a code, nearest first, up to its chapter number (empty when unknown).

    ``ancestors("K65.1")`` → ``("K65", "K65-K68", "11")``.
    """
    c = normalize(code)
    item = _item(c) if c else None
    return tuple(item[2]) if item is not None else ()


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
    if _item(c) is None:
        return False
    a = _chapter_ranges().get(a, a)
    if c == a:
        return True
    if a in ancestors(c):
        return True
    m = _RANGE.match(a)
    if m and _item(a) is None and is_valid(c):
        return m.group(1) <= c[:3] <= m.group(2)
    return False


@cache
def _chapter_ranges() -> dict[str, str]:
    """``{"C00-D49": "2", ...}`` from the chapter titles, which end with their span in brackets."""
    spans: dict[str, str] = {}
    for number in range(1, 40):
        name = str(number)
        item = _item(name)
        if item is None or not item[0] & _CHAPTER:
            continue
        m = _CHAPTER_SPAN.search(item[1])
        if m:
            spans[f"{m.group(1)}-{m.group(2)}"] = name
    return spans
