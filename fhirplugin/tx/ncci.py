"""CMS NCCI edit tables: procedure-to-procedure (PTP) pairs and medically unlikely edits (MUE).

Both readers take the files exactly as CMS publishes them, so the same code reads a user's full
quarterly download and the small tables shipped under ``terminology/ncci/``:

* **PTP** (practitioner ``ccipra…`` or outpatient hospital ``ccioph…``): tab-separated text split
  into parts f1–f4, Windows-1252, CRLF, a header block of column labels first, then one row per
  edit: column 1 code, column 2 code, ``*`` when the edit existed before 1996, effective date
  ``YYYYMMDD``, deletion date ``YYYYMMDD`` or ``*`` (none), modifier indicator 0/1/9, rationale.
  A pair may have several rows with disjoint date windows; :meth:`PtpTable.lookup` picks the row
  in force on the date of service.
* **MUE** (practitioner, outpatient hospital or DME supplier services): CSV whose first cell is a
  quoted multi-line notice, then a header row (its first cell holds a line break), then one row
  per code: code, MUE value, adjudication indicator text starting with 1, 2 or 3, rationale.

``load`` accepts files, folders (every ``.txt``/``.csv`` and ``.zip`` inside) and the ``.zip``
archives CMS distributes. Any malformed data row raises :class:`NcciFileError` naming the file and
line; rows are never dropped silently.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path

from fhirplugin.resources import data_dir
from fhirplugin.tx.releases import detect_release

__all__ = [
    "ANATOMIC_MODIFIERS",
    "DISTINCT_MODIFIERS",
    "GLOBAL_SURGERY_MODIFIERS",
    "MUE_LINE_MODIFIERS",
    "NCCI_KINDS",
    "PTP_BYPASS_MODIFIERS",
    "CmsFileError",
    "MueEntry",
    "MueTable",
    "NcciFileError",
    "PtpEdit",
    "PtpTable",
    "load_builtin",
]

# -- modifiers (coding-rules §1.6 and §2.2, [V]) ----------------------------------------------------
ANATOMIC_MODIFIERS: frozenset[str] = frozenset(
    {"E1", "E2", "E3", "E4", "FA", "TA", "LT", "RT", "LC", "LD", "RC", "LM", "RI"}
    | {f"F{i}" for i in range(1, 10)}
    | {f"T{i}" for i in range(1, 10)}
)
GLOBAL_SURGERY_MODIFIERS: frozenset[str] = frozenset({"24", "25", "57", "58", "78", "79"})
DISTINCT_MODIFIERS: frozenset[str] = frozenset({"59", "XE", "XS", "XP", "XU"})
# the NCCI PTP-associated modifiers: the only ones that can bypass an indicator-1 edit
PTP_BYPASS_MODIFIERS: frozenset[str] = (
    ANATOMIC_MODIFIERS | GLOBAL_SURGERY_MODIFIERS | DISTINCT_MODIFIERS | frozenset({"27", "91"})
)
# modifiers that let units of an MAI-1 (line edit) code be reported on a separate line
MUE_LINE_MODIFIERS: frozenset[str] = frozenset({"76", "77", "91"}) | ANATOMIC_MODIFIERS

MODIFIER_INDICATORS = ("0", "1", "9")
_INDICATORS = {i: i for i in MODIFIER_INDICATORS}
MAI_TEXT = {1: "Line Edit", 2: "Date of Service Edit: Policy", 3: "Date of Service Edit: Clinical"}

# built-in table kinds → file stem; "hospital" is the outpatient hospital (OPPS) table
NCCI_KINDS = {
    "practitioner": "practitioner",
    "hospital": "hospital",
    "outpatient-hospital": "hospital",
    "outpatient hospital": "hospital",
    "opps": "hospital",
    "dme": "dme",
}

# file stem -> the table name used in citations
_TABLE_NAMES = {"practitioner": "practitioner", "hospital": "outpatient hospital", "dme": "dme"}

_DATE8 = re.compile(r"[0-9]{8}")


class CmsFileError(ValueError):
    """A CMS data file (or the store compiled from them) cannot be read; the message names the file
    and line, or the store, and the problem."""


class NcciFileError(CmsFileError):
    """An NCCI PTP or MUE file cannot be read; the message names the file, the line and the problem."""


def _is_code(value: str) -> bool:
    """The shape of a CPT/HCPCS code as CMS writes it: five ASCII letters or digits."""
    return len(value) == 5 and value.isascii() and value.isalnum()


def _norm(code: str) -> str:
    return code.strip().upper()


def ptp_table_from_name(name: str) -> str | None:
    """ "practitioner" for a CMS ``ccipra…`` file, "outpatient hospital" for ``ccioph…``, else None."""
    n = name.lower()
    if "ccipra" in n or "practitioner" in n:
        return "practitioner"
    if "ccioph" in n or "hospital" in n:
        return "outpatient hospital"
    return None


# ===================================================================================================
# PTP
# ===================================================================================================
@dataclass(frozen=True, slots=True)
class PtpEdit:
    """One row of a PTP table: column 2 is not paid with column 1 in the row's date window.

    ``modifier_indicator``: ``"0"`` no modifier bypasses the edit, ``"1"`` an NCCI PTP-associated
    modifier may bypass it, ``"9"`` the edit does not apply. ``deletion`` is None while in force.
    ``verified`` is False when the row (or its indicator) is an inference, not CMS data.
    """

    column1: str
    column2: str
    prior_1996: bool
    effective: date
    deletion: date | None
    modifier_indicator: str
    rationale: str
    source: str
    verified: bool
    table: str = ""  # "practitioner" | "outpatient hospital" ("" when not known)
    release: str = ""  # e.g. "2024 Q3"; "" for the built-in excerpt

    @property
    def citation(self) -> str:
        """Where a coder looks the edit up, e.g. ``"NCCI PTP practitioner table, 2024 Q3"``; for a
        built-in row, what its sources sidecar says."""
        if self.release:
            return f"NCCI PTP {self.table or 'practitioner'} table, {self.release}"
        return self.source or f"NCCI PTP {self.table or 'practitioner'} table (fhirplugin built-in excerpt)"

    def active_on(self, dos: date) -> bool:
        """True when ``dos`` falls in [effective, deletion] (deletion inclusive; None = open)."""
        return self.effective <= dos and (self.deletion is None or dos <= self.deletion)

    def bypassed_by(self, modifiers: Iterable[str]) -> bool:
        """True when the edit does not stop the pair given the modifiers reported.

        Indicator ``"9"`` is no edit (always True); ``"0"`` is never bypassed (always False);
        ``"1"`` is bypassed when any modifier is an NCCI PTP-associated modifier. Pass the
        modifiers of both lines of the pair (usually the column 2 line carries it).
        """
        if self.modifier_indicator == "9":
            return True
        if self.modifier_indicator == "0":
            return False
        return any(_norm(m) in PTP_BYPASS_MODIFIERS for m in modifiers if m)


# Storage. Building 1.5M frozen dataclasses doubles the load time of the real files, so the index
# keeps each row as a plain tuple (the PtpEdit fields after column1/column2) and makes the PtpEdit
# when a query returns it. A pair with one row holds the tuple; a pair with several rows (deleted and
# re-added with another window) holds a list of them, newest first.
_Raw = tuple  # (prior_1996, effective, deletion, modifier_indicator, rationale, source, verified,
#               table, release)
_Index = dict[str, dict[str, "_Raw | list[_Raw]"]]


def _raws(rows: _Raw | list[_Raw]) -> list[_Raw] | tuple[_Raw]:
    return rows if type(rows) is list else (rows,)


def _covers(raw: _Raw, dos: date) -> bool:
    return raw[1] <= dos and (raw[2] is None or dos <= raw[2])


class PtpTable:
    """PTP edits indexed by column 1, then column 2; each pair keeps all its rows, newest first.

    Treat as immutable: :meth:`merge` returns a new table.
    """

    __slots__ = ("_count", "_index")

    def __init__(self, index: _Index | None = None) -> None:
        self._index: _Index = index or {}
        self._count = sum(
            len(rows) if type(rows) is list else 1
            for inner in self._index.values()
            for rows in inner.values()
        )

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> PtpTable:
        return cls()

    @classmethod
    def from_edits(cls, edits: Iterable[PtpEdit]) -> PtpTable:
        """A table holding ``edits`` (rows of one pair are kept side by side, newest first)."""
        index: _Index = {}
        for e in edits:
            raw = (
                e.prior_1996,
                e.effective,
                e.deletion,
                e.modifier_indicator,
                e.rationale,
                e.source,
                e.verified,
                e.table,
                e.release,
            )
            _add(index.setdefault(e.column1, {}), e.column2, raw)
        _finish(index)
        return cls(index)

    @classmethod
    def load(
        cls,
        paths: Iterable[Path],
        *,
        source: str = "CMS NCCI PTP",
        verified: bool = True,
        table: str | None = None,
        release: str | None = None,
    ) -> PtpTable:
        """Read CMS PTP text files: parts f1…f4, folders holding them, or the CMS ``.zip`` archives.

        Header blocks are skipped wherever they are (data rows are recognised by their shape: two
        five-character codes first). Raises NcciFileError for a missing file, a path holding no
        edit rows, or a malformed row (bad code, date, indicator or column count).

        ``table`` ("practitioner" / "outpatient hospital") and ``release`` ("2024 Q3") label every
        row; when not given they are read from each file name (``ccipra`` / ``ccioph``,
        ``v303r0`` = 2024 Q3), else left blank.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        index: _Index = {}
        state = _ParseState(source, verified)
        for path in paths:
            path = Path(path)
            found = 0
            for name, data in _members(path, (".txt",)):
                state.table = table if table is not None else ptp_table_from_name(name) or ""
                state.release = release if release is not None else detect_release("ptp", name) or ""
                found += _parse_ptp(name, _decode(data), index, state)
            if not found:
                raise NcciFileError(f"{path}: no PTP edit rows found (expected the CMS tab-separated .txt)")
        _finish(index)
        return cls(index)

    def merge(self, other: PtpTable) -> PtpTable:
        """A new table with ``other``'s rows added; for a pair present in both, ``other``'s rows
        replace ours (load the CMS file over the built-in table: CMS data wins)."""
        index = dict(self._index)
        for c1, inner in other._index.items():
            mine = index.get(c1)
            index[c1] = {**mine, **inner} if mine else inner
        return PtpTable(index)

    # -- queries --------------------------------------------------------------------------------
    def lookup(self, column1: str, column2: str, dos: date | None) -> PtpEdit | None:
        """The edit for (column1, column2) in force on ``dos``, or None.

        With ``dos`` None: the newest row not deleted before today. A row with indicator 9 is
        returned as it is; ``bypassed_by`` reports it as no edit.
        """
        c1, c2 = _norm(column1), _norm(column2)
        inner = self._index.get(c1)
        rows = inner.get(c2) if inner else None
        if rows is None:
            return None
        if dos is None:
            today = date.today()
            hit = next((r for r in _raws(rows) if r[2] is None or r[2] >= today), None)
        else:
            hit = next((r for r in _raws(rows) if _covers(r, dos)), None)
        return None if hit is None else PtpEdit(c1, c2, *hit)

    def among(self, codes: Collection[str], dos: date | None) -> list[PtpEdit]:
        """Every edit in force on ``dos`` (see :meth:`lookup`) whose column 1 and column 2 codes are
        both in ``codes``, ordered by column 1 then column 2. Indicator-9 rows are included."""
        wanted_set = {_norm(c) for c in codes if isinstance(c, str) and c.strip()}
        wanted = sorted(wanted_set)
        found: list[PtpEdit] = []
        for c1 in wanted:
            inner = self._index.get(c1)
            if not inner:
                continue
            # the smaller side drives the walk: a claim's codes or the column 2 codes of c1
            hits = wanted_set.intersection(inner) if len(inner) > len(wanted_set) else inner.keys() & wanted_set
            for c2 in sorted(hits):
                if c2 != c1:
                    edit = self.lookup(c1, c2, dos)
                    if edit is not None:
                        found.append(edit)
        return found

    def lookup_either(self, code_a: str, code_b: str, dos: date | None) -> PtpEdit | None:
        """The edit between two codes in either order (``code_a`` as column 1 first)."""
        return self.lookup(code_a, code_b, dos) or self.lookup(code_b, code_a, dos)

    def column2_for(self, column1: str, dos: date | None) -> list[PtpEdit]:
        """Every edit with this column 1 code in force on ``dos`` (see :meth:`lookup`), by column 2."""
        inner = self._index.get(_norm(column1), {})
        found = (self.lookup(column1, c2, dos) for c2 in sorted(inner))
        return [e for e in found if e is not None]

    def rows(self, column1: str, column2: str) -> list[PtpEdit]:
        """All rows for the pair, newest first, whatever their windows."""
        c1, c2 = _norm(column1), _norm(column2)
        rows = self._index.get(c1, {}).get(c2)
        return [] if rows is None else [PtpEdit(c1, c2, *r) for r in _raws(rows)]

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[PtpEdit]:
        for c1, inner in self._index.items():
            for c2, rows in inner.items():
                for r in _raws(rows):
                    yield PtpEdit(c1, c2, *r)

    def __repr__(self) -> str:
        return f"<PtpTable {self._count} rows, {len(self._index)} column-1 codes>"


