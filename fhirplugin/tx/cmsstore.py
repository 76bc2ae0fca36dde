"""The CMS store: CMS's own downloads compiled once into one embedded SQLite file, queried per claim.

``fhirplugin data import FILE...`` (or the ``[terminology] *_paths`` keys, compiled on first use)
reads NCCI PTP and MUE, add-on code edits, the PFS relative value file, HCPCS Level II and modifier
lists with the readers of :mod:`fhirplugin.tx.ncci` and :mod:`fhirplugin.tx.cms`, and writes them
into the store keyed by table, setting and release. Several releases of one table live side by side;
each query picks the release in force on the date of service (the newest whose first day is on or
before it; a date before every release uses the oldest) and then, for PTP and add-on code edits, the
rows whose own effective/deletion window covers the date.

Nothing is loaded into dicts: opening the store reads its release list (a few rows); ``among`` is at
most one indexed query per claim (``column1 IN (…) AND column2 IN (…)``), ``get`` one point query;
bounded caches keep the answers for pairs and codes already asked (claims of a batch repeat them).
A table imported into the store replaces the built-in excerpt of that table; tables the store does not
hold are answered by the excerpt.

Writes are atomic: the new store is built in a temporary file beside the old one (a copy of it, when
adding releases) and renamed over it only when everything was read; on any error the previous store
is untouched. The store carries a format stamp (``PRAGMA application_id`` / ``user_version``); a
store written by another format is refused with a message naming it (:class:`StoreError`).

Location: ``[terminology] store`` / ``--store``, else ``cms-store.sqlite3`` in the cache folder
(``FHIRPLUGIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/fhirplugin``, else ``~/.cache/fhirplugin``, the
folder of the ICD-10-CM index).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypeVar, overload

from fhirplugin.tx.cms import (
    AocEdit,
    Content,
    HcpcsCode,
    PfsRow,
    aoc_edit_from_rows,
    content_of,
    drop_twin_workbooks,
    head_text,
    read_anweb,
    read_aoc,
    read_pfs,
)
from fhirplugin.tx.ncci import (
    CmsFileError,
    MueEntry,
    NcciFileError,
    PtpEdit,
    iter_ptp_fields,
    ptp_table_from_name,
)
from fhirplugin.tx.ncci.files import file_members, norm_code
from fhirplugin.tx.ncci.mue import letters as _mue_letters
from fhirplugin.tx.ncci.mue import parse_mue
from fhirplugin.tx.releases import detect_release, release_start
from fhirplugin.tx.tables import AocSource, HcpcsSource, MueSource, PfsSource, PtpSource

log = logging.getLogger("fhirplugin.tx.cmsstore")

__all__ = [
    "KINDS",
    "SCHEMA",
    "CmsStore",
    "StoreError",
    "default_store_path",
    "import_files",
    "sniff_kind",
]

SCHEMA = 1  # bump when the tables change: older stores are refused with a clear message
APPLICATION_ID = 0x66706C67  # "fplg": marks a fhirplugin CMS store
STORE_NAME = "cms-store.sqlite3"
KINDS = ("ptp", "mue", "aoc", "pfs", "hcpcs", "modifiers")
_OPEN = 99991231  # deletion "none" as stored (primary-key columns cannot be NULL)
_TABLE_OF_SETTING = {"practitioner": "practitioner", "hospital": "outpatient hospital", "dme": "dme"}
_SETTING_OF_TABLE = {"practitioner": "practitioner", "outpatient hospital": "hospital", "dme": "dme"}

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE releases (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, setting TEXT NOT NULL, release TEXT NOT NULL,
    start INTEGER, rows INTEGER NOT NULL, files TEXT NOT NULL, imported TEXT NOT NULL,
    UNIQUE (kind, setting, release));
CREATE TABLE rationale (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE ptp (rel INTEGER NOT NULL, c1 TEXT NOT NULL, c2 TEXT NOT NULL, eff INTEGER NOT NULL,
    del INTEGER NOT NULL, ind INTEGER NOT NULL, prior INTEGER NOT NULL, rat INTEGER NOT NULL,
    PRIMARY KEY (rel, c1, c2, eff, del)) WITHOUT ROWID;
CREATE TABLE mue (rel INTEGER NOT NULL, code TEXT NOT NULL, value INTEGER NOT NULL, mai INTEGER NOT NULL,
    rat TEXT NOT NULL, PRIMARY KEY (rel, code)) WITHOUT ROWID;
CREATE TABLE aoc (rel INTEGER NOT NULL, add_on TEXT NOT NULL, primary_code TEXT NOT NULL,
    type INTEGER NOT NULL, eff INTEGER NOT NULL, del INTEGER NOT NULL,
    PRIMARY KEY (rel, add_on, primary_code, eff, del)) WITHOUT ROWID;
CREATE TABLE pfs (rel INTEGER NOT NULL, code TEXT NOT NULL, modifier TEXT NOT NULL, status TEXT NOT NULL,
    pctc TEXT NOT NULL, global_days TEXT NOT NULL, mult_proc TEXT NOT NULL, bilateral TEXT NOT NULL,
    assistant TEXT NOT NULL, co_surgeon TEXT NOT NULL, team TEXT NOT NULL,
    PRIMARY KEY (rel, code, modifier)) WITHOUT ROWID;
CREATE TABLE hcpcs (rel INTEGER NOT NULL, code TEXT NOT NULL, added INTEGER, terminated INTEGER,
    action TEXT NOT NULL, description TEXT NOT NULL, PRIMARY KEY (rel, code)) WITHOUT ROWID;
CREATE TABLE modifiers (rel INTEGER NOT NULL, code TEXT NOT NULL, level TEXT NOT NULL,
    description TEXT NOT NULL, category TEXT NOT NULL, PRIMARY KEY (rel, code)) WITHOUT ROWID;
"""
_LABELS = {
    "ptp": "an NCCI PTP file",
    "mue": "an NCCI MUE file",
    "aoc": "an NCCI add-on code edit file",
    "pfs": "a PFS relative value file",
    "hcpcs": "a HCPCS Level II file",
    "modifiers": "a modifier list",
}
_DATA_TABLES = ("ptp", "mue", "aoc", "pfs", "hcpcs", "modifiers")


