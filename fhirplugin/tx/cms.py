"""CMS tables beside NCCI PTP/MUE: add-on code edits, the physician fee schedule relative value file
(payment-policy indicators) and HCPCS Level II codes.

The readers take the files as CMS distributes them (a file, a folder, or the CMS ``.zip``) and find
their columns by the header labels CMS prints, so a column moved between years is still found and a
file of another kind is refused:

* **Add-on code edits** (``AOC_V2024Q3-MCR``, ``.xlsx``, tab-separated ``.txt`` or ``.csv``): one row per
  add-on code and primary code: ``Add-on Code``, ``AOC Del Dt``, ``Primary Code``, ``Primary Code
  Del Dt``, ``AOC Edit Type`` (1, 2, 3), ``AOC Edit Eff Dt``, ``AOC Edit Del Dt``, ``Special
  Instruction Notes``. ``CCCCC`` in the primary column: the contractor (MAC) defines the primaries.
* **PFS relative value file** (``PPRRVU24_JUL.csv`` in ``RVU24C.zip``): title and notice lines, a
  header row starting ``HCPCS, MOD, DESCRIPTION, STATUS CODE, …`` (labels may be split over two
  rows), then one row per code and modifier (base row, ``26``, ``TC``, ``53``).
* **HCPCS Level II** (``HCPC2024_JUL_ANWEB``, the ``.xlsx`` or it saved as ``.csv``): a header row ``HCPC, SEQNUM,
  RECID, LONG DESCRIPTION, SHORT DESCRIPTION, …, ADD DT, ACT EFF DT, TERM DT, ACTION CD``; record
  id 3 starts a code and 4 continues its long description; 7 and 8 do the same for Level II
  modifiers (read by :meth:`fhirplugin.tx.modifiers.ModifierTable.load_cms`).

Every malformed row raises :class:`CmsFileError` naming the file and line; nothing is dropped.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import NamedTuple, TypeAlias

from fhirplugin.resources import data_dir
from fhirplugin.tx.ncci.files import CmsFileError, decode, file_members, is_code, norm_code, read_sidecar
from fhirplugin.tx.releases import describe_release, detect_release

__all__ = [
    "AocEdit",
    "AocTable",
    "HcpcsCode",
    "HcpcsTable",
    "PfsRow",
    "PfsTable",
    "builtin_aoc",
    "builtin_hcpcs",
    "builtin_pfs",
    "parse_date",
]

CONTRACTOR_DEFINED = "CCCCC"  # the AOC primary code meaning "primaries defined by the MAC"
PFS_STATUS = frozenset("ABCDEFGHIJMNPRTX")
PFS_GLOBAL = frozenset({"000", "010", "090", "MMM", "XXX", "YYY", "ZZZ"})


def _letters(cell: str) -> str:
    return "".join(ch for ch in cell.lower() if ch.isalnum())


_DATE_FORMS = (
    re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"),  # 20240701
    re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T]00:00:00)?"),  # 2024-07-01
)
_US_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")  # 07/01/2024


def parse_date(name: str, lineno: int, what: str, raw: str) -> date | None:
    """A CMS date cell: ``YYYYMMDD``, ``YYYY-MM-DD`` or ``MM/DD/YYYY``; blank or ``*`` is None."""
    raw = raw.strip()
    if raw in ("", "*"):
        return None
    for form in _DATE_FORMS:
        if m := form.fullmatch(raw):
            y, mo, d = int(m[1]), int(m[2]), int(m[3])
            break
    else:
        if m := _US_DATE.fullmatch(raw):
            mo, d, y = int(m[1]), int(m[2]), int(m[3])
        else:
            raise CmsFileError(f"{name}: line {lineno}: {what} {raw!r} is not a date (YYYYMMDD)")
    try:
        return date(y, mo, d)
    except ValueError:
        raise CmsFileError(f"{name}: line {lineno}: {what} {raw!r} is not a valid date") from None


# decoded text, or the rows of a workbook sheet ([(row number, cells)])
Content: TypeAlias = str | list[tuple[int, list[str]]]


def _rows(name: str, content: Content) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each record of a tab- or comma-separated text, or of the rows of
    a workbook sheet (see :func:`xlsx_rows`)."""
    if not isinstance(content, str):
        yield from iter(content)
        return
    text = content
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in text[:20000] and first.count("\t") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for row in reader:
            lineno, start = start, reader.line_num + 1
            yield lineno, [c.strip() for c in row]
    except csv.Error as exc:
        raise CmsFileError(f"{name}: line {reader.line_num}: not a readable CSV ({exc})") from None