def _add(inner: dict, column2: str, raw: _Raw) -> None:
    rows = inner.get(column2)
    if rows is None:
        inner[column2] = raw
    elif type(rows) is list:
        rows.append(raw)
    else:
        inner[column2] = [rows, raw]


def _finish(index: _Index) -> None:
    """Order the rows of pairs listed more than once newest first (by effective, then deletion)."""
    for inner in index.values():
        for rows in inner.values():
            if type(rows) is list:  # the same row twice (a folder holding a part and its zip) counts once
                rows[:] = sorted(set(rows), key=lambda r: (r[1], r[2] or date.max), reverse=True)


class _ParseState:
    """Caches shared across the files of one load: equal strings and dates are stored once."""

    __slots__ = ("codes", "dates", "rationales", "release", "source", "table", "verified")

    def __init__(self, source: str, verified: bool) -> None:
        self.source = source
        self.verified = verified
        self.table = ""
        self.release = ""
        self.codes: dict[str, str] = {}
        self.dates: dict[str, date] = {}
        self.rationales: dict[str, str] = {}

    def date(self, name: str, lineno: int, what: str, raw: str) -> date:
        hit = self.dates.get(raw)
        if hit is not None:
            return hit
        if not _DATE8.fullmatch(raw):
            raise NcciFileError(f"{name}: line {lineno}: {what} {raw!r} is not a date YYYYMMDD")
        try:
            value = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        except ValueError:
            raise NcciFileError(f"{name}: line {lineno}: {what} {raw!r} is not a valid date") from None
        self.dates[raw] = value
        return value