class StoreError(CmsFileError):
    """The store cannot be used or written; the message names the store (or the file and line)."""


def default_store_path() -> Path | None:
    """``cms-store.sqlite3`` in the cache folder, or None when caching is off (``FHIRPLUGIN_CACHE_DIR=""``)."""
    env = os.environ.get("FHIRPLUGIN_CACHE_DIR")
    if env is not None:
        return Path(env) / STORE_NAME if env.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fhirplugin" / STORE_NAME


@overload
def _int_date(d: date) -> int: ...
@overload
def _int_date(d: None) -> None: ...
@overload
def _int_date(d: date | None) -> int | None: ...
def _int_date(d: date | None) -> int | None:
    return None if d is None else d.year * 10000 + d.month * 100 + d.day


_DATES: dict[int, date | None] = {}


def _date_int(v: int | None) -> date | None:
    if v is None:
        return None
    try:
        return _DATES[v]
    except KeyError:
        pass
    d = None if v == _OPEN or v == 0 else date(v // 10000, v // 100 % 100, v % 100)
    if len(_DATES) < 100_000:
        _DATES[v] = d
    return d


def _day_of(v: int) -> date:
    """A date column that always holds a day (a PTP edit's effective date)."""
    d = _date_int(v)
    if d is None:
        raise StoreError(f"the store holds {v!r} where a date belongs: import the files again")
    return d


_MISS: Any = object()  # a cache answer for "not asked yet" (None is an answer)

_K = TypeVar("_K")
_V = TypeVar("_V")


class _Lru(dict[_K, _V], Generic[_K, _V]):
    """A small bounded cache (cleared when full): answers repeat across the claims of a batch."""

    __slots__ = ("limit",)

    def __init__(self, limit: int = 8192) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: _K, value: _V) -> _V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


# ===================================================================================================
# reading the store
# ===================================================================================================
@dataclass(frozen=True, slots=True)
class _Release:
    id: int
    kind: str
    setting: str
    release: str
    start: date | None
    rows: int
    files: str


