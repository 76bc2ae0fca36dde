"""The terminology a rule can ask: CPT table, modifiers, ICD-10-CM, NCCI PTP/MUE, ValueSets, ConceptMaps.

Loaded once (built-in data under ``terminology/``, plus a user's licensed CPT file and full CMS
files when configured) and shared read-only by every validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fhirplugin.tx import icd
from fhirplugin.tx.cpt import CptTable
from fhirplugin.tx.fhirterm import ConceptMaps, ValueSets
from fhirplugin.tx.modifiers import ModifierTable
from fhirplugin.tx.ncci import MueTable, PtpTable, load_builtin


@dataclass(slots=True)
class Terminology:
    cpt: CptTable
    modifiers: ModifierTable
    ptp: PtpTable
    mue: MueTable
    valuesets: ValueSets
    conceptmaps: ConceptMaps
    icd = icd  # module with is_valid / is_billable / title / is_descendant_or_self

    @classmethod
    def load(
        cls,
        *,
        cpt_file: Path | None = None,
        ptp_paths: list[Path] | tuple[Path, ...] = (),
        mue_paths: list[Path] | tuple[Path, ...] = (),
        ncci_table: str = "practitioner",
    ) -> Terminology:
        cpt = CptTable.builtin()
        if cpt_file:
            cpt = cpt.merge(CptTable.load_licensed(Path(cpt_file)))
        ptp, mue = load_builtin(ncci_table)
        if ptp_paths:
            ptp = ptp.merge(PtpTable.load([Path(p) for p in ptp_paths]))
        for path in mue_paths:
            mue = mue.merge(MueTable.load(Path(path)))
        return cls(
            cpt=cpt,
            modifiers=ModifierTable.builtin(),
            ptp=ptp,
            mue=mue,
            valuesets=ValueSets.builtin(),
            conceptmaps=ConceptMaps.builtin(),
        )

    @classmethod
    def from_settings(cls, settings) -> Terminology:
        t = settings.terminology
        if not (t.cpt_file or t.ptp_paths or t.mue_paths) and t.ncci_table == "practitioner":
            return default_terminology()
        return cls.load(
            cpt_file=t.cpt_file, ptp_paths=t.ptp_paths, mue_paths=t.mue_paths, ncci_table=t.ncci_table
        )


@cache
def default_terminology() -> Terminology:
    """The built-in terminology, loaded once per process."""
    return Terminology.load()