# a well-formed CMS row; anything else goes through the careful path in _split_ptp_row
_PTP_ROW = re.compile(
    r"([0-9A-Z]{5})\t([0-9A-Z]{5})\t(\*?)\t([0-9]{8})\t([0-9]{8}|\*)\t([019])\t([^\t\r]*)\r?"
)


def _split_ptp_row(name: str, lineno: int, line: str) -> tuple[str, ...] | None:
    """The 7 fields of a data row written loosely (spaces, lower case, missing rationale), None for a
    header or blank line; raises NcciFileError for a data row that is malformed."""
    if "\t" not in line:
        return None  # blank line, notice or title line of the header block
    f = line.split("\t")
    c1 = f[0].strip().upper()
    c2 = f[1].strip().upper()
    if not (_is_code(c1) and _is_code(c2)):
        # header label rows start with "Column 1" or an empty cell; a row with an effective
        # date in column 4 is a data row whose code is wrong
        if len(f) >= 4 and _DATE8.fullmatch(f[3].strip()):
            bad = c1 if not _is_code(c1) else c2
            raise NcciFileError(f"{name}: line {lineno}: {bad!r} is not a five-character HCPCS/CPT code")
        return None
    if len(f) < 6:
        raise NcciFileError(
            f"{name}: line {lineno}: expected 7 tab-separated columns (column 1, column 2, "
            f"prior-1996 flag, effective, deletion, modifier indicator, rationale), found {len(f)}"
        )
    flag = f[2].strip()
    if flag not in ("", "*"):
        raise NcciFileError(f"{name}: line {lineno}: column 3 must be '*' or blank, not {flag!r}")
    indicator = f[5].strip()
    if indicator not in MODIFIER_INDICATORS:
        raise NcciFileError(f"{name}: line {lineno}: modifier indicator {indicator!r} is not 0, 1 or 9")
    deletion = f[4].strip() or "*"
    rationale = f[6].strip() if len(f) > 6 else ""
    return c1, c2, flag, f[3].strip(), deletion, indicator, rationale


