"""The terminology a rule can ask: CPT table, modifiers, ICD-10-CM, NCCI PTP/MUE, add-on code edits,
PFS payment-policy indicators, HCPCS Level II, ValueSets, ConceptMaps.

Loaded once (built-in data under ``terminology/``, plus a user's licensed CPT file and full CMS
files when configured) and shared read-only by every validation.

Interface the rules use (the built-in in-memory tables and the CMS store answer alike; ``dos`` is a
``datetime.date``, or None for the newest release / what is in force today):

* ``ptp`` / ``mue``: the tables of the configured setting (``[terminology] ncci_table``);
  ``ptp_for(setting)`` / ``mue_for(setting)`` for "practitioner" or "hospital" (and "dme" for
  MUE): ``PtpTable.lookup(c1, c2, dos)``, ``PtpTable.among(codes, dos)``, ``MueTable.get(code, dos)``;
* ``aoc.get(add_on, dos)`` / ``aoc.is_add_on(code, dos)``; ``pfs.get(code, dos, modifier)``;
  ``hcpcs.get(code)``; ``modifiers`` (``complete``, ``level(code)``);
* ``releases()``: what is loaded, for ``fhirplugin data list``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import NamedTuple

from fhirplugin.tx import icd
from fhirplugin.tx.cms import AocTable, HcpcsTable, PfsTable, builtin_aoc, builtin_hcpcs, builtin_pfs
from fhirplugin.tx.cpt import CptTable
from fhirplugin.tx.fhirterm import ConceptMaps, ValueSets
from fhirplugin.tx.modifiers import ModifierTable
from fhirplugin.tx.ncci import MueTable, PtpTable, load_builtin

__all__ = ["MUE_SETTINGS", "PTP_SETTINGS", "ReleaseInfo", "Terminology", "default_terminology", "setting_of"]

PTP_SETTINGS = ("practitioner", "hospital")
MUE_SETTINGS = ("practitioner", "hospital", "dme")
_ALIASES = {
    "practitioner": "practitioner",
    "professional": "practitioner",
    "hospital": "hospital",
    "outpatient hospital": "hospital",
    "outpatient-hospital": "hospital",
    "opps": "hospital",
    "institutional": "hospital",
    "dme": "dme",
}


def setting_of(setting: str, allowed: tuple[str, ...] = MUE_SETTINGS) -> str:
    """The canonical setting name ("practitioner", "hospital", "dme"); ValueError when unknown."""
    key = _ALIASES.get(str(setting).strip().lower()) if isinstance(setting, str) else None
    if key is None or key not in allowed:
        raise ValueError(f"unknown setting {setting!r}; expected one of {', '.join(allowed)}")
    return key


class ReleaseInfo(NamedTuple):
    """One loaded release of one table (a row of ``fhirplugin data list``)."""

    table: str  # "ptp" | "mue" | "aoc" | "pfs" | "hcpcs" | "modifiers"
    setting: str  # "practitioner" | "hospital" | "dme" | "" (tables with no setting)
    release: str  # "2024 Q3", "RVU24C", "" for the built-in excerpt
    rows: int
    first: date | None  # first day the release is in force (None: built-in / unknown)
    last: date | None  # last day (the day before the next release of the table), None = open
    source: str  # "in memory" (built-in excerpt and files read at start-up) or the store path


@dataclass(slots=True)
class Terminology:
    cpt: CptTable
    modifiers: ModifierTable
    ptp: PtpTable
    mue: MueTable
    valuesets: ValueSets
    conceptmaps: ConceptMaps
    aoc: AocTable = field(default_factory=AocTable.empty)
    pfs: PfsTable = field(default_factory=PfsTable.empty)
    hcpcs: HcpcsTable = field(default_factory=HcpcsTable.empty)
    ptp_tables: dict[str, PtpTable] = field(default_factory=dict)
    mue_tables: dict[str, MueTable] = field(default_factory=dict)
    default_setting: str = "practitioner"  # the configured NCCI setting (``[terminology] ncci_table``)
    icd = icd  # module with is_valid / is_billable / title / is_descendant_or_self

    def ptp_for(self, setting: str) -> PtpTable:
        """The PTP table of ``setting`` ("practitioner" or "hospital"); ValueError for another."""
        key = setting_of(setting, PTP_SETTINGS)
        table = self.ptp_tables.get(key)
        return table if table is not None else PtpTable.empty()

    def mue_for(self, setting: str) -> MueTable:
        """The MUE table of ``setting`` ("practitioner", "hospital" or "dme"); ValueError for another."""
        key = setting_of(setting, MUE_SETTINGS)
        table = self.mue_tables.get(key)
        return table if table is not None else MueTable.empty()

    def releases(self) -> list[ReleaseInfo]:
        """Every loaded release of every table, built-in excerpts included."""
        out: list[ReleaseInfo] = []
        for setting in PTP_SETTINGS:
            table = self.ptp_tables.get(setting)
            if table is not None:
                out.extend(_releases_of(table, "ptp", setting))
        for setting in MUE_SETTINGS:
            table = self.mue_tables.get(setting)
            if table is not None:
                out.extend(_releases_of(table, "mue", setting))
        for name, table in (("aoc", self.aoc), ("pfs", self.pfs), ("hcpcs", self.hcpcs)):
            out.extend(_releases_of(table, name, ""))
        out.append(
            ReleaseInfo(
                "modifiers",
                "",
                "complete" if self.modifiers.complete else "",
                len(self.modifiers),
                None,
                None,
                "in memory",
            )
        )
        return [r for r in out if r.rows]

    @classmethod
    def load(
        cls,
        *,
        cpt_file: Path | None = None,
        ptp_paths: list[Path] | tuple[Path, ...] = (),
        mue_paths: list[Path] | tuple[Path, ...] = (),
        ncci_table: str = "practitioner",
        aoc_paths: list[Path] | tuple[Path, ...] = (),
        pfs_paths: list[Path] | tuple[Path, ...] = (),
        hcpcs_paths: list[Path] | tuple[Path, ...] = (),
        modifier_paths: list[Path] | tuple[Path, ...] = (),
    ) -> Terminology:
        setting = setting_of(ncci_table, PTP_SETTINGS)
        cpt = CptTable.builtin()
        if cpt_file:
            cpt = cpt.merge(CptTable.load_licensed(Path(cpt_file)))
        ptp_tables: dict[str, PtpTable] = {}
        mue_tables: dict[str, MueTable] = {}
        for kind in MUE_SETTINGS:
            ptp, mue = load_builtin(kind)
            if kind in PTP_SETTINGS:
                ptp_tables[kind] = ptp
            mue_tables[kind] = mue
        if ptp_paths:
            ptp_tables[setting] = ptp_tables[setting].merge(PtpTable.load([Path(p) for p in ptp_paths]))
        for path in mue_paths:
            loaded = MueTable.load(Path(path))
            target = _mue_setting(loaded) or setting
            mue_tables[target] = mue_tables[target].merge(loaded)
        aoc = builtin_aoc()
        if aoc_paths:
            aoc = aoc.merge(AocTable.load([Path(p) for p in aoc_paths]))
        pfs = builtin_pfs()
        if pfs_paths:
            pfs = pfs.merge(PfsTable.load([Path(p) for p in pfs_paths]))
        hcpcs = builtin_hcpcs()
        if hcpcs_paths:
            hcpcs = hcpcs.merge(HcpcsTable.load([Path(p) for p in hcpcs_paths]))
        modifiers = ModifierTable.builtin()
        if modifier_paths:
            modifiers = ModifierTable.load_cms([Path(p) for p in modifier_paths])
        return cls(
            cpt=cpt,
            modifiers=modifiers,
            ptp=ptp_tables[setting],
            mue=mue_tables[setting],
            valuesets=ValueSets.builtin(),
            conceptmaps=ConceptMaps.builtin(),
            aoc=aoc,
            pfs=pfs,
            hcpcs=hcpcs,
            ptp_tables=ptp_tables,
            mue_tables=mue_tables,
            default_setting=setting,
        )

    @classmethod
    def from_settings(cls, settings) -> Terminology:
        t = settings.terminology
        extra = {
            name: list(getattr(t, name, ()) or ())
            for name in ("aoc_paths", "pfs_paths", "hcpcs_paths", "modifier_paths")
        }
        if (
            not (t.cpt_file or t.ptp_paths or t.mue_paths or any(extra.values()))
            and t.ncci_table == "practitioner"
        ):
            return default_terminology()
        return cls.load(
            cpt_file=t.cpt_file,
            ptp_paths=t.ptp_paths,
            mue_paths=t.mue_paths,
            ncci_table=t.ncci_table,
            **extra,
        )


def _mue_setting(table: MueTable) -> str | None:
    """The setting a loaded CMS MUE file is for (its header names it), None when unknown."""
    for entry in table:
        return _ALIASES.get(entry.table)
    return None


def _releases_of(table, name: str, setting: str) -> list[ReleaseInfo]:
    """ReleaseInfo rows of an in-memory table (rows grouped by their ``release``)."""
    if hasattr(table, "releases"):
        return table.releases()
    from fhirplugin.tx.releases import release_start

    counts: dict[str, int] = {}
    if name == "aoc":
        for _add_on, raw in table.rows():
            counts[raw[4]] = counts.get(raw[4], 0) + 1
    else:
        for item in table:
            counts[item.release] = counts.get(item.release, 0) + 1
    return [
        ReleaseInfo(name, setting, rel, n, release_start(rel), None, "in memory")
        for rel, n in sorted(counts.items())
    ]


@cache
def default_terminology() -> Terminology:
    """The built-in terminology, loaded once per process."""
    return Terminology.load()
