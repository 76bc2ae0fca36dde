"""NCCI medically unlikely edits (MUE): the entry, the table by code, and the reader of CMS's MUE CSV
files (practitioner, outpatient hospital, DME supplier)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fhirplugin.tx.ncci.files import NcciFileError, citation, decode, file_members, is_code, norm_code
from fhirplugin.tx.releases import detect_release

MAI_TEXT = {1: "Line Edit", 2: "Date of Service Edit: Policy", 3: "Date of Service Edit: Clinical"}


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
        return citation("MUE", self.table, self.release, self.source)

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
        for name, data in file_members(path, (".csv",)):
            rel = release if release is not None else detect_release("mue", name) or ""
            found += parse_mue(name, decode(data), entries, where, source, verified, rel)
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
        return self._entries.get(norm_code(code))

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and norm_code(code) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[MueEntry]:
        return iter(self._entries.values())

    def __repr__(self) -> str:
        return f"<MueTable {len(self._entries)} codes>"


def letters(cell: str) -> str:
    return "".join(ch for ch in cell.lower() if ch.isalnum())


def parse_mue(
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
                if letters(first) == "hcpcscptcode":
                    second = letters(cells[1]) if len(cells) > 1 else ""
                    table = next((t for key, t in _MUE_TABLES if key in second), None)
                    if table is None:
                        raise NcciFileError(
                            f"{name}: line {lineno}: unknown MUE table {(cells[1:2] or [''])[0]!r} "
                            "(expected Practitioner, Outpatient Hospital or DME Supplier Services "
                            "MUE Values)"
                        )
                elif is_code(first.upper()):
                    raise NcciFileError(
                        f"{name}: line {lineno}: MUE row before the header row "
                        "(HCPCS/CPT Code, … MUE Values, MUE Adjudication Indicator, MUE Rationale)"
                    )
                continue  # the notice before the header
            code = first.upper()
            if not is_code(code):
                if letters(first) == "hcpcscptcode":
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