def iter_ptp_fields(name: str, text: str) -> Iterator[tuple[int, str, str, str, str, str, str, str]]:
    """(line number, column 1, column 2, prior-1996 flag, effective, deletion, indicator, rationale)
    of each data row of one decoded PTP text, as strings (dates ``YYYYMMDD``, deletion ``*`` when
    none); header and blank lines are skipped, a malformed data row raises NcciFileError."""
    match = _PTP_ROW.fullmatch
    for lineno, line in enumerate(text.split("\n"), 1):
        m = match(line)
        if m is not None:
            c1, c2, flag, eff, dele, indicator, rationale = m.groups()
            if rationale.endswith(" "):
                rationale = rationale.rstrip()
        else:
            fields = _split_ptp_row(name, lineno, line)
            if fields is None:
                continue
            c1, c2, flag, eff, dele, indicator, rationale = fields
        if (
            dele != "*"
            and dele < eff
            and indicator != "9"
            and _DATE8.fullmatch(eff)
            and _DATE8.fullmatch(dele)
        ):
            # indicator 9 rows are edits CMS deleted retroactively (never in force): kept as they are
            raise NcciFileError(
                f"{name}: line {lineno}: effective date {eff} is after the deletion date {dele} ({c1}/{c2})"
            )
        yield lineno, c1, c2, flag, eff, dele, indicator, rationale


