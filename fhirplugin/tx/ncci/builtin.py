"""The small PTP and MUE tables shipped in ``terminology/ncci/``, with their sources."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

from fhirplugin.resources import data_dir
from fhirplugin.tx.ncci.files import NcciFileError, read_sidecar
from fhirplugin.tx.ncci.mue import MueEntry, MueTable
from fhirplugin.tx.ncci.ptp import PtpEdit, PtpTable

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


def _with_ptp_sources(table: PtpTable, path: Path) -> PtpTable:
    sources = read_sidecar(path, ("column1", "column2"))
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
    sources = read_sidecar(path, ("code",))
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
