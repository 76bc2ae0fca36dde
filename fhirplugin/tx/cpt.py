"""CPT and HCPCS Level II codes: the built-in table of codes in scope, and a user's licensed file.

The built-in table (``terminology/cpt/codes.csv``) holds only the codes the rules talk about, with
short descriptions written for this project (CPT descriptors are AMA property and are not shipped).
A user who holds a CPT licence can load the AMA data file and merge it over the built-in table, so
messages show the official descriptors while the built-in flags (add-on, global days, family) stay.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType

from fhirplugin.resources import data_dir
from fhirplugin.systems import CPT, HCPCS

__all__ = [
    "CptCode",
    "CptDataError",
    "CptTable",
    "looks_like_cpt",
    "looks_like_hcpcs",
    "normalize_code",
]

_CPT_SHAPE = re.compile(r"^(?:\d{5}|\d{4}[FTU])$")
_HCPCS_SHAPE = re.compile(r"^[A-V]\d{4}$")
_SYSTEMS = {"cpt": CPT, "hcpcs": HCPCS}
_GLOBALS = {"000", "010", "090", "XXX", "YYY", "ZZZ", "MMM"}
_BUILTIN_COLUMNS = ("code", "system", "description", "add_on", "global_days", "family", "source", "verified")

# header names (lower case, letters and digits only) accepted for the code and description columns
_CODE_HEADERS = {"code", "cpt", "cptcode", "hcpcs", "hcpcscode", "hcpcscptcode", "cpthcpcs", "procedurecode"}


class CptDataError(ValueError):
    """A CPT/HCPCS data file cannot be read; the message names the file and line."""


def normalize_code(code: str) -> str:
    """Strip blanks and upper-case a CPT/HCPCS code (``" c9728 "`` → ``"C9728"``)."""
    return code.strip().upper()


def looks_like_cpt(code: str) -> bool:
    """True for the shape of a CPT code: 5 digits (Category I) or 4 digits + F, T or U (II, III, PLA)."""
    return bool(_CPT_SHAPE.match(normalize_code(code)))


def looks_like_hcpcs(code: str) -> bool:
    """True for the shape of a HCPCS Level II code: a letter A–V then 4 digits."""
    return bool(_HCPCS_SHAPE.match(normalize_code(code)))


@dataclass(frozen=True, slots=True)
class CptCode:
    """One CPT or HCPCS code.

    ``system`` is ``"cpt"`` or ``"hcpcs"``.
    ``verified`` is True only when every fact on the row comes from a source that was read
    ([V]/[V-3p]; ``source`` names it); False when any of them is from memory or inference.
    """

    code: str
    description: str
    system: str
    add_on: bool
    global_days: str | None
    family: str | None
    source: str
    verified: bool


class CptTable:
    """CPT/HCPCS codes by code. Immutable; ``merge`` returns a new table."""

    __slots__ = ("_codes", "complete", "cpt_shaped")

    def __init__(self, codes: dict[str, CptCode] | None = None, *, complete: bool = False) -> None:
        self._codes: MappingProxyType[str, CptCode] = MappingProxyType(dict(codes or {}))
        # the codes of the table that have the CPT shape, as written (a fast "known and well-formed")
        self.cpt_shaped: frozenset[str] = frozenset(c for c in self._codes if _CPT_SHAPE.match(c))
        # True when a full code set (a user's licensed file) is loaded: a code missing from a complete
        # table is suspect; one missing from the built-in excerpt only means we have no rule for it
        self.complete = complete

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def builtin(cls) -> CptTable:
        """The codes shipped with fhirplugin, with our own descriptions.

        ``terminology/cpt/codes.csv`` and the codes a family's ``terminology/<family>/codes.csv`` describes.
        """
        return _builtin_table()

    @classmethod
    def load(cls, path: Path) -> CptTable:
        """Read a table in the built-in CSV layout (columns as in ``terminology/cpt/codes.csv``)."""
        path = Path(path)
        text = _read_text(path)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in _BUILTIN_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CptDataError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        codes: dict[str, CptCode] = {}
        for row in reader:
            line = reader.line_num
            code = _row_code(path, line, row["code"])
            system = (row["system"] or "").strip().lower()
            if system not in _SYSTEMS:
                raise CptDataError(f"{path}: line {line}: system must be cpt or hcpcs, not {row['system']!r}")
            if system == "cpt" and not looks_like_cpt(code):
                raise CptDataError(f"{path}: line {line}: {code!r} is not shaped like a CPT code")
            if system == "hcpcs" and not looks_like_hcpcs(code):
                raise CptDataError(f"{path}: line {line}: {code!r} is not shaped like a HCPCS code")
            entry = _code_row(path, line, code, system, row)
            if code in codes:
                raise CptDataError(f"{path}: line {line}: code {code} is listed twice")
            codes[code] = entry
        return cls(codes)

    @classmethod
    def load_licensed(cls, path: Path, *, description_column: str | None = None) -> CptTable:
        """Read a user's licensed CPT (or HCPCS) descriptor file.

        Accepted layouts:

        * AMA data-file text (``MEDU.txt``, ``SHORTU.txt``, ``LONGULT.txt``…): one code per line,
          ``CODE<TAB>DESCRIPTOR`` or ``CODE<space>DESCRIPTOR``;
        * CSV (or tab-separated text) with a header row naming a code column (``code``, ``CPT Code``,
          ``HCPCS``…) and a description column (any header containing "descri", or the one named by
          ``description_column``).

        UTF-8 (with or without BOM) or Windows-1252. Every problem raises CptDataError naming the file
        and line. Codes read this way are ``verified`` (the licensed file is the authority for its
        descriptors) but carry no flags: merge them into :meth:`builtin` to keep ours.
        """
        path = Path(path)
        text = _read_text(path)
        lines = text.splitlines()
        first = next((ln for ln in lines if ln.strip()), None)
        if first is None:
            raise CptDataError(f"{path}: the file holds no codes")
        delim = _header_delimiter(first)
        if delim is None and (path.suffix.lower() == ".csv" or description_column):
            delim = ","
        if delim is not None:
            pairs = _pairs_from_delimited(path, text, delim, description_column)
        else:
            pairs = _pairs_from_text(path, lines)
        codes: dict[str, CptCode] = {}
        first_line: dict[str, int] = {}
        source = f"licensed:{path.name}"
        for line, code, description in pairs:
            if code in codes:
                if codes[code].description == description:
                    continue
                raise CptDataError(
                    f"{path}: line {line}: code {code} appears again with another descriptor "
                    f"(first on line {first_line[code]})"
                )
            first_line[code] = line
            codes[code] = CptCode(
                code=code,
                description=description,
                system="cpt" if looks_like_cpt(code) else "hcpcs",
                add_on=False,
                global_days=None,
                family=None,
                source=source,
                verified=True,
            )
        if not codes:
            raise CptDataError(f"{path}: the file holds no codes")
        return cls(codes, complete=True)

    def merge(self, other: CptTable) -> CptTable:
        """A new table: ``other``'s descriptions replace ours; our flags (add-on, global, family) stay.

        Codes only in ``other`` are added as they are. Use ``CptTable.builtin().merge(licensed)``.
        """
        merged = dict(self._codes)
        for code, theirs in other._codes.items():
            ours = merged.get(code)
            if ours is None:
                merged[code] = theirs
            elif ours.description != theirs.description:
                merged[code] = replace(ours, description=theirs.description)
        return CptTable(merged, complete=self.complete or other.complete)

    # -- queries ----------------------------------------------------------------------------------
    def get(self, code: str) -> CptCode | None:
        """The code (blanks and case ignored), or None when the table does not hold it."""
        if not isinstance(code, str):
            return None
        return self._codes.get(normalize_code(code))

    def family(self, family: str) -> list[CptCode]:
        """All codes of one family (e.g. ``"imaging-guidance"``), in code order."""
        return sorted((c for c in self._codes.values() if c.family == family), key=lambda c: c.code)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and normalize_code(code) in self._codes

    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[CptCode]:
        return iter(self._codes.values())

    def __repr__(self) -> str:
        return f"CptTable({len(self)} codes)"


# -- helpers ------------------------------------------------------------------------------------


@cache
def _builtin_table() -> CptTable:
    root = data_dir("terminology")
    table = CptTable.load(root / "cpt" / "codes.csv")
    codes = {c.code: c for c in table}
    for path in sorted(root.glob("*/codes.csv")):
        if path.parent.name != "cpt":
            codes.update(_family_codes(path, codes))
    return CptTable(codes)


def _family_codes(path: Path, known: dict[str, CptCode]) -> dict[str, CptCode]:
    """The codes a family's own ``codes.csv`` describes (a ``description`` column), for the built-in table.

    A family added under ``terminology/<family>/`` names its codes once, in its own table; a code that
    ``terminology/cpt/codes.csv`` already holds must not be described a second time.
    """
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    if "description" not in (reader.fieldnames or []):
        return {}
    found: dict[str, CptCode] = {}
    for row in reader:
        line = reader.line_num
        code = _row_code(path, line, row.get("code"))
        if looks_like_cpt(code):
            system = "cpt"
        elif looks_like_hcpcs(code):
            system = "hcpcs"
        else:
            raise CptDataError(f"{path}: line {line}: {code!r} is shaped like neither a CPT nor a HCPCS code")
        entry = _code_row(path, line, code, system, row, flags_default=True)
        if code in known or code in found:
            raise CptDataError(f"{path}: line {line}: code {code} is already described in the built-in table")
        found[code] = entry
    return found


def _code_row(
    path: Path, line: int, code: str, system: str, row: dict[str, str | None], *, flags_default: bool = False
) -> CptCode:
    """One row of a code table, its cells checked, the file and line named on a bad one. In the built-in
    layout ``add_on`` and ``verified`` must be given; a family's ``codes.csv`` (``flags_default``) may
    leave them out (false)."""

    def flag(column: str) -> bool:
        value = row.get(column)
        return _bool(path, line, column, "false" if flags_default and not value else value)

    description = (row.get("description") or "").strip()
    if not description:
        raise CptDataError(f"{path}: line {line}: code {code} has no description")
    global_days = (row.get("global_days") or "").strip().upper() or None
    if global_days is not None and global_days not in _GLOBALS:
        raise CptDataError(
            f"{path}: line {line}: global_days {global_days!r} is not one of {sorted(_GLOBALS)}"
        )
    return CptCode(
        code=code,
        description=description,
        system=system,
        add_on=flag("add_on"),
        global_days=global_days,
        family=(row.get("family") or "").strip() or None,
        source=(row.get("source") or "").strip(),
        verified=flag("verified"),
    )


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CptDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CptDataError(
            f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is neither UTF-8 nor Windows-1252 text"
        ) from None


def _bool(path: Path, line: int, column: str, value: str | None) -> bool:
    v = (value or "").strip().lower()
    if v in {"true", "yes", "1"}:
        return True
    if v in {"false", "no", "0"}:
        return False
    raise CptDataError(f"{path}: line {line}: {column} must be true or false, not {value!r}")


def _row_code(path: Path, line: int, value: str | None) -> str:
    code = normalize_code(value or "")
    if not code:
        raise CptDataError(f"{path}: line {line}: empty code")
    return code


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _header_delimiter(first_line: str) -> str | None:
    """The delimiter when ``first_line`` is a CSV/TSV header naming a code column, else None."""
    for delim in ("\t", ","):
        if delim in first_line:
            cells = next(csv.reader([first_line], delimiter=delim))
            if any(_squash(c) in _CODE_HEADERS for c in cells):
                return delim
    return None


def _pairs_from_delimited(
    path: Path, text: str, delim: str, description_column: str | None
) -> Iterator[tuple[int, str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header: list[str] | None = None
    code_idx = desc_idx = -1
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = row
            squashed = [_squash(c) for c in row]
            code_idx = next((i for i, s in enumerate(squashed) if s in _CODE_HEADERS), -1)
            if description_column:
                want = _squash(description_column)
                desc_idx = next((i for i, s in enumerate(squashed) if s == want), -1)
            else:
                desc_idx = next((i for i, s in enumerate(squashed) if "descri" in s or s == "desc"), -1)
            if code_idx < 0:
                raise CptDataError(
                    f"{path}: line {line}: no code column in the header (expected one of: code, CPT Code, HCPCS)"
                )
            if desc_idx < 0:
                wanted = (
                    repr(description_column) if description_column else "a column whose name has 'descri'"
                )
                raise CptDataError(f"{path}: line {line}: no description column in the header ({wanted})")
            continue
        if max(code_idx, desc_idx) >= len(row):
            raise CptDataError(
                f"{path}: line {line}: expected at least {max(code_idx, desc_idx) + 1} columns, found {len(row)}"
            )
        code = normalize_code(row[code_idx])
        description = row[desc_idx].strip()
        _check_pair(path, line, code, description)
        yield line, code, description


_TEXT_LINE = re.compile(r"^\s*(\S+?)(?:\t+|\s+)(.*?)\s*$")


def _pairs_from_text(path: Path, lines: list[str]) -> Iterator[tuple[int, str, str]]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        m = _TEXT_LINE.match(raw)
        if m is None:
            raise CptDataError(
                f"{path}: line {number}: expected 'CODE<TAB>DESCRIPTOR', found only {raw.strip()[:40]!r}"
            )
        code, description = normalize_code(m.group(1)), m.group(2)
        _check_pair(path, number, code, description)
        yield number, code, description


def _check_pair(path: Path, line: int, code: str, description: str) -> None:
    if not (looks_like_cpt(code) or looks_like_hcpcs(code)):
        raise CptDataError(
            f"{path}: line {line}: {code[:20]!r} is not a CPT or HCPCS code "
            "(5 digits, 4 digits + F/T/U, or a letter A-V + 4 digits)"
        )
    if not description:
        raise CptDataError(f"{path}: line {line}: code {code} has no descriptor")