def _parse_ptp(name: str, text: str, index: _Index, state: _ParseState) -> int:
    """Add the rows of one decoded PTP text to ``index``; return how many were read."""
    count = 0
    codes, rationales, dates = state.codes, state.rationales, state.dates
    source, verified, table, release = state.source, state.verified, state.table, state.release
    last_c1 = None
    inner: dict[str, _Raw | list[_Raw]] = {}
    for lineno, c1, c2, flag, eff, dele, indicator, rationale in iter_ptp_fields(name, text):
        effective = dates.get(eff) or state.date(name, lineno, "effective date", eff)
        deletion = (
            None if dele == "*" else (dates.get(dele) or state.date(name, lineno, "deletion date", dele))
        )
        c1 = codes.setdefault(c1, c1)
        if c1 != last_c1:
            inner = index.setdefault(c1, {})
            last_c1 = c1
        raw = (
            flag == "*",
            effective,
            deletion,
            _INDICATORS[indicator],  # the shared "0" / "1" / "9" string
            rationales.setdefault(rationale, rationale),
            source,
            verified,
            table,
            release,
        )
        c2 = codes.setdefault(c2, c2)
        rows = inner.get(c2)
        if rows is None:
            inner[c2] = raw
        elif type(rows) is list:
            rows.append(raw)
        else:
            inner[c2] = [rows, raw]
        count += 1
    return count