class CmsStore:
    """A read-only view of one store file. Opened lazily in each process (a connection is never
    carried across ``fork``); pickles as its path."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._releases: list[_Release] = []
        self._rationales: dict[int, str] = {}
        self._picks: _Lru[tuple[str, str, date | None], _Release | None] = _Lru(4096)
        self._check()

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        self._conn = None
        self._pid = -1
        self._releases = []
        self._rationales = {}
        self._picks = _Lru(4096)
        self._check()

    # -- connection -----------------------------------------------------------------------------
    def _check(self) -> None:
        conn = self.conn()
        self._releases = [
            _Release(i, k, s, r, _date_int(st), n, f)
            for i, k, s, r, st, n, f in conn.execute(
                "SELECT id, kind, setting, release, start, rows, files FROM releases"
            )
        ]
        self._rationales = dict(conn.execute("SELECT id, text FROM rationale"))

    def conn(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if not self.path.is_file():
            raise StoreError(f"store {self.path}: not found (run `fhirplugin data import`)")
        try:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
            conn.execute("PRAGMA mmap_size = 268435456")  # pages read by mapping, no read() per page
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store {self.path}: not a fhirplugin CMS store ({exc})") from None
        if app_id != APPLICATION_ID:
            conn.close()
            raise StoreError(f"store {self.path}: not a fhirplugin CMS store")
        if version != SCHEMA:
            written_by = ""
            with contextlib.suppress(sqlite3.DatabaseError):
                row = conn.execute("SELECT value FROM meta WHERE key = 'fhirplugin'").fetchone()
                written_by = f" by fhirplugin {row[0]}" if row else ""
            conn.close()
            raise StoreError(
                f"store {self.path}: written{written_by} in store format {version}; this fhirplugin reads "
                f"format {SCHEMA}. Import the CMS files again (`fhirplugin data import --store {self.path} …`)"
            )
        self._conn, self._pid = conn, os.getpid()
        return conn

    # -- releases -------------------------------------------------------------------------------
    def releases(self, kind: str, setting: str = "") -> list[_Release]:
        """The releases of one table, oldest first."""
        found = [r for r in self._releases if r.kind == kind and r.setting == setting]
        return sorted(found, key=lambda r: (r.start or date.min, r.release))

    def pick(self, kind: str, setting: str, dos: date | None) -> _Release | None:
        """The release in force on ``dos``: the newest whose first day is on or before it (None: today);
        the oldest when ``dos`` is before every release; None when the table has no release."""
        key = (kind, setting, dos)
        hit = self._picks.get(key, _MISS)
        if hit is not _MISS:
            return hit
        found = self.releases(kind, setting)
        if not found:
            return self._picks.put(key, None)
        day = dos or date.today()
        live = [r for r in found if (r.start or date.min) <= day]
        return self._picks.put(key, live[-1] if live else found[0])

    def has(self, kind: str, setting: str = "") -> bool:
        return any(r.kind == kind and r.setting == setting for r in self._releases)

    def all_releases(self) -> list[_Release]:
        return sorted(self._releases, key=lambda r: (r.kind, r.setting, r.start or date.min, r.release))

    def rationale(self, rid: int) -> str:
        return self._rationales.get(rid, "")

    def __repr__(self) -> str:
        return f"<CmsStore {self.path} {len(self._releases)} releases>"


def _pair_key(e: PtpEdit) -> tuple[str, str]:
    return (e.column1, e.column2)


# one PTP row of a pair as stored: (effective, deletion, indicator, prior to 1996, rationale id)
_PtpRow: TypeAlias = tuple[int, int, int, int, int]


def _dos_ok(eff: int, dele: int, day: int | None) -> bool:
    if day is None:
        return dele >= _int_date(date.today())
    return eff <= day <= dele


class StorePtpTable:
    """The PTP table of one setting, read from the store. A table imported into the store answers
    alone (a pair its release lacks is no edit: the built-in excerpt would bring back pairs CMS has
    since deleted); ``fallback`` (the built-in excerpt or another store) answers only when the store
    holds no release of the table."""

    def __init__(self, store: CmsStore, setting: str, fallback: PtpSource) -> None:
        self.store, self.setting, self.fallback = store, setting, fallback
        self.table = _TABLE_OF_SETTING[setting]
        # bounded caches: code sets and edits repeat across the claims of a batch
        # (release id, c1, c2) -> rows of the pair (() = no edit)
        self._pairs: _Lru[tuple[int, str, str], tuple[_PtpRow, ...]] = _Lru(100_000)
        # (release id, c1, c2, row) -> PtpEdit
        self._edits: _Lru[tuple[int, str, str, _PtpRow], PtpEdit] = _Lru(16384)

    def __getstate__(self) -> dict[str, Any]:
        return {"store": self.store, "setting": self.setting, "fallback": self.fallback}

    def __setstate__(self, state: dict[str, Any]) -> None:
        StorePtpTable.__init__(self, state["store"], state["setting"], state["fallback"])

    def _edit(self, rel: _Release, c1: str, c2: str, row: _PtpRow) -> PtpEdit:
        eff, dele, ind, prior, rat = row
        return PtpEdit(
            column1=c1,
            column2=c2,
            prior_1996=bool(prior),
            effective=_day_of(eff),
            deletion=_date_int(dele),
            modifier_indicator=str(ind),
            rationale=self.store.rationale(rat),
            source="CMS NCCI PTP",
            verified=True,
            table=self.table,
            release=rel.release,
        )

    def _choose(self, rows: Sequence[_PtpRow], dos: date | None) -> _PtpRow | None:
        """The row in force on ``dos`` among one pair's rows (newest first)."""
        day = _int_date(dos)
        if len(rows) == 1:
            return rows[0] if _dos_ok(rows[0][0], rows[0][1], day) else None
        rows = sorted(rows, key=lambda r: (r[0], r[1]), reverse=True)
        return next((r for r in rows if _dos_ok(r[0], r[1], day)), None)

    def lookup(self, column1: str, column2: str, dos: date | None) -> PtpEdit | None:
        c1, c2 = norm_code(column1), norm_code(column2)
        rel = self.store.pick("ptp", self.setting, dos)
        if rel is None:
            return self.fallback.lookup(c1, c2, dos)
        key = (rel.id, c1, c2)
        rows = self._pairs.get(key)
        if rows is None:
            rows = tuple(
                self.store.conn()
                .execute(
                    "SELECT eff, del, ind, prior, rat FROM ptp WHERE rel = ? AND c1 = ? AND c2 = ?",
                    key,
                )
                .fetchall()
            )
            self._pairs.put(key, rows)
        if not rows:
            return None
        hit = self._choose(rows, dos)
        if hit is None:
            return None
        ekey = (rel.id, c1, c2, hit)
        edit = self._edits.get(ekey)
        return edit if edit is not None else self._edits.put(ekey, self._edit(rel, c1, c2, hit))

    def among(self, codes: Collection[str], dos: date | None) -> list[PtpEdit]:
        """Every edit in force on ``dos`` between two of ``codes``: one indexed query."""
        wanted = sorted({norm_code(c) for c in codes if isinstance(c, str) and c.strip()})
        if len(wanted) < 2:
            return []
        rel = self.store.pick("ptp", self.setting, dos)
        if rel is None:
            return self.fallback.among(wanted, dos)
        # the rows of each ordered pair are cached (an empty tuple: no edit), so a claim whose pairs
        # were all seen before costs no query; otherwise one query over the codes of the new pairs
        known = self._pairs
        rid = rel.id
        unknown = {x for a in wanted for b in wanted if a != b and (rid, a, b) not in known for x in (a, b)}
        if unknown:
            ask = sorted(unknown)
            marks = ",".join("?" * len(ask))
            cur = self.store.conn().execute(
                f"SELECT c1, c2, eff, del, ind, prior, rat FROM ptp WHERE rel = ? AND c1 IN ({marks}) "
                f"AND c2 IN ({marks})",
                (rid, *ask, *ask),
            )
            got: dict[tuple[str, str], list[_PtpRow]] = {}
            for c1, c2, *rest in cur:
                got.setdefault((c1, c2), []).append(tuple(rest))
            if len(known) + len(ask) ** 2 > known.limit:
                known.clear()
            for a in ask:
                for b in ask:
                    if a != b:
                        known[(rid, a, b)] = tuple(got.get((a, b), ()))
        found = []
        edits = self._edits
        for c1 in wanted:
            for c2 in wanted:
                if c1 == c2:
                    continue
                rows = known.get((rid, c1, c2))
                if not rows:
                    continue
                hit = self._choose(rows, dos)
                if hit is not None:
                    ekey = (rid, c1, c2, hit)
                    edit = edits.get(ekey)
                    if edit is None:
                        edit = edits.put(ekey, self._edit(rel, c1, c2, hit))
                    found.append(edit)
        found.sort(key=_pair_key)
        return found

    def column2_for(self, column1: str, dos: date | None) -> list[PtpEdit]:
        c1 = norm_code(column1)
        rel = self.store.pick("ptp", self.setting, dos)
        if rel is None:
            return self.fallback.column2_for(c1, dos)
        rows = (
            self.store.conn()
            .execute("SELECT c2, eff, del, ind, prior, rat FROM ptp WHERE rel = ? AND c1 = ?", (rel.id, c1))
            .fetchall()
        )
        pairs: dict[str, list[_PtpRow]] = {}
        for c2, *rest in rows:
            pairs.setdefault(c2, []).append(tuple(rest))
        found = {}
        for c2, rs in pairs.items():
            hit = self._choose(rs, dos)
            if hit is not None:
                found[c2] = self._edit(rel, c1, c2, hit)
        return [found[k] for k in sorted(found)]

    def rows(self, column1: str, column2: str) -> list[PtpEdit]:
        c1, c2 = norm_code(column1), norm_code(column2)
        out = []
        for rel in reversed(self.store.releases("ptp", self.setting)):
            for row in self.store.conn().execute(
                "SELECT eff, del, ind, prior, rat FROM ptp WHERE rel = ? AND c1 = ? AND c2 = ? "
                "ORDER BY eff DESC, del DESC",
                (rel.id, c1, c2),
            ):
                out.append(self._edit(rel, c1, c2, row))
        return out

    def __len__(self) -> int:
        rel = self.store.pick("ptp", self.setting, None)
        return rel.rows if rel else len(self.fallback)

    def __repr__(self) -> str:
        return f"<StorePtpTable {self.setting} {self.store.path}>"


