"""Reading CMS files as CMS ships them: the errors that name file and line, Windows-1252 text, files,
folders and zips, the ``*.sources.csv`` sidecars of the built-in excerpts, and the code shape CMS
writes."""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path


class CmsFileError(ValueError):
    """A CMS data file (or the store compiled from them) cannot be read; the message names the file
    and line, or the store, and the problem."""


class NcciFileError(CmsFileError):
    """An NCCI PTP or MUE file cannot be read; the message names the file, the line and the problem."""


def is_code(value: str) -> bool:
    """The shape of a CPT/HCPCS code as CMS writes it: five ASCII letters or digits."""
    return len(value) == 5 and value.isascii() and value.isalnum()


def citation(edits: str, table: str, release: str, source: str) -> str:
    """Where a coder looks an NCCI edit up, e.g. ``"NCCI PTP practitioner table, 2024 Q3"``; for a
    built-in row (no release), what its sources sidecar says."""
    if release:
        return f"NCCI {edits} {table or 'practitioner'} table, {release}"
    return source or f"NCCI {edits} {table or 'practitioner'} table (fhirplugin built-in excerpt)"


def norm_code(code: str) -> str:
    return code.strip().upper()


def decode(data: bytes) -> str:
    """CMS files are Windows-1252 (a raw 0xAE ® in the notice); UTF-8 with BOM and latin-1 accepted."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def file_members(
    path: Path, suffixes: tuple[str, ...], *, in_folder: bool = False
) -> Iterator[tuple[str, bytes]]:
    """(display name, bytes) of every data file at ``path``: the file itself, every matching file and
    zip under a folder, or the matching members of a zip. A zip named directly must hold one; a zip
    met in a folder without one is skipped (a folder may hold the PTP and the MUE downloads)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (*suffixes, ".zip"))
        for p in files:
            yield from file_members(p, suffixes, in_folder=True)
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


def read_sidecar(path: Path, key_columns: tuple[str, ...]) -> dict[tuple[str, ...], tuple[str, bool]]:
    if not path.is_file():
        return {}
    reader = csv.DictReader(io.StringIO(decode(path.read_bytes()), newline=""))
    needed = (*key_columns, "source", "verified")
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
        raise NcciFileError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    out: dict[tuple[str, ...], tuple[str, bool]] = {}
    for row in reader:
        key = tuple(norm_code(row[c] or "") for c in key_columns)
        flag = (row["verified"] or "").strip().lower()
        if flag not in ("true", "false"):
            raise NcciFileError(
                f"{path}: line {reader.line_num}: verified must be true or false, not {flag!r}"
            )
        if key in out:
            raise NcciFileError(f"{path}: line {reader.line_num}: {'/'.join(key)} is listed twice")
        out[key] = ((row["source"] or "").strip(), flag == "true")
    return out