# ===================================================================================================
# MUE
# ===================================================================================================
@dataclass(frozen=True, slots=True)
class MueEntry:
    """The MUE for one code: at most ``value`` units per line (MAI 1) or per date of service
    (MAI 2 policy, MAI 3 clinical). ``table`` names the CMS table ("practitioner",
    "outpatient hospital", "dme") when known."""

    code: str
    value: int
    mai: int
    rationale: str
    source: str
    verified: bool
    table: str = ""
    release: str = ""  # e.g. "2024 Q3"; "" for the built-in excerpt

    @property
    def citation(self) -> str:
        """Where a coder looks the value up, e.g. ``"NCCI MUE practitioner table, 2024 Q3"``; for a
        built-in row, what its sources sidecar says."""
        if self.release:
            return f"NCCI MUE {self.table or 'practitioner'} table, {self.release}"
        return self.source or f"NCCI MUE {self.table or 'practitioner'} table (fhirplugin built-in excerpt)"

    @property
    def mai_text(self) -> str:
        """The adjudication indicator as CMS words it, e.g. ``"3 Date of Service Edit: Clinical"``."""
        return f"{self.mai} {MAI_TEXT[self.mai]}"

    @property
    def per_line(self) -> bool:
        """True for MAI 1 (each claim line checked alone); MAI 2/3 sum units over the date of service."""
        return self.mai == 1


_MUE_TABLES = (
    ("outpatienthospital", "outpatient hospital"),
    ("practitioner", "practitioner"),
    ("dme", "dme"),
)


class MueTable:
    """MUE values by code. Treat as immutable: :meth:`merge` returns a new table."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[str, MueEntry] | None = None) -> None:
        self._entries: dict[str, MueEntry] = dict(entries or {})

    @classmethod
    def empty(cls) -> MueTable:
        return cls()

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        source: str = "CMS NCCI MUE",
        verified: bool = True,
        release: str | None = None,
    ) -> MueTable:
        """Read a CMS MUE CSV (practitioner, outpatient hospital or DME), a folder, or a CMS zip.

        ``release`` ("2024 Q3") labels every entry; when not given it is read from the file name
        (``…_Eff_07-01-2024.csv``), else left blank. The table comes from the header row.
        """
        path = Path(path)
        entries: dict[str, MueEntry] = {}
        where: dict[str, str] = {}
        found = 0
        for name, data in _members(path, (".csv",)):
            rel = release if release is not None else detect_release("mue", name) or ""
            found += _parse_mue(name, _decode(data), entries, where, source, verified, rel)
        if not found:
            raise NcciFileError(f"{path}: no MUE rows found (expected the CMS MUE .csv)")
        return cls(entries)

    def merge(self, other: MueTable) -> MueTable:
        """A new table: ``other``'s entries replace ours code by code."""
        return MueTable({**self._entries, **other._entries})

    def get(self, code: str, dos: date | None = None) -> MueEntry | None:
        """The MUE of ``code``, or None. An in-memory table holds one release, so ``dos`` does not
        change the answer here; the store picks the release in force on ``dos``."""
        if not isinstance(code, str):
            return None
        return self._entries.get(_norm(code))

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and _norm(code) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[MueEntry]:
        return iter(self._entries.values())

    def __repr__(self) -> str:
        return f"<MueTable {len(self._entries)} codes>"


def _letters(cell: str) -> str:
    return "".join(ch for ch in cell.lower() if ch.isalnum())


