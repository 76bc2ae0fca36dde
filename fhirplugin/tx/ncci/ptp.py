"""NCCI procedure-to-procedure (PTP) edits: the edit, the table indexed by column 1 and 2 codes with
date windows, and the reader of CMS's tab-separated ``ccipra…`` / ``ccioph…`` parts."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fhirplugin.tx.ncci.files import NcciFileError, citation, decode, file_members, is_code, norm_code
from fhirplugin.tx.ncci.modifiers import PTP_BYPASS_MODIFIERS
from fhirplugin.tx.releases import detect_release

MODIFIER_INDICATORS = ("0", "1", "9")
_INDICATORS = {i: i for i in MODIFIER_INDICATORS}
_DATE8 = re.compile(r"[0-9]{8}")


def ptp_table_from_name(name: str) -> str | None:
    """ "practitioner" for a CMS ``ccipra…`` file, "outpatient hospital" for ``ccioph…``, else None."""
    n = name.lower()
    if "ccipra" in n or "practitioner" in n:
        return "practitioner"
    if "ccioph" in n or "hospital" in n:
        return "outpatient hospital"
    return None


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
        return citation("PTP", self.table, self.release, self.source)

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
        return any(norm_code(m) in PTP_BYPASS_MODIFIERS for m in modifiers if m)


# Storage. Building 1.5M frozen dataclasses doubles the load time of the real files, so the index
# keeps each row as a plain tuple (the PtpEdit fields after column1/column2) and makes the PtpEdit
# when a query returns it. A pair with one row holds the tuple; a pair with several rows (deleted and
# re-added with another window) holds a list of them, newest first.
_Raw = tuple  # (prior_1996, effective, deletion, modifier_indicator, rationale, source, verified,
#               table, release)
_Index = dict[str, dict[str, "_Raw | list[_Raw]"]]


def _raws(rows: _Raw | list[_Raw]) -> list[_Raw] | tuple[_Raw]:
    return rows if isinstance(rows, list) else (rows,)


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
            for name, data in file_members(path, (".txt",)):
                state.table = table if table is not None else ptp_table_from_name(name) or ""
                state.release = release if release is not None else detect_release("ptp", name) or ""
                found += _parse_ptp(name, decode(data), index, state)
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
        c1, c2 = norm_code(column1), norm_code(column2)
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
        wanted_set = {norm_code(c) for c in codes if isinstance(c, str) and c.strip()}
        wanted = sorted(wanted_set)
        found: list[PtpEdit] = []
        for c1 in wanted:
            inner = self._index.get(c1)
            if not inner:
                continue
            # the smaller side drives the walk: a claim's codes or the column 2 codes of c1
            hits = (
                wanted_set.intersection(inner) if len(inner) > len(wanted_set) else inner.keys() & wanted_set
            )
            for c2 in sorted(hits):
                if c2 != c1:
                    edit = self.lookup(c1, c2, dos)
                    if edit is not None:
                        found.append(edit)
        return found

    def column2_for(self, column1: str, dos: date | None) -> list[PtpEdit]:
        """Every edit with this column 1 code in force on ``dos`` (see :meth:`lookup`), by column 2."""
        inner = self._index.get(norm_code(column1), {})
        found = (self.lookup(column1, c2, dos) for c2 in sorted(inner))
        return [e for e in found if e is not None]

    def rows(self, column1: str, column2: str) -> list[PtpEdit]:
        """All rows for the pair, newest first, whatever their windows."""
        c1, c2 = norm_code(column1), norm_code(column2)
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
    if not (is_code(c1) and is_code(c2)):
        # header label rows start with "Column 1" or an empty cell; a row with an effective
        # date in column 4 is a data row whose code is wrong
        if len(f) >= 4 and _DATE8.fullmatch(f[3].strip()):
            bad = c1 if not is_code(c1) else c2
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
        elif isinstance(rows, list):
            rows.append(raw)
        else:
            inner[c2] = [rows, raw]
        count += 1
    return count