class StoreMueTable:
    """The MUE table of one setting, read from the store (``fallback`` only when the store holds no
    MUE release of the setting)."""

    def __init__(self, store: CmsStore, setting: str, fallback: MueSource) -> None:
        self.store, self.setting, self.fallback = store, setting, fallback
        self.table = _TABLE_OF_SETTING[setting]
        # (release id, code as asked) -> entry or None
        self._cache: _Lru[tuple[int, str], MueEntry | None] = _Lru(8192)

    def __getstate__(self) -> dict[str, Any]:
        return {"store": self.store, "setting": self.setting, "fallback": self.fallback}

    def __setstate__(self, state: dict[str, Any]) -> None:
        StoreMueTable.__init__(self, state["store"], state["setting"], state["fallback"])

    def get(self, code: str, dos: date | None = None) -> MueEntry | None:
        if not isinstance(code, str):
            return None
        rel = self.store.pick("mue", self.setting, dos)
        if rel is None:
            return self.fallback.get(code, dos)
        key = (rel.id, code)
        hit = self._cache.get(key, _MISS)
        if hit is not _MISS:
            return hit
        c = norm_code(code)
        row = (
            self.store.conn()
            .execute("SELECT value, mai, rat FROM mue WHERE rel = ? AND code = ?", (rel.id, c))
            .fetchone()
        )
        if row is None:
            return self._cache.put(key, None)
        entry = MueEntry(c, row[0], row[1], row[2], "CMS NCCI MUE", True, self.table, rel.release)
        return self._cache.put(key, entry)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.get(code) is not None

    def __len__(self) -> int:
        rel = self.store.pick("mue", self.setting, None)
        return rel.rows if rel else len(self.fallback)

    def __repr__(self) -> str:
        return f"<StoreMueTable {self.setting} {self.store.path}>"


class StoreAocTable:
    def __init__(self, store: CmsStore, fallback: AocSource) -> None:
        self.store, self.fallback = store, fallback

    def get(self, add_on: str, dos: date | None = None) -> AocEdit | None:
        if not isinstance(add_on, str):
            return None
        code = norm_code(add_on)
        rel = self.store.pick("aoc", "", dos)
        if rel is None:
            return self.fallback.get(code, dos)
        rows = (
            self.store.conn()
            .execute(
                "SELECT primary_code, type, eff, del FROM aoc WHERE rel = ? AND add_on = ?", (rel.id, code)
            )
            .fetchall()
        )
        if not rows:
            return None
        raws = [
            (p, t, _date_int(e), _date_int(d), rel.release, "CMS NCCI add-on code edits", True)
            for p, t, e, d in rows
        ]
        return aoc_edit_from_rows(code, raws, dos)

    def is_add_on(self, code: str, dos: date | None = None) -> bool:
        return self.get(code, dos) is not None

    def __len__(self) -> int:
        rel = self.store.pick("aoc", "", None)
        return rel.rows if rel else len(self.fallback)


