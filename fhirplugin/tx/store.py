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
from typing import TYPE_CHECKING, Any, NamedTuple

from fhirplugin.tx import icd
from fhirplugin.tx.cms import AocTable, HcpcsTable, PfsTable, builtin_aoc, builtin_hcpcs, builtin_pfs
from fhirplugin.tx.cpt import CptTable
from fhirplugin.tx.fhirterm import ConceptMaps, ValueSets
from fhirplugin.tx.modifiers import ModifierTable
from fhirplugin.tx.ncci import MueTable, PtpTable, load_builtin, ptp_table_from_name
from fhirplugin.tx.tables import AocSource, HcpcsSource, MueSource, PfsSource, PtpSource

if TYPE_CHECKING:
    from fhirplugin.config import Settings
    from fhirplugin.tx.cmsstore import CmsStore

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
    ptp: PtpSource
    mue: MueSource
    valuesets: ValueSets
    conceptmaps: ConceptMaps
    aoc: AocSource = field(default_factory=AocTable.empty)
    pfs: PfsSource = field(default_factory=PfsTable.empty)
    hcpcs: HcpcsSource = field(default_factory=HcpcsTable.empty)
    ptp_tables: dict[str, PtpSource] = field(default_factory=dict)
    mue_tables: dict[str, MueSource] = field(default_factory=dict)
    default_setting: str = "practitioner"  # the configured NCCI setting (``[terminology] ncci_table``)
    store: CmsStore | None = None  # the CmsStore asked first, when one is loaded
    stores: tuple[CmsStore, ...] = ()  # every CmsStore queried, in the order they are asked
    icd = icd  # module with is_valid / is_billable / title / is_descendant_or_self

    def ptp_for(self, setting: str) -> PtpSource:
        """The PTP table of ``setting`` ("practitioner" or "hospital"); ValueError for another."""
        table = self.ptp_tables.get(setting)  # the canonical names, asked per claim: no normalising
        if table is not None:
            return table
        table = self.ptp_tables.get(setting_of(setting, PTP_SETTINGS))
        return table if table is not None else PtpTable.empty()

    def mue_for(self, setting: str) -> MueSource:
        """The MUE table of ``setting`` ("practitioner", "hospital" or "dme"); ValueError for another."""
        table = self.mue_tables.get(setting)
        if table is not None:
            return table
        table = self.mue_tables.get(setting_of(setting, MUE_SETTINGS))
        return table if table is not None else MueTable.empty()

    def releases(self) -> list[ReleaseInfo]:
        """Every loaded release of every table: the store's, then the in-memory ones (built-in
        excerpts and files read at start-up)."""
        out: list[ReleaseInfo] = []
        from fhirplugin.tx.cmsstore import _release_end

        for cms in self.stores:
            for r in cms.all_releases():
                out.append(
                    ReleaseInfo(
                        r.kind,
                        r.setting,
                        r.release,
                        r.rows,
                        r.start,
                        _release_end(cms, r),
                        str(cms.path),
                    )
                )
        for setting in PTP_SETTINGS:
            ptp = self.ptp_tables.get(setting)
            if ptp is not None:
                base = _base(ptp)
                out.extend(_releases_of(base, "ptp", setting, base is load_builtin(setting)[0]))
        for setting in MUE_SETTINGS:
            mue = self.mue_tables.get(setting)
            if mue is not None:
                base = _base(mue)
                out.extend(_releases_of(base, "mue", setting, base is load_builtin(setting)[1]))
        for name, table, builtin in (
            ("aoc", self.aoc, builtin_aoc()),
            ("pfs", self.pfs, builtin_pfs()),
            ("hcpcs", self.hcpcs, builtin_hcpcs()),
        ):
            base = _base(table)
            out.extend(_releases_of(base, name, "", base is builtin))
        out.append(
            ReleaseInfo(
                "modifiers",
                "",
                "complete" if self.modifiers.complete else "",
                len(self.modifiers),
                None,
                None,
                "in memory" if self.modifiers.complete else "built-in excerpt",
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
        store: Path | list[Path] | None = None,
    ) -> Terminology:
        """The built-in tables, with ``*_paths`` (CMS files) read into memory over them, and the CMS
        store(s) at ``store`` (see :mod:`fhirplugin.tx.cmsstore`) queried over both when given: a
        table (kind and setting) is answered by the first store holding a release of it, alone; the
        tables no store holds by the in-memory ones."""
        setting = setting_of(ncci_table, PTP_SETTINGS)
        cpt = CptTable.builtin()
        if cpt_file:
            cpt = cpt.merge(CptTable.load_licensed(Path(cpt_file)))
        ptp_memory: dict[str, PtpTable] = {}
        mue_memory: dict[str, MueTable] = {}
        for kind in MUE_SETTINGS:
            ptp, mue = load_builtin(kind)
            if kind in PTP_SETTINGS:
                ptp_memory[kind] = ptp
            mue_memory[kind] = mue
        by_setting: dict[str, list[Path]] = {}
        for p in ptp_paths:  # ccipra… / ccioph… names say the table; other names: the configured one
            table = ptp_table_from_name(Path(p).name)
            by_setting.setdefault(_ALIASES[table] if table else setting, []).append(Path(p))
        for target, paths in by_setting.items():
            ptp_memory[target] = ptp_memory[target].merge(PtpTable.load(paths))
        for path in mue_paths:
            loaded = MueTable.load(Path(path))
            target = _mue_setting(loaded) or setting
            mue_memory[target] = mue_memory[target].merge(loaded)
        aoc_memory = builtin_aoc()
        if aoc_paths:
            aoc_memory = aoc_memory.merge(AocTable.load([Path(p) for p in aoc_paths]))
        pfs_memory = builtin_pfs()
        if pfs_paths:
            pfs_memory = pfs_memory.merge(PfsTable.load([Path(p) for p in pfs_paths]))
        hcpcs_memory = builtin_hcpcs()
        if hcpcs_paths:
            hcpcs_memory = hcpcs_memory.merge(HcpcsTable.load([Path(p) for p in hcpcs_paths]))
        # the store tables (below) stand in front of these, each falling back on the one behind it
        ptp_tables: dict[str, PtpSource] = dict(ptp_memory)
        mue_tables: dict[str, MueSource] = dict(mue_memory)
        aoc: AocSource = aoc_memory
        pfs: PfsSource = pfs_memory
        hcpcs: HcpcsSource = hcpcs_memory
        modifiers = ModifierTable.builtin()
        if modifier_paths:
            modifiers = ModifierTable.load_cms([Path(p) for p in modifier_paths])
        opened: list[CmsStore] = []
        if store is not None:
            from fhirplugin.tx import cmsstore as cs

            paths = [store] if isinstance(store, (str, Path)) else list(store)
            opened = [cs.CmsStore(Path(p)) for p in paths]
            for cms in reversed(opened):  # the first store is asked first, then the next, then built-in
                for kind in PTP_SETTINGS:
                    if cms.has("ptp", kind):
                        ptp_tables[kind] = cs.StorePtpTable(cms, kind, ptp_tables[kind])
                for kind in MUE_SETTINGS:
                    if cms.has("mue", kind):
                        mue_tables[kind] = cs.StoreMueTable(cms, kind, mue_tables[kind])
                if cms.has("aoc"):
                    aoc = cs.StoreAocTable(cms, aoc)
                if cms.has("pfs"):
                    pfs = cs.StorePfsTable(cms, pfs)
                if cms.has("hcpcs"):
                    hcpcs = cs.StoreHcpcsTable(cms, hcpcs)
                if cms.has("modifiers"):
                    modifiers = _store_modifiers(cms, modifiers)
        return cls(
            store=opened[0] if opened else None,
            stores=tuple(opened),
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
    def from_settings(cls, settings: Settings) -> Terminology:
        """The terminology ``settings.terminology`` describes: the built-in tables; the files of the
        ``*_paths`` keys, compiled on first use into a store of their own in the cache folder (again
        only when a file's path, size or time changes; small files, or no writable cache: read into
        memory); and the store ``fhirplugin data import`` wrote (``[terminology] store``, else the
        default one in the cache folder when it exists). Configured files are asked first."""
        t = settings.terminology
        configured = {
            "ptp": list(t.ptp_paths),
            "mue": list(t.mue_paths),
            "aoc": list(t.aoc_paths),
            "pfs": list(t.pfs_paths),
            "hcpcs": list(t.hcpcs_paths),
            "modifiers": list(t.modifier_paths),
        }
        from fhirplugin.tx import cmsstore

        setting = setting_of(t.ncci_table, PTP_SETTINGS)
        in_memory = configured
        stores: list[Path] = []
        folder = Path(t.store).parent if t.store else None  # beside the configured store, else the cache
        compiled = (
            cmsstore.compile_configured(configured, setting, folder) if any(configured.values()) else None
        )
        if compiled is not None:
            stores.append(compiled)
            in_memory = {k: [] for k in configured}
        if t.store:
            if not Path(t.store).is_file() and not any(configured.values()):
                raise cmsstore.StoreError(
                    f"store {t.store}: not found (run `fhirplugin data import --store {t.store} …`)"
                )
            if Path(t.store).is_file():
                stores.append(Path(t.store))
        else:
            imported = cmsstore.default_store_path()
            if imported is not None and imported.is_file():
                stores.append(imported)
        if not (t.cpt_file or any(in_memory.values()) or stores) and t.ncci_table == "practitioner":
            return default_terminology()
        return cls.load(
            cpt_file=t.cpt_file,
            ptp_paths=in_memory["ptp"],
            mue_paths=in_memory["mue"],
            ncci_table=t.ncci_table,
            aoc_paths=in_memory["aoc"],
            pfs_paths=in_memory["pfs"],
            hcpcs_paths=in_memory["hcpcs"],
            modifier_paths=in_memory["modifiers"],
            store=stores or None,
        )


def _store_modifiers(cms: CmsStore, base: ModifierTable) -> ModifierTable:
    """``base`` with every modifier of the store's modifier releases added; complete when they hold
    Level I and Level II modifiers."""
    from fhirplugin.tx.modifier_lists import _entry

    merged = {m.code: m for m in base}
    levels: set[str] = set()
    for r in cms.releases("modifiers"):
        for code, level, description, category in cms.conn().execute(
            "SELECT code, level, description, category FROM modifiers WHERE rel = ?", (r.id,)
        ):
            levels.add(level)
            if code not in merged:
                merged[code] = _entry(
                    code,
                    "cpt" if level == "I" else "hcpcs",
                    description,
                    category,
                    f"CMS modifier list {r.release}".strip(),
                )
    return ModifierTable(merged, complete=base.complete or levels >= {"I", "II"})


def _base(table: object) -> object:
    """The in-memory table under a chain of store tables."""
    while hasattr(table, "fallback"):
        table = table.fallback
    return table


def _mue_setting(table: MueTable) -> str | None:
    """The setting a loaded CMS MUE file is for (its header names it), None when unknown."""
    for entry in table:
        return _ALIASES.get(entry.table)
    return None


def _releases_of(table: Any, name: str, setting: str, builtin: bool) -> list[ReleaseInfo]:
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
        ReleaseInfo(
            name, setting, rel, n, release_start(rel), None, "built-in excerpt" if builtin else "in memory"
        )
        for rel, n in sorted(counts.items())
    ]


@cache
def default_terminology() -> Terminology:
    """The built-in terminology, loaded once per process."""
    return Terminology.load()