def _parse_mue(
    name: str,
    text: str,
    entries: dict[str, MueEntry],
    where: dict[str, str],
    source: str,
    verified: bool,
    release: str = "",
) -> int:
    reader = csv.reader(io.StringIO(text, newline=""))
    table: str | None = None
    count = 0
    start = 1
    try:
        for row in reader:
            lineno, start = start, reader.line_num + 1  # first physical line of this record
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            first = cells[0]
            if table is None:
                if _letters(first) == "hcpcscptcode":
                    second = _letters(cells[1]) if len(cells) > 1 else ""
                    table = next((t for key, t in _MUE_TABLES if key in second), None)
                    if table is None:
                        raise NcciFileError(
                            f"{name}: line {lineno}: unknown MUE table {(cells[1:2] or [''])[0]!r} "
                            "(expected Practitioner, Outpatient Hospital or DME Supplier Services "
                            "MUE Values)"
                        )
                elif _is_code(first.upper()):
                    raise NcciFileError(
                        f"{name}: line {lineno}: MUE row before the header row "
                        "(HCPCS/CPT Code, … MUE Values, MUE Adjudication Indicator, MUE Rationale)"
                    )
                continue  # the notice before the header
            code = first.upper()
            if not _is_code(code):
                if _letters(first) == "hcpcscptcode":
                    continue  # a repeated header
                if len(cells) > 1 and cells[1].isascii() and cells[1].isdigit():
                    raise NcciFileError(
                        f"{name}: line {lineno}: {first!r} is not a five-character HCPCS/CPT code"
                    )
                continue  # a trailing note
            if len(cells) < 3:
                raise NcciFileError(
                    f"{name}: line {lineno}: expected 4 columns (code, MUE value, adjudication "
                    f"indicator, rationale), found {len(cells)}"
                )
            if not (cells[1].isascii() and cells[1].isdigit()):
                raise NcciFileError(
                    f"{name}: line {lineno}: MUE value {cells[1]!r} for {code} is not a whole number"
                )
            mai_cell = cells[2]
            if not mai_cell or mai_cell[0] not in "123" or (len(mai_cell) > 1 and mai_cell[1].isdigit()):
                raise NcciFileError(
                    f"{name}: line {lineno}: adjudication indicator {mai_cell!r} for {code} "
                    "does not start with 1, 2 or 3"
                )
            entry = MueEntry(
                code=code,
                value=int(cells[1]),
                mai=int(mai_cell[0]),
                rationale=cells[3] if len(cells) > 3 else "",
                source=source,
                verified=verified,
                table=table,
                release=release,
            )
            old = entries.get(code)
            if old is not None and (old.value, old.mai) != (entry.value, entry.mai):
                raise NcciFileError(
                    f"{name}: line {lineno}: {code} is listed again with another value "
                    f"(first at {where[code]})"
                )
            entries[code] = entry
            where.setdefault(code, f"{name} line {lineno}")
            count += 1
    except csv.Error as exc:
        raise NcciFileError(f"{name}: line {reader.line_num}: not a readable CSV ({exc})") from None
    if table is None and text.strip():
        raise NcciFileError(
            f"{name}: no MUE header row (HCPCS/CPT Code, … MUE Values, MUE Adjudication Indicator, "
            "MUE Rationale)"
        )
    return count


# ===================================================================================================
# files
# ===================================================================================================
def _decode(data: bytes) -> str:
    """CMS files are Windows-1252 (a raw 0xAE ® in the notice); UTF-8 with BOM and latin-1 accepted."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _members(
    path: Path, suffixes: tuple[str, ...], *, in_folder: bool = False
) -> Iterator[tuple[str, bytes]]:
    """(display name, bytes) of every data file at ``path``: the file itself, every matching file and
    zip under a folder, or the matching members of a zip. A zip named directly must hold one; a zip
    met in a folder without one is skipped (a folder may hold the PTP and the MUE downloads)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (*suffixes, ".zip"))
        for p in files:
            yield from _members(p, suffixes, in_folder=True)
        return
    if not path.exists():
        raise NcciFileError(f"{path}: file not found")
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = sorted(
                    n for n in archive.namelist() if not n.endswith("/") and n.lower().endswith(suffixes)
                )
                if not names and not in_folder:
                    raise NcciFileError(f"{path}: the zip holds no {' or '.join(suffixes)} file")
                for n in names:
                    yield f"{path}!{n}", archive.read(n)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise NcciFileError(f"{path}: not a readable zip, truncated or damaged ({exc})") from None
        return
    try:
        yield str(path), path.read_bytes()
    except OSError as exc:
        raise NcciFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