class StorePfsTable:
    def __init__(self, store: CmsStore, fallback: PfsSource) -> None:
        self.store, self.fallback = store, fallback

    def get(self, code: str, dos: date | None = None, modifier: str = "") -> PfsRow | None:
        if not isinstance(code, str):
            return None
        c, m = norm_code(code), norm_code(modifier or "")
        rel = self.store.pick("pfs", "", dos)
        if rel is None:
            return self.fallback.get(c, dos, m)
        row = (
            self.store.conn()
            .execute(
                "SELECT status, pctc, global_days, mult_proc, bilateral, assistant, co_surgeon, team FROM pfs "
                "WHERE rel = ? AND code = ? AND modifier = ?",
                (rel.id, c, m),
            )
            .fetchone()
        )
        if row is None:
            return None
        status, pctc, global_days, mult_proc, bilateral, assistant, co_surgeon, team = row
        return PfsRow(
            c,
            m,
            status,
            pctc,
            global_days,
            mult_proc,
            bilateral,
            assistant,
            co_surgeon,
            team,
            release=rel.release,
            source="CMS PFS relative value file",
            verified=True,
        )

    def __len__(self) -> int:
        rel = self.store.pick("pfs", "", None)
        return rel.rows if rel else len(self.fallback)


class StoreHcpcsTable:
    def __init__(self, store: CmsStore, fallback: HcpcsSource) -> None:
        self.store, self.fallback = store, fallback

    def get(self, code: str) -> HcpcsCode | None:
        if not isinstance(code, str):
            return None
        c = norm_code(code)
        rel = self.store.pick("hcpcs", "", None)
        if rel is None:
            return self.fallback.get(c)
        row = (
            self.store.conn()
            .execute(
                "SELECT added, terminated, action, description FROM hcpcs WHERE rel = ? AND code = ?",
                (rel.id, c),
            )
            .fetchone()
        )
        if row is None:
            return None
        return HcpcsCode(
            c, _date_int(row[0]), _date_int(row[1]), row[2], row[3], rel.release, "CMS HCPCS Level II"
        )

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.get(code) is not None

    def __len__(self) -> int:
        rel = self.store.pick("hcpcs", "", None)
        return rel.rows if rel else len(self.fallback)


# ===================================================================================================
# writing the store
# ===================================================================================================
def sniff_kind(name: str, text: str) -> str | None:
    """Which CMS table a decoded file is: ptp, mue, aoc, pfs, hcpcs or modifiers (None: unknown)."""
    head = text[:6000]
    low = name.lower().rsplit("!", 1)[-1]
    lines = head.split("\n")[:40]
    flat = _mue_letters(head)
    if "column1" in flat and "column2" in flat and "\t" in head:
        return "ptp"
    if "hcpcscptcode" in flat and "muevalues" in flat:
        return "mue"
    if "addoncode" in flat and "primarycode" in flat:
        return "aoc"
    for ln in lines:
        cells = [_mue_letters(c) for c in ln.replace("\t", ",").split(",")]
        if cells and cells[0] in ("hcpc", "hcpcs") and any("termdt" in c for c in cells):
            return "hcpcs"
        if cells and cells[0] == "hcpcs" and "mod" in cells[:3]:
            return "pfs"
        if cells and cells[0] in ("modifier", "mod", "code") and "level" in cells:
            return "modifiers"
    if low.startswith(("ccipra", "ccioph")):
        return "ptp"
    return None


@dataclass
class _Group:
    kind: str
    setting: str
    release: str
    members: list[tuple[str, Content]]  # (display name, decoded text or workbook rows)
    files: list[dict[str, Any]]


def _file_stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime": int(st.st_mtime)}


_SKIPPED_IN_FOLDERS = (".pdf", ".xls", ".docx", ".doc", ".md", ".html", ".htm", ".json")


