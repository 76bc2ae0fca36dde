"""The modifier table: which modifiers exist and how the edits treat them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fhirplugin.resources import data_dir
from fhirplugin.tx.modifiers import ModifierDataError, ModifierTable


def words(text: str) -> list[str]:
    return text.split()


PTP_ASSOCIATED = frozenset(
    words(
        "E1 E2 E3 E4 FA F1 F2 F3 F4 F5 F6 F7 F8 F9 TA T1 T2 T3 T4 T5 T6 T7 T8 T9 LT RT LC LD RC LM "
        "RI 24 25 57 58 78 79 27 59 91 XE XS XP XU"
    )
)


@pytest.fixture(scope="module")
def mods() -> ModifierTable:
    return ModifierTable.builtin()


def test_modifier_11_does_not_exist(mods: ModifierTable) -> None:
    assert not mods.is_valid("11")
    assert "11" not in mods
    assert mods.get("11") is None


@pytest.mark.parametrize("code", ["59", "XS", "xs", " Xs ", "LT", "rt", "76", "25", "Q0", "q1"])
def test_valid_modifiers_any_case(mods: ModifierTable, code: str) -> None:
    assert mods.is_valid(code)
    assert code in mods


@pytest.mark.parametrize("code", ["00", "5", "590", "X", "ZZ", "", "  "])
def test_invalid_modifiers(mods: ModifierTable, code: str) -> None:
    assert not mods.is_valid(code)


def test_builtin_holds_every_level_one_modifier_at_its_cms_level(mods: ModifierTable, shared: Path) -> None:
    """GEN005 calls an unknown modifier of a CPT shape an error: that rests on the built-in table
    holding every Level I modifier CMS lists; every built-in modifier sits at the level CMS gives it."""
    import csv

    cms: dict[str, set[str]] = {}
    with open(shared / "data" / "cms" / "hcpcs-modifiers-2024.csv", newline="") as f:
        for r in csv.DictReader(f):  # a few (P1-P6) are listed at both levels
            cms.setdefault(r["modifier"], set()).add("cpt" if r["level"].startswith("I ") else "hcpcs")
    level_one = {code for code, levels in cms.items() if "cpt" in levels}
    assert level_one <= {m.code for m in mods}
    for m in mods:
        assert m.system in cms.get(m.code, set()), m.code


def test_ptp_associated_modifiers(mods: ModifierTable) -> None:
    assert {m.code for m in mods if m.ptp_bypass} == PTP_ASSOCIATED
    for code in PTP_ASSOCIATED:
        assert mods.get(code).verified, code
    assert not mods.get("76").ptp_bypass  # repeat procedure: an MUE-line modifier, not a PTP one
    assert not mods.get("51").ptp_bypass


def test_ptp_list_matches_the_reference(mods: ModifierTable, shared: Path) -> None:
    text = (shared / "reference" / "coding-rules.md").read_text(encoding="utf-8")
    section = text.split("### 1.6", 1)[1].split("Rules:", 1)[0]
    listed: set[str] = set()
    for letter, lo, hi in re.findall(r"\b([A-Z])(\d)[–-]\1(\d)\b", section):
        listed |= {f"{letter}{n}" for n in range(int(lo), int(hi) + 1)}
    section = re.sub(r"\b([A-Z])(\d)[–-]\1(\d)\b", " ", section)
    bullets = [ln for ln in section.splitlines() if ln.startswith("- ")]
    for ln in bullets:
        body = ln.split(":", 1)[1]
        body = re.sub(r"\([^)]*\)", " ", body)
        listed |= set(re.findall(r"\b(?:[A-Z]{2}|[A-Z]\d|\d{2})\b", body))
    assert listed == {m.code for m in mods if m.ptp_bypass}


def test_distinct_and_mue_line(mods: ModifierTable) -> None:
    assert {m.code for m in mods if m.distinct} == {"59", "XE", "XS", "XP", "XU"}
    mue_line = {m.code for m in mods if m.mue_line}
    assert {"76", "77", "91", "RT", "LT", "F1"} <= mue_line
    assert "59" not in mue_line


def test_memory_only_modifiers_are_unverified(mods: ModifierTable) -> None:
    for code in ("26", "TC", "50", "51", "GA", "KX", "JW", "PO"):
        m = mods.get(code)
        assert not m.verified and not m.ptp_bypass, code
    for m in mods:
        if m.verified:
            assert m.source, m


def test_categories_are_defined(mods: ModifierTable) -> None:
    cs = json.loads((data_dir("terminology") / "codesystems" / "modifier-category.json").read_text())
    assert {m.category for m in mods} <= {c["code"] for c in cs["concept"]}


def test_load_names_bad_lines(tmp_path: Path) -> None:
    header = "code,system,description,category,ptp_bypass,distinct,mue_line,source,verified\n"
    f = tmp_path / "mods.csv"
    f.write_text(
        header
        + "59,cpt,Distinct,distinct,true,true,false,S,true\nXS,cpt,Bad,distinct,true,true,false,S,true\n"
    )
    with pytest.raises(ModifierDataError, match=r"mods\.csv: line 3: CPT modifiers are two digits"):
        ModifierTable.load(f)
    f.write_text(header + "59,cpt,Distinct,distinct,yes please,true,false,S,true\n")
    with pytest.raises(ModifierDataError, match=r"line 2: ptp_bypass must be true or false"):
        ModifierTable.load(f)
    f.write_text(
        header + "59,cpt,A,distinct,true,true,false,S,true\n59,cpt,B,distinct,true,true,false,S,true\n"
    )
    with pytest.raises(ModifierDataError, match=r"line 3: modifier 59 is listed twice"):
        ModifierTable.load(f)
    f.write_text("code,system\n59,cpt\n")
    with pytest.raises(ModifierDataError, match=r"line 1: missing column"):
        ModifierTable.load(f)