# ===================================================================================================
# built-in tables
# ===================================================================================================
@cache
def load_builtin(kind: str = "practitioner") -> tuple[PtpTable, MueTable]:
    """The small tables shipped in ``terminology/ncci/`` for ``kind`` (practitioner, hospital, dme).

    Each row's ``source`` and ``verified`` come from the ``*.sources.csv`` sidecar beside the table
    (rows the sidecar does not name are unverified). A kind with no shipped file gives an empty
    table. Point ``FHIRPLUGIN_PTP_PATHS`` / ``FHIRPLUGIN_MUE_PATHS`` at the CMS files for the rest.
    """
    stem = NCCI_KINDS.get(kind.strip().lower())
    if stem is None:
        raise ValueError(f"unknown NCCI table {kind!r}; expected one of {', '.join(sorted(NCCI_KINDS))}")
    folder = data_dir("terminology") / "ncci"
    ptp = PtpTable.empty()
    mue = MueTable.empty()
    ptp_file = folder / f"ptp-{stem}.txt"
    if ptp_file.is_file():
        ptp = PtpTable.load(
            [ptp_file], source="fhirplugin built-in", verified=False, table=_TABLE_NAMES[stem], release=""
        )
        ptp = _with_ptp_sources(ptp, folder / f"ptp-{stem}.sources.csv")
    mue_file = folder / f"mue-{stem}.csv"
    if mue_file.is_file():
        mue = MueTable.load(mue_file, source="fhirplugin built-in", verified=False, release="")
        mue = _with_mue_sources(mue, folder / f"mue-{stem}.sources.csv")
    return ptp, mue


def _read_sidecar(path: Path, key_columns: tuple[str, ...]) -> dict[tuple[str, ...], tuple[str, bool]]:
    if not path.is_file():
        return {}
    reader = csv.DictReader(io.StringIO(_decode(path.read_bytes()), newline=""))
    needed = (*key_columns, "source", "verified")
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
        raise NcciFileError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    out: dict[tuple[str, ...], tuple[str, bool]] = {}
    for row in reader:
        key = tuple(_norm(row[c] or "") for c in key_columns)
        flag = (row["verified"] or "").strip().lower()
        if flag not in ("true", "false"):
            raise NcciFileError(
                f"{path}: line {reader.line_num}: verified must be true or false, not {flag!r}"
            )
        if key in out:
            raise NcciFileError(f"{path}: line {reader.line_num}: {'/'.join(key)} is listed twice")
        out[key] = ((row["source"] or "").strip(), flag == "true")
    return out


def _with_ptp_sources(table: PtpTable, path: Path) -> PtpTable:
    sources = _read_sidecar(path, ("column1", "column2"))
    edits: list[PtpEdit] = []
    for edit in table:
        key = (edit.column1, edit.column2)
        if key in sources:
            src, ok = sources[key]
            edit = replace(edit, source=src, verified=ok)
        edits.append(edit)
    stray = sorted(set(sources) - {(e.column1, e.column2) for e in edits})
    if stray:
        raise NcciFileError(
            f"{path}: names pair(s) not in the PTP table: {', '.join('/'.join(k) for k in stray)}"
        )
    return PtpTable.from_edits(edits)


def _with_mue_sources(table: MueTable, path: Path) -> MueTable:
    sources = _read_sidecar(path, ("code",))
    entries: dict[str, MueEntry] = {}
    for entry in table:
        if (entry.code,) in sources:
            src, ok = sources[(entry.code,)]
            entry = replace(entry, source=src, verified=ok)
        entries[entry.code] = entry
    stray = sorted(k[0] for k in set(sources) - {(c,) for c in entries})
    if stray:
        raise NcciFileError(f"{path}: names code(s) not in the MUE table: {', '.join(stray)}")
    return MueTable(entries)