def expand(paths: Iterable[Path]) -> list[Path]:
    """The files ``paths`` name (folders: every data file inside, sorted; CMS's PDFs and workbooks
    beside them are skipped)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() not in _SKIPPED_IN_FOLDERS)
            )
        elif not p.exists():
            raise CmsFileError(f"{p}: file not found")
        else:
            out.append(p)
    return out


def _groups(
    files: list[Path],
    *,
    kind: str | None,
    setting: str | None,
    release: str | None,
    default_release: str | None = None,
    skip_other_kinds: bool = False,
) -> list[_Group]:
    groups: dict[tuple[str, str, str], _Group] = {}
    for path in files:
        if path.suffix.lower() not in (".txt", ".csv", ".xlsx", ".zip"):
            raise CmsFileError(
                f"{path}: not a CMS data file fhirplugin reads (expected .txt, .csv, .xlsx or .zip)"
            )
        members = drop_twin_workbooks(list(file_members(path, (".txt", ".csv", ".xlsx"), in_folder=False)))
        used = 0
        for name, data in members:
            text = content_of(name, data)
            sniffed = sniff_kind(name, head_text(text))
            if kind and sniffed and sniffed != kind:
                if skip_other_kinds:
                    continue
                raise CmsFileError(f"{name}: this is {_LABELS[sniffed]}, not {_LABELS[kind]}")
            k = kind or sniffed
            if k is None:
                if len(members) > 1:
                    continue  # a notice or other file inside a CMS zip
                raise CmsFileError(
                    f"{name}: not a CMS file fhirplugin reads (NCCI PTP or MUE, add-on code edits, "
                    "PFS relative value file, HCPCS Level II, modifier list)"
                )
            if k == "pfs" and len(members) > 1 and "pprrvu" not in name.lower():
                continue  # the RVU zip also holds GPCI, locality and OPPS cap files
            used += 1
            if k in ("ptp", "mue") and not isinstance(text, str):
                raise CmsFileError(
                    f"{name}: read the {k.upper()} table from CMS's .txt/.csv file, not the workbook"
                )
            s = setting or ""
            if k == "ptp":
                table = ptp_table_from_name(name) if not setting else _TABLE_OF_SETTING.get(setting)
                if table is None:
                    raise CmsFileError(
                        f"{name}: cannot tell whether this PTP file is the practitioner or the outpatient "
                        "hospital table (CMS names them ccipra… / ccioph…): pass --setting"
                    )
                s = _SETTING_OF_TABLE[table]
            elif k == "mue":
                s = setting or _mue_setting_of(name, head_text(text))
            elif k not in ("ptp", "mue"):
                s = ""
            rel = release or detect_release(k, name)
            if not rel and default_release is not None:
                rel = default_release
            if rel is None:
                raise CmsFileError(f"{name}: cannot tell the CMS release from the file name: pass --release")
            g = groups.setdefault((k, s, rel), _Group(k, s, rel, [], []))
            g.members.append((name, text))
            stamp = _file_stamp(path)
            if stamp not in g.files:
                g.files.append(stamp)
        if not used and not skip_other_kinds:
            raise CmsFileError(f"{path}: holds no CMS file fhirplugin reads")
    return list(groups.values())


def _mue_setting_of(name: str, text: str) -> str:
    flat = _mue_letters(text[:4000])
    for key, setting in (
        ("outpatienthospitalservicesmuevalues", "hospital"),
        ("practitionerservicesmuevalues", "practitioner"),
        ("dmesupplierservicesmuevalues", "dme"),
    ):
        if key in flat:
            return setting
    raise CmsFileError(
        f"{name}: cannot tell which MUE table this is (practitioner, outpatient hospital, DME)"
    )


def _new_store(conn: sqlite3.Connection, version: str) -> None:
    conn.executescript(_DDL)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA}")
    conn.execute("INSERT INTO meta VALUES ('fhirplugin', ?)", (version,))
    conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))


def import_files(
    store_path: Path,
    paths: Iterable[Path],
    *,
    kind: str | None = None,
    setting: str | None = None,
    release: str | None = None,
) -> list[tuple[str, str, str, int]]:
    """Read CMS files and write them into the store at ``store_path`` (created when missing), one
    release per (table, setting, release), replacing a release of the same key. Atomic: on any
    error the previous store is left as it was. Returns (table, setting, release, rows) imported."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown table {kind!r}; expected one of {', '.join(KINDS)}")
    return _import(Path(store_path), [(list(paths), kind, setting, release, None)])


# (paths, kind, setting, release, release when the names do not say)
_ImportSpec: TypeAlias = tuple[list[Path], str | None, str | None, str | None, str | None]


def _import(
    store_path: Path,
    specs: list[_ImportSpec],
    *,
    fresh: bool = False,
    meta: dict[str, str] | None = None,
    skip_other_kinds: bool = False,
) -> list[tuple[str, str, str, int]]:
    """``specs``: (paths, kind, setting, release, release when the names do not say). ``fresh``:
    build a new store instead of adding to the one there."""
    from fhirplugin import __version__

    if store_path.exists() and not fresh:
        CmsStore(store_path)  # refuses a store of another format before anything is read
    expanded = [
        (expand(paths), kind, setting, release, default) for paths, kind, setting, release, default in specs
    ]
    # the temporary file first: an unwritable folder fails before any file is read
    store_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".cms-store-", suffix=".tmp", dir=store_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    done: list[tuple[str, str, str, int]] = []
    try:
        groups = []
        for files, kind, setting, release, default in expanded:
            groups.extend(
                _groups(
                    files,
                    kind=kind,
                    setting=setting,
                    release=release,
                    default_release=default,
                    skip_other_kinds=skip_other_kinds,
                )
            )
        if not groups:
            raise CmsFileError("no files to import")
        if store_path.exists() and not fresh:
            shutil.copyfile(store_path, tmp)
        else:
            tmp.unlink()
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                _new_store(conn, __version__)
            conn.execute("BEGIN")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'fhirplugin'", (__version__,))
            for key, value in (meta or {}).items():
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            for g in groups:
                done.append((g.kind, g.setting, g.release, _write_group(conn, g)))
            conn.execute("COMMIT")
        finally:
            conn.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, store_path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return done