def _xlsx_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def xlsx_rows(name: str, data: bytes) -> list[tuple[int, list[str]]]:
    """The rows of the first sheet of an ``.xlsx`` workbook (CMS ships the add-on code edits and the
    HCPCS ANWEB file as workbooks), cells as strings (dates ``YYYYMMDD``), with their row numbers."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors alike
        raise CmsFileError(f"{name}: not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        return [
            (i, [_xlsx_cell(v) for v in row])
            for i, row in enumerate(sheet.iter_rows(values_only=True), 1)
            if row is not None
        ]
    finally:
        book.close()


def content_of(name: str, data: bytes) -> Content:
    """Decoded text of a ``.txt``/``.csv`` member, the rows of an ``.xlsx`` one."""
    if name.lower().endswith(".xlsx"):
        return xlsx_rows(name, data)
    return decode(data)


def head_text(content: Content, rows: int = 40) -> str:
    """The first records as text (for telling which CMS table a file is)."""
    if isinstance(content, str):
        return content[:6000]
    return "\n".join(",".join(cells) for _, cells in content[:rows])


def _find_columns(
    name: str,
    rows: Iterator[tuple[int, list[str]]],
    is_header: Callable[[list[str]], bool],
    wanted: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
    what: str,
    *,
    limit: int = 60,
) -> dict[str, int]:
    """Read ``rows`` up to the header row (``is_header(labels)``) and map each ``wanted`` field to the
    first column whose label (letters only, lower case; joined with the labels of the row above
    when CMS splits them over two rows) contains one of its keys. Raises CmsFileError when no header
    is met in the first ``limit`` records or a required column is missing."""
    above: list[str] = []
    for count, (lineno, cells) in enumerate(rows):
        labels = [_letters(c) for c in cells]
        if is_header(labels):
            joined = [
                _letters((above[i] if i < len(above) else "") + " " + cells[i]) for i in range(len(cells))
            ]
            columns: dict[str, int] = {}
            for field, keys in wanted.items():
                for candidates in (labels, joined):
                    hit = next((i for i, lab in enumerate(candidates) if any(k == lab for k in keys)), None)
                    if hit is None:
                        hit = next(
                            (i for i, lab in enumerate(candidates) if any(k in lab for k in keys)), None
                        )
                    if hit is not None:
                        columns[field] = hit
                        break
            missing = [f for f in required if f not in columns]
            if missing:
                raise CmsFileError(f"{name}: line {lineno}: not {what}: no column for {', '.join(missing)}")
            return columns
        if count >= limit:
            break
        above = cells
    raise CmsFileError(f"{name}: not {what} (no header row found)")


def _cell(cells: list[str], i: int | None) -> str:
    return cells[i] if i is not None and i < len(cells) else ""


def _files(paths: Iterable[Path] | Path, suffixes: tuple[str, ...]) -> Iterator[tuple[str, Content]]:
    """(name, content) of every data file at ``paths``; a workbook beside a text file of the same
    name (CMS ships some tables both ways) is not read twice."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for path in paths:
        members = list(file_members(Path(path), suffixes))
        for name, data in drop_twin_workbooks(members):
            yield name, content_of(name, data)


