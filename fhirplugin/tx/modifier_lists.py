"""Read full modifier lists (CMS HCPCS Level II modifiers, Level I + Level II lists) into a
:class:`~fhirplugin.tx.modifiers.ModifierTable`; see :meth:`ModifierTable.load_cms`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fhirplugin.tx.cms import (
    AnwebModifier,
    Content,
    _find_columns,
    _letters,
    _rows,
    content_of,
    drop_twin_workbooks,
    head_text,
    read_anweb,
)
from fhirplugin.tx.modifiers import Modifier, ModifierTable, normalize_modifier
from fhirplugin.tx.ncci import (
    DISTINCT_MODIFIERS,
    MUE_LINE_MODIFIERS,
    PTP_BYPASS_MODIFIERS,
    CmsFileError,
)
from fhirplugin.tx.ncci.files import file_members

_LIST_COLUMNS = {
    "code": ("modifier", "code", "mod"),
    "level": ("level",),
    "description": ("description", "longdescription"),
    "category": ("category",),
}


# the categories of terminology/codesystems/modifier-category.json that a CMS list's wording maps to
_CATEGORIES = frozenset({"anatomic", "distinct", "laboratory", "anesthesia", "telehealth", "disaster"})


def _level(name: str, lineno: int, raw: str) -> str:
    v = _letters(raw)
    if v in ("i", "icpt", "cpt", "1", "leveli"):
        return "cpt"
    if v in ("ii", "iihcpcs", "hcpcs", "2", "levelii"):
        return "hcpcs"
    raise CmsFileError(f"{name}: line {lineno}: level {raw!r} is not I (CPT) or II (HCPCS)")


def _entry(code: str, system: str, description: str, category: str, source: str) -> Modifier:
    return Modifier(
        code=code,
        system=system,
        description=description or f"{'CPT' if system == 'cpt' else 'HCPCS Level II'} modifier {code}",
        category=category if category in _CATEGORIES else "informational",
        ptp_bypass=code in PTP_BYPASS_MODIFIERS,
        distinct=code in DISTINCT_MODIFIERS,
        mue_line=code in MUE_LINE_MODIFIERS,
        source=source,
        verified=True,
    )


def read_modifier_lists(paths: Iterable[Path] | Path, base: ModifierTable) -> ModifierTable:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: dict[str, Modifier] = {}
    levels: set[str] = set()
    for path in paths:
        for name, data in drop_twin_workbooks(list(file_members(Path(path), (".csv", ".txt", ".xlsx")))):
            read_modifier_content(name, content_of(name, data), found, levels)
    if not found:
        raise CmsFileError(f"{', '.join(map(str, paths))}: no modifiers found")
    merged = {m.code: m for m in base}
    for code, entry in found.items():
        merged.setdefault(code, entry)  # built-in wording and flags win for modifiers it knows
    return ModifierTable(merged, complete=base.complete or levels == {"cpt", "hcpcs"})


def read_modifier_content(name: str, text: Content, found: dict[str, Modifier], levels: set[str]) -> None:
    """Add the modifiers of one decoded file (``text``, or a workbook's rows) to ``found``, and the
    levels it holds ("cpt", "hcpcs") to ``levels``: a CMS modifier list or the ANWEB's modifiers."""
    source = f"CMS modifier list ({Path(name.split('!')[-1]).name})"
    head = head_text(text).lower()
    if "termdt" in _letters(head.split("\n", 1)[0]) or "term_dt" in head:
        for item in read_anweb(name, text, "", "CMS HCPCS Level II"):
            if isinstance(item, AnwebModifier) and item.terminated is None:
                found[item.code] = _entry(item.code, "hcpcs", item.description, "", source)
                levels.add("hcpcs")
        return
    rows = _rows(name, text)

    def header(labels: list[str]) -> bool:
        return bool(labels) and labels[0] in ("modifier", "code", "mod") and "level" in labels

    cols = _find_columns(name, rows, header, _LIST_COLUMNS, ("code", "level"), "a modifier list")
    for lineno, cells in rows:
        raw = cells[cols["code"]] if cols["code"] < len(cells) else ""
        if not raw:
            continue
        code = normalize_modifier(raw)
        if len(code) == 1 and code.isalpha():
            continue  # an ambulance origin/destination letter: two of them make the modifier
        if len(code) != 2 or not code.isalnum():
            raise CmsFileError(f"{name}: line {lineno}: {raw!r} is not a two-character modifier")
        system = _level(name, lineno, cells[cols["level"]] if cols["level"] < len(cells) else "")
        desc = (
            cells[cols["description"]] if "description" in cols and cols["description"] < len(cells) else ""
        )
        cat = cells[cols["category"]] if "category" in cols and cols["category"] < len(cells) else ""
        found[code] = _entry(code, system, desc if system == "hcpcs" else "", cat, source)
        levels.add(system)