def _release_row(conn: sqlite3.Connection, g: _Group) -> int:
    old = conn.execute(
        "SELECT id FROM releases WHERE kind = ? AND setting = ? AND release = ?",
        (g.kind, g.setting, g.release),
    ).fetchone()
    if old is not None:
        conn.execute(f"DELETE FROM {g.kind} WHERE rel = ?", (old[0],))
        conn.execute("DELETE FROM releases WHERE id = ?", (old[0],))
    start = release_start(g.release)
    cur = conn.execute(
        "INSERT INTO releases (kind, setting, release, start, rows, files, imported) VALUES (?, ?, ?, ?, 0, ?, "
        "datetime('now'))",
        (g.kind, g.setting, g.release, _int_date(start), json.dumps(g.files)),
    )
    return _inserted(cur)


def _inserted(cur: sqlite3.Cursor) -> int:
    """The rowid an INSERT just gave (sqlite3 types it Optional: None only when nothing was inserted)."""
    rowid = cur.lastrowid
    if rowid is None:
        raise StoreError("the store did not take a row")
    return rowid


def _write_group(conn: sqlite3.Connection, g: _Group) -> int:
    rel = _release_row(conn, g)
    writer: Callable[[sqlite3.Connection, int, str, Content, _Group], int] = {
        "ptp": _write_ptp,
        "mue": _write_mue,
        "aoc": _write_aoc,
        "pfs": _write_pfs,
        "hcpcs": _write_hcpcs,
        "modifiers": _write_modifiers,
    }[g.kind]
    count = 0
    for name, text in g.members:
        n = writer(conn, rel, name, text, g)
        if not n:
            raise CmsFileError(f"{name}: no {g.kind.upper()} rows found")
        count += n
    count = conn.execute(f"SELECT count(*) FROM {g.kind} WHERE rel = ?", (rel,)).fetchone()[0]
    conn.execute("UPDATE releases SET rows = ? WHERE id = ?", (count, rel))
    return count


def _text(name: str, content: Content) -> str:
    """The text of a PTP or MUE file (the import refuses their workbooks before writing)."""
    if not isinstance(content, str):
        raise CmsFileError(f"{name}: read this table from CMS's .txt/.csv file, not the workbook")
    return content


def _write_ptp(conn: sqlite3.Connection, rel: int, name: str, content: Content, g: _Group) -> int:
    text = _text(name, content)
    rationales = dict(conn.execute("SELECT text, id FROM rationale"))
    dates: dict[str, int] = {}

    def day(lineno: int, what: str, raw: str) -> int:
        hit = dates.get(raw)
        if hit is None:
            if len(raw) != 8 or not raw.isdigit():
                raise NcciFileError(f"{name}: line {lineno}: {what} {raw!r} is not a date YYYYMMDD")
            try:
                d = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
            except ValueError:
                raise NcciFileError(f"{name}: line {lineno}: {what} {raw!r} is not a valid date") from None
            hit = dates[raw] = _int_date(d)
        return hit

    def rows() -> Iterator[tuple]:
        for lineno, c1, c2, flag, eff, dele, ind, rat in iter_ptp_fields(name, text):
            rid = rationales.get(rat)
            if rid is None:
                rid = _inserted(conn.execute("INSERT INTO rationale (text) VALUES (?)", (rat,)))
                rationales[rat] = rid
            yield (
                rel,
                c1,
                c2,
                day(lineno, "effective date", eff),
                _OPEN if dele == "*" else day(lineno, "deletion date", dele),
                int(ind),
                flag == "*",
                rid,
            )

    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO ptp VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows())
    return conn.total_changes - before or _count_rows(name, text)


def _count_rows(name: str, text: str) -> int:
    """Rows of a part whose every row was already written (the same part twice, in a zip and loose)."""
    return sum(1 for _ in iter_ptp_fields(name, text))


def _write_mue(conn: sqlite3.Connection, rel: int, name: str, content: Content, g: _Group) -> int:
    text = _text(name, content)
    entries: dict[str, MueEntry] = {}
    n = parse_mue(name, text, entries, {}, "", True, g.release)
    wrong = {e.table for e in entries.values()} - {_TABLE_OF_SETTING[g.setting]}
    if wrong:
        raise CmsFileError(f"{name}: an MUE {', '.join(sorted(wrong))} table, imported as {g.setting}")
    conn.executemany(
        "INSERT OR REPLACE INTO mue VALUES (?, ?, ?, ?, ?)",
        ((rel, e.code, e.value, e.mai, e.rationale) for e in entries.values()),
    )
    return n


def _write_aoc(conn: sqlite3.Connection, rel: int, name: str, text: Content, g: _Group) -> int:
    n = 0
    rows = []
    for add_on, raw in read_aoc(name, text, g.release, "", True):
        primary, kind, eff, dele = raw[:4]
        rows.append((rel, add_on, primary, kind, _int_date(eff) or 0, _int_date(dele) or _OPEN))
        n += 1
    conn.executemany("INSERT OR REPLACE INTO aoc VALUES (?, ?, ?, ?, ?, ?)", rows)
    return n