def drop_twin_workbooks(members: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``members`` without the ``.xlsx`` files that have a ``.txt``/``.csv`` of the same stem."""
    stems = {n.lower().rsplit(".", 1)[0] for n, _ in members if not n.lower().endswith(".xlsx")}
    return [
        (n, d)
        for n, d in members
        if not (n.lower().endswith(".xlsx") and n.lower().rsplit(".", 1)[0] in stems)
    ]


# ===================================================================================================
# add-on code edits
# ===================================================================================================
@dataclass(frozen=True, slots=True)
class AocEdit:
    """The add-on code edit for one add-on code, as in force on one date.

    ``edit_type``: 1 CMS lists every primary (``primaries``); 2 the contractor defines them
    (``primaries`` empty: CMS's ``CCCCC`` rows); 3 CMS lists some primaries, the contractor may
    accept others. The 2024-06 CMS file never gives one add-on code two edit types; should a release
    do so, the type of the rows that list primaries wins (the most frequent among them), and the
    ``CCCCC`` rows' type applies only when no row lists a primary.
    """

    add_on: str
    edit_type: int
    primaries: frozenset[str]
    release: str
    source: str
    verified: bool

    @property
    def citation(self) -> str:
        """e.g. ``"NCCI add-on code edits, 2024-06"``."""
        if self.release:
            return f"NCCI add-on code edits, {describe_release(self.release)}"
        return self.source or "NCCI add-on code edits (fhirplugin built-in excerpt)"


# one AOC row: (primary, edit_type, effective, deletion, release, source, verified)
_AocRaw: TypeAlias = tuple[str, int, date | None, date | None, str, str, bool]


def _in_force(effective: date | None, deletion: date | None, dos: date | None) -> bool:
    if dos is None:
        return deletion is None or deletion >= date.today()
    return (effective is None or effective <= dos) and (deletion is None or dos <= deletion)


def aoc_edit_from_rows(add_on: str, rows: Iterable[_AocRaw], dos: date | None) -> AocEdit | None:
    """The :class:`AocEdit` for ``add_on`` from its rows in force on ``dos`` (see AocEdit for the
    edit type rule); None when no row is in force."""
    live = [r for r in rows if _in_force(r[2], r[3], dos)]
    if not live:
        return None
    listed = [r for r in live if r[0] != CONTRACTOR_DEFINED]
    basis = listed or live
    counts = Counter(r[1] for r in basis)
    edit_type = min(counts, key=lambda t: (-counts[t], t))
    first = basis[0]
    return AocEdit(
        add_on=add_on,
        edit_type=edit_type,
        primaries=frozenset(r[0] for r in listed),
        release=first[4],
        source=first[5],
        verified=first[6],
    )


class AocTable:
    """Add-on code edits by add-on code (in memory). Treat as immutable."""

    __slots__ = ("_rows",)

    def __init__(self, rows: dict[str, list[_AocRaw]] | None = None) -> None:
        self._rows: dict[str, list[_AocRaw]] = rows or {}

    @classmethod
    def empty(cls) -> AocTable:
        return cls()

    @classmethod
    def load(
        cls,
        paths: Iterable[Path] | Path,
        *,
        release: str | None = None,
        source: str = "CMS NCCI add-on code edits",
        verified: bool = True,
    ) -> AocTable:
        """Read CMS add-on code edit files (``.txt`` tab-separated or ``.csv``; files, folders, zips)."""
        rows: dict[str, list[_AocRaw]] = {}
        found = 0
        for name, text in _files(paths, (".txt", ".csv", ".xlsx")):
            rel = release if release is not None else detect_release("aoc", name) or ""
            for add_on, raw in read_aoc(name, text, rel, source, verified):
                rows.setdefault(add_on, []).append(raw)
                found += 1
        if not found:
            raise CmsFileError(f"{paths}: no add-on code edit rows found")
        return cls(rows)

    def merge(self, other: AocTable) -> AocTable:
        """A new table: ``other``'s rows replace ours add-on code by add-on code."""
        return AocTable({**self._rows, **other._rows})

    def get(self, add_on: str, dos: date | None = None) -> AocEdit | None:
        """The edit of ``add_on`` in force on ``dos`` (None: today), or None when it is no add-on code."""
        if not isinstance(add_on, str):
            return None
        code = norm_code(add_on)
        rows = self._rows.get(code)
        return aoc_edit_from_rows(code, rows, dos) if rows else None

    def is_add_on(self, code: str, dos: date | None = None) -> bool:
        return self.get(code, dos) is not None

    def rows(self) -> Iterator[tuple[str, _AocRaw]]:
        for add_on, rows in self._rows.items():
            for r in rows:
                yield add_on, r

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __repr__(self) -> str:
        return f"<AocTable {len(self._rows)} add-on codes>"


_AOC_COLUMNS = {
    "add_on": ("addoncode", "aoc", "addon"),
    "primary": ("primarycode", "primary"),
    "type": ("aocedittype", "edittype", "type"),
    "aoc_del": ("aocdeldt", "addoncodedeletiondate", "aocdeletiondate"),
    "primary_del": ("primarycodedeldt", "primarycodedeletiondate", "primarydeldt"),
    "effective": ("aocediteffdt", "editeffectivedate", "editeffdt", "effectivedate"),
    "deletion": ("aoceditdeldt", "editdeletiondate", "editdeldt"),
}


def read_aoc(
    name: str, text: Content, release: str, source: str, verified: bool
) -> Iterator[tuple[str, _AocRaw]]:
    """(add-on code, row) for each data row of one AOC text; CmsFileError on a bad row or file."""
    rows = _rows(name, text)

    def header(labels: list[str]) -> bool:
        return any("addon" in lab for lab in labels) and any("primary" in lab for lab in labels)

    cols = _find_columns(
        name, rows, header, _AOC_COLUMNS, ("add_on", "primary", "type"), "a CMS add-on code edit file"
    )
    for lineno, cells in rows:
        if not any(cells):
            continue
        add_on = _cell(cells, cols["add_on"]).upper()
        primary = _cell(cells, cols["primary"]).upper()
        for what, code in (("add-on code", add_on), ("primary code", primary)):
            if not is_code(code):
                raise CmsFileError(f"{name}: line {lineno}: {what} {code!r} is not a five-character code")
        kind = _cell(cells, cols["type"])
        if kind not in ("1", "2", "3"):
            raise CmsFileError(f"{name}: line {lineno}: AOC edit type {kind!r} is not 1, 2 or 3")
        effective = parse_date(name, lineno, "edit effective date", _cell(cells, cols.get("effective")))
        deletion = parse_date(name, lineno, "edit deletion date", _cell(cells, cols.get("deletion")))
        # the add-on or the primary code deleted: the edit ends then too
        for key, what in (("aoc_del", "add-on code deletion date"), ("primary_del", "primary deletion date")):
            ended = parse_date(name, lineno, what, _cell(cells, cols.get(key)))
            if ended is not None and (deletion is None or ended < deletion):
                deletion = ended
        if effective and deletion and effective > deletion:
            raise CmsFileError(
                f"{name}: line {lineno}: effective date {effective.isoformat()} is after the deletion "
                f"date {deletion.isoformat()}"
            )
        yield add_on, (primary, int(kind), effective, deletion, release, source, verified)


# ===================================================================================================
# physician fee schedule relative value file
# ===================================================================================================
@dataclass(frozen=True, slots=True)
class PfsRow:
    """The payment-policy indicators of one code (and modifier) in the PFS relative value file.

    Strings exactly as CMS writes them: ``status`` A, B, C, D, E, I, N, R, T, X…; ``pctc`` 0–9;
    ``global_days`` 000, 010, 090, MMM, XXX, YYY, ZZZ; ``mult_proc``, ``bilateral``,
    ``assistant``, ``co_surgeon``, ``team`` 0–9.
    """

    code: str
    modifier: str
    status: str
    pctc: str
    global_days: str
    mult_proc: str
    bilateral: str
    assistant: str
    co_surgeon: str
    team: str
    release: str
    source: str
    verified: bool

    @property
    def citation(self) -> str:
        """e.g. ``"Medicare Physician Fee Schedule relative value file RVU24C (July 2024)"``."""
        if self.release:
            return f"Medicare Physician Fee Schedule relative value file {describe_release(self.release)}"
        return (
            self.source or "Medicare Physician Fee Schedule relative value file (fhirplugin built-in excerpt)"
        )


_PFS_FIELDS = ("status", "pctc", "global_days", "mult_proc", "bilateral", "assistant", "co_surgeon", "team")
_PFS_COLUMNS = {
    "code": ("hcpcs",),
    "modifier": ("mod",),
    "status": ("statuscode", "status"),
    "pctc": ("pctcind", "pctc"),
    "global_days": ("globdays", "glob", "global"),
    "mult_proc": ("multproc", "mult"),
    "bilateral": ("bilatsurg", "bilat"),
    "assistant": ("asstsurg", "asst"),
    "co_surgeon": ("cosurg",),
    "team": ("teamsurg", "team"),
}


class PfsTable:
    """PFS indicator rows by (code, modifier), in memory. Treat as immutable."""

    __slots__ = ("_rows",)

    def __init__(self, rows: dict[tuple[str, str], PfsRow] | None = None) -> None:
        self._rows: dict[tuple[str, str], PfsRow] = rows or {}

    @classmethod
    def empty(cls) -> PfsTable:
        return cls()

    @classmethod
    def load(
        cls,
        paths: Iterable[Path] | Path,
        *,
        release: str | None = None,
        source: str = "CMS PFS relative value file",
        verified: bool = True,
    ) -> PfsTable:
        """Read the PPRRVU file(s): ``.csv`` / ``.txt``, folders, the ``RVU24C.zip``. Only files whose
        name holds ``PPRRVU`` are read from a zip or folder holding several."""
        rows: dict[tuple[str, str], PfsRow] = {}
        for name, text in _pfs_files(paths):
            rel = release if release is not None else detect_release("pfs", name) or ""
            for row in read_pfs(name, text, rel, source, verified):
                rows[(row.code, row.modifier)] = row
        if not rows:
            raise CmsFileError(f"{paths}: no PFS relative value rows found")
        return cls(rows)

    def merge(self, other: PfsTable) -> PfsTable:
        return PfsTable({**self._rows, **other._rows})

    def get(self, code: str, dos: date | None = None, modifier: str = "") -> PfsRow | None:
        """The row of ``code`` with ``modifier`` ("" = the base row, "26", "TC", "53"), or None when
        CMS lists no such row. One release in memory: ``dos`` does not change the answer here."""
        if not isinstance(code, str):
            return None
        return self._rows.get((norm_code(code), norm_code(modifier or "")))

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[PfsRow]:
        return iter(self._rows.values())

    def __repr__(self) -> str:
        return f"<PfsTable {len(self._rows)} rows>"


def _pfs_files(paths: Iterable[Path] | Path) -> Iterator[tuple[str, Content]]:
    members = list(_files(paths, (".csv", ".txt", ".xlsx")))
    named = [(n, t) for n, t in members if "pprrvu" in n.lower()]
    yield from named or members


def read_pfs(name: str, text: Content, release: str, source: str, verified: bool) -> Iterator[PfsRow]:
    """The rows of one PPRRVU text; CmsFileError on a bad row or a file of another kind."""
    rows = _rows(name, text)

    def header(labels: list[str]) -> bool:
        return bool(labels) and labels[0] == "hcpcs" and "mod" in labels

    cols = _find_columns(
        name, rows, header, _PFS_COLUMNS, tuple(_PFS_COLUMNS), "a PFS relative value (PPRRVU) file"
    )
    for lineno, cells in rows:
        code = _cell(cells, cols["code"]).upper()
        if not code:
            continue
        if not is_code(code):
            if len(cells) > cols["global_days"] and _cell(cells, cols["global_days"]).upper() in PFS_GLOBAL:
                raise CmsFileError(f"{name}: line {lineno}: {code!r} is not a five-character HCPCS/CPT code")
            continue  # a trailing note
        modifier = _cell(cells, cols["modifier"]).upper()
        if modifier and not (len(modifier) == 2 and modifier.isalnum()):
            raise CmsFileError(f"{name}: line {lineno}: modifier {modifier!r} is not two characters")
        values = {f: _cell(cells, cols[f]).upper() for f in _PFS_FIELDS}
        if values["status"] not in PFS_STATUS or len(values["status"]) != 1:
            raise CmsFileError(
                f"{name}: line {lineno}: status {values['status']!r} of {code} is not a PFS status"
            )
        if values["global_days"] not in PFS_GLOBAL:
            raise CmsFileError(
                f"{name}: line {lineno}: global days {values['global_days']!r} of {code} is not one of "
                f"{', '.join(sorted(PFS_GLOBAL))}"
            )
        for f in ("pctc", "mult_proc", "bilateral", "assistant", "co_surgeon", "team"):
            if not (len(values[f]) == 1 and values[f].isdigit()):
                raise CmsFileError(f"{name}: line {lineno}: {f} indicator {values[f]!r} of {code} is not 0-9")
        yield PfsRow(
            code=code, modifier=modifier, **values, release=release, source=source, verified=verified
        )


# ===================================================================================================
# HCPCS Level II
# ===================================================================================================
@dataclass(frozen=True, slots=True)
class HcpcsCode:
    """One HCPCS Level II code: when CMS added it, when it ends (``terminated`` is the last day it
    may be reported), CMS's action code and long description."""

    code: str
    added: date | None
    terminated: date | None
    action: str
    description: str
    release: str
    source: str

    @property
    def citation(self) -> str:
        """e.g. ``"CMS HCPCS Level II file, July 2024"``."""
        if self.release:
            start = _release_month(self.release)
            return f"CMS HCPCS Level II file, {start}"
        return self.source or "CMS HCPCS Level II file (fhirplugin built-in excerpt)"


def _release_month(release: str) -> str:
    from fhirplugin.tx.releases import release_start

    start = release_start(release)
    if start is None:
        return release
    return start.strftime("%B %Y")


class HcpcsTable:
    """HCPCS Level II codes by code, in memory. Treat as immutable."""

    __slots__ = ("_codes",)

    def __init__(self, codes: dict[str, HcpcsCode] | None = None) -> None:
        self._codes: dict[str, HcpcsCode] = codes or {}

    @classmethod
    def empty(cls) -> HcpcsTable:
        return cls()

    @classmethod
    def load(
        cls, paths: Iterable[Path] | Path, *, release: str | None = None, source: str = "CMS HCPCS Level II"
    ) -> HcpcsTable:
        """Read the HCPCS ANWEB file(s) (``.csv``/``.txt`` with the CMS column labels; folders, zips)."""
        codes: dict[str, HcpcsCode] = {}
        for name, text in _files(paths, (".csv", ".txt", ".xlsx")):
            rel = release if release is not None else detect_release("hcpcs", name) or ""
            for item in read_anweb(name, text, rel, source):
                if isinstance(item, HcpcsCode):
                    codes[item.code] = item
        if not codes:
            raise CmsFileError(f"{paths}: no HCPCS Level II code rows found")
        return cls(codes)

    def merge(self, other: HcpcsTable) -> HcpcsTable:
        return HcpcsTable({**self._codes, **other._codes})

    def get(self, code: str) -> HcpcsCode | None:
        if not isinstance(code, str):
            return None
        return self._codes.get(norm_code(code))

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and norm_code(code) in self._codes

    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[HcpcsCode]:
        return iter(self._codes.values())

    def __repr__(self) -> str:
        return f"<HcpcsTable {len(self._codes)} codes>"


@dataclass(slots=True)
class _AnwebRecord:
    """The record read_anweb holds until its continuation records are in."""

    kind: str  # "code" | "modifier"
    code: str
    added: date | None
    terminated: date | None
    action: str
    text: list[str]


_ANWEB_COLUMNS = {
    "code": ("hcpc", "hcpcs"),
    "recid": ("recid",),
    "long": ("longdescription",),
    "short": ("shortdescription",),
    "added": ("adddt", "adddate"),
    "terminated": ("termdt", "termdate", "terminationdate"),
    "action": ("actioncd", "action"),
}


class AnwebModifier(NamedTuple):
    """A Level II modifier record of the ANWEB file."""

    code: str
    description: str
    added: date | None
    terminated: date | None


def read_anweb(name: str, text: Content, release: str, source: str) -> Iterator[HcpcsCode | AnwebModifier]:
    """The codes (:class:`HcpcsCode`) and modifiers (:class:`AnwebModifier`) of one ANWEB text;
    continuation records (4, 8) extend the long description of the record before."""
    rows = _rows(name, text)

    def header(labels: list[str]) -> bool:
        return bool(labels) and labels[0] in ("hcpc", "hcpcs") and any("termdt" in lab for lab in labels)

    cols = _find_columns(
        name, rows, header, _ANWEB_COLUMNS, ("code", "long", "added", "terminated"), "a HCPCS ANWEB file"
    )
    pending: _AnwebRecord | None = None

    def flush() -> Iterator[HcpcsCode | AnwebModifier]:
        if pending is None:
            return
        if pending.kind == "code":
            yield HcpcsCode(
                code=pending.code,
                added=pending.added,
                terminated=pending.terminated,
                action=pending.action,
                description=" ".join(pending.text).strip(),
                release=release,
                source=source,
            )
        else:
            yield AnwebModifier(
                pending.code, " ".join(pending.text).strip(), pending.added, pending.terminated
            )

    for lineno, cells in rows:
        code = _cell(cells, cols["code"]).upper()
        if not code:
            continue
        recid = _cell(cells, cols.get("recid"))
        description = _cell(cells, cols["long"])
        if recid in ("4", "8"):  # continuation of the long description
            if pending is None or pending.code != code:
                raise CmsFileError(
                    f"{name}: line {lineno}: continuation record for {code} without its first record"
                )
            pending.text.append(description)
            continue
        if len(code) == 2 and code.isalnum():
            kind = "modifier"
        elif is_code(code) and code[0].isalpha() and code[1:].isdigit():
            kind = "code"
        else:
            raise CmsFileError(f"{name}: line {lineno}: {code!r} is not a HCPCS Level II code or modifier")
        if recid and recid not in ("3", "7"):
            raise CmsFileError(f"{name}: line {lineno}: record id {recid!r} is not 3, 4, 7 or 8")
        added = parse_date(name, lineno, "add date", _cell(cells, cols["added"]))
        terminated = parse_date(name, lineno, "termination date", _cell(cells, cols["terminated"]))
        if added and terminated and added > terminated:
            raise CmsFileError(
                f"{name}: line {lineno}: add date {added.isoformat()} is after the termination date "
                f"{terminated.isoformat()}"
            )
        yield from flush()
        pending = _AnwebRecord(
            kind, code, added, terminated, _cell(cells, cols.get("action")).upper(), [description]
        )
    yield from flush()


# ===================================================================================================
# built-in excerpts (terminology/aoc, terminology/pfs, terminology/hcpcs)
# ===================================================================================================
def _only_file(folder: Path, pattern: str) -> Path | None:
    files = sorted(p for p in folder.glob(pattern) if not p.name.endswith(".sources.csv"))
    return files[0] if files else None


@cache
def builtin_aoc() -> AocTable:
    """The add-on code edits shipped in ``terminology/aoc/`` (CMS layout, each row's source from
    ``aoc.sources.csv``, key add-on code + primary code)."""
    folder = data_dir("terminology") / "aoc"
    path = _only_file(folder, "AOC_*.txt")
    if path is None:
        return AocTable.empty()
    release = _builtin_release(folder)
    table = AocTable.load(path, release=release, source="fhirplugin built-in", verified=False)
    sources = read_sidecar(folder / "aoc.sources.csv", ("add_on_code", "primary_code"))
    rows: dict[str, list[_AocRaw]] = {}
    for add_on, r in table.rows():
        src, ok = sources.get((add_on, r[0]), (r[5], r[6]))
        rows.setdefault(add_on, []).append((*r[:5], src, ok))
    return AocTable(rows)


@cache
def builtin_pfs() -> PfsTable:
    """The PFS indicator rows shipped in ``terminology/pfs/`` (sources from ``pfs.sources.csv``)."""
    folder = data_dir("terminology") / "pfs"
    path = _only_file(folder, "PPRRVU*.csv")
    if path is None:
        return PfsTable.empty()
    table = PfsTable.load(
        path, release=_builtin_release(folder), source="fhirplugin built-in", verified=False
    )
    sources = read_sidecar(folder / "pfs.sources.csv", ("code", "modifier"))
    rows = {}
    for row in table:
        src, ok = sources.get((row.code, row.modifier), (row.source, row.verified))
        rows[(row.code, row.modifier)] = replace(row, source=src, verified=ok)
    return PfsTable(rows)


@cache
def builtin_hcpcs() -> HcpcsTable:
    """The HCPCS Level II codes shipped in ``terminology/hcpcs/`` (sources from ``hcpcs.sources.csv``)."""
    folder = data_dir("terminology") / "hcpcs"
    path = _only_file(folder, "HCPC*.csv")
    if path is None:
        return HcpcsTable.empty()
    table = HcpcsTable.load(path, release=_builtin_release(folder), source="fhirplugin built-in")
    sources = read_sidecar(folder / "hcpcs.sources.csv", ("code",))
    codes = {}
    for item in table:
        src, _ok = sources.get((item.code,), (item.source, False))
        codes[item.code] = replace(item, source=src)
    return HcpcsTable(codes)


def _builtin_release(folder: Path) -> str:
    """The CMS release the built-in excerpt in ``folder`` was read from (its ``RELEASE`` file)."""
    path = folder / "RELEASE"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""