def _write_pfs(conn: sqlite3.Connection, rel: int, name: str, text: Content, g: _Group) -> int:
    rows = [
        (rel, r.code, r.modifier, r.status, r.pctc, r.global_days, r.mult_proc, r.bilateral, r.assistant,
         r.co_surgeon, r.team)
        for r in read_pfs(name, text, g.release, "", True)
    ]  # fmt: skip
    conn.executemany("INSERT OR REPLACE INTO pfs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def _write_hcpcs(conn: sqlite3.Connection, rel: int, name: str, text: Content, g: _Group) -> int:
    codes, mods = [], []
    for item in read_anweb(name, text, g.release, ""):
        if isinstance(item, HcpcsCode):
            codes.append(
                (
                    rel,
                    item.code,
                    _int_date(item.added),
                    _int_date(item.terminated),
                    item.action,
                    item.description,
                )
            )
        else:
            code, description, _added, terminated = item
            if terminated is None:
                mods.append((code, description))
    conn.executemany("INSERT OR REPLACE INTO hcpcs VALUES (?, ?, ?, ?, ?, ?)", codes)
    if mods:  # the ANWEB's Level II modifiers: a modifier release of their own
        mg = _Group("modifiers", "", g.release, [], g.files)
        mrel = _release_row(conn, mg)
        conn.executemany(
            "INSERT OR REPLACE INTO modifiers VALUES (?, ?, 'II', ?, '')", ((mrel, c, d) for c, d in mods)
        )
        conn.execute("UPDATE releases SET rows = ? WHERE id = ?", (len(mods), mrel))
    return len(codes)


def _write_modifiers(conn: sqlite3.Connection, rel: int, name: str, text: Content, g: _Group) -> int:
    from fhirplugin.tx.modifier_lists import read_modifier_content
    from fhirplugin.tx.modifiers import Modifier

    found: dict[str, Modifier] = {}
    read_modifier_content(name, text, found, set())  # text or a workbook's rows alike
    if not found:
        raise CmsFileError(f"{name}: no modifiers found")
    rows = [
        (rel, m.code, "I" if m.system == "cpt" else "II", m.description, m.category) for m in found.values()
    ]
    conn.executemany("INSERT OR REPLACE INTO modifiers VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)


# ===================================================================================================
# [terminology] *_paths compiled on first use
# ===================================================================================================
COMPILE_MIN_BYTES = 4_000_000  # configured files smaller than this together are read into memory
_KEEP_PATH_STORES = 8


def compile_configured(
    configured: dict[str, list[Path]], ncci_setting: str, folder: Path | None = None
) -> Path | None:
    """The store compiled from the files of ``configured`` (kind -> paths, the ``[terminology]``
    ``*_paths`` keys), built on first use in ``folder`` (default: the cache folder) as
    ``cms-paths-<key>.sqlite3``, one per list of paths, and built again only when a file's path,
    size or modification time changes. Files of another table inside a configured folder are skipped
    (a folder may hold the PTP parts and the MUE file).

    None, so that the caller reads the files into memory, when nothing is configured, when the files
    are small (under ``COMPILE_MIN_BYTES`` together: reading them is quicker than a store), when the
    cache is off, or when the store cannot be written (logged). File errors propagate
    (CmsFileError). A file whose name does not say its release is imported with the release ""."""
    wanted = [(k, list(v)) for k, v in configured.items() if v]
    default = default_store_path()
    where = folder if folder is not None else (default.parent if default is not None else None)
    if not wanted or where is None:
        return None
    files = {k: expand(v) for k, v in wanted}
    stamps = sorted(
        (k, _file_stamp(f)["path"], _file_stamp(f)["size"], _file_stamp(f)["mtime"])
        for k, fs in files.items()
        for f in fs
    )
    if sum(st[2] for st in stamps) < COMPILE_MIN_BYTES:
        return None
    import hashlib

    key = hashlib.sha256(json.dumps([(k, [str(Path(p).resolve()) for p in v]) for k, v in wanted]).encode())
    path = where / f"cms-paths-{key.hexdigest()[:16]}.sqlite3"
    signature = json.dumps(stamps)
    if path.is_file():
        with contextlib.suppress(StoreError, sqlite3.DatabaseError):
            store = CmsStore(path)
            row = store.conn().execute("SELECT value FROM meta WHERE key = 'sources'").fetchone()
            if row and row[0] == signature:
                return path
    specs: list[_ImportSpec] = []
    for kind, fs in files.items():
        setting = None
        if kind == "ptp" and not any(ptp_table_from_name(f.name) for f in fs):
            setting = ncci_setting
        specs.append((fs, kind, setting, None, ""))
    try:
        _import(path, specs, fresh=True, meta={"sources": signature}, skip_other_kinds=True)
    except OSError as exc:
        log.warning("cannot write the CMS store %s (%s); reading the files into memory", path, exc)
        return None
    log.info("compiled %s into the store %s", ", ".join(k for k, _ in wanted), path)
    _prune(where, keep=path)
    return path


def _prune(folder: Path, keep: Path) -> None:
    """Remove all but the newest few ``cms-paths-*`` stores (configurations no longer used)."""
    with contextlib.suppress(OSError):
        old = sorted(folder.glob("cms-paths-*.sqlite3"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in old[_KEEP_PATH_STORES:]:
            if p != keep:
                p.unlink()


def _release_end(store: CmsStore, r: _Release) -> date | None:
    later = [x for x in store.releases(r.kind, r.setting) if (x.start or date.min) > (r.start or date.min)]
    if not later or later[0].start is None:
        return None
    return later[0].start - timedelta(days=1)
