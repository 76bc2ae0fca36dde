"""The CPT/HCPCS table: built-in data, shape checks, licensed files and merging."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fhirplugin.resources import data_dir
from fhirplugin.tx.cpt import CptDataError, CptTable, looks_like_cpt, looks_like_hcpcs


def words(text: str) -> list[str]:
    return text.split()


@pytest.fixture(scope="module")
def table() -> CptTable:
    return CptTable.builtin()


# -- built-in data ----------------------------------------------------------------------------------


def test_builtin_systems_follow_the_code_shape(table: CptTable) -> None:
    """A Level I code (digits, or four digits and F/T/U) is CPT; a letter and four digits is HCPCS."""
    for c in table:
        level_two = c.code[:1].isalpha()
        assert c.system == ("hcpcs" if level_two else "cpt"), c.code


def test_descriptions_are_short_own_words(table: CptTable) -> None:
    for c in table:
        assert c.description and len(c.description.split()) <= 12, c


def test_add_on_and_global_flags(table: CptTable) -> None:
    assert table.get("49412").add_on and table.get("49412").global_days == "ZZZ"
    assert table.get("49327").add_on
    assert table.get("10036").add_on and not table.get("10035").add_on
    assert table.get("77002").add_on and table.get("77003").add_on
    assert not table.get("49411").add_on
    assert table.get("49405").global_days == "000"
    assert table.get("58820").global_days == "090"


def test_families(table: CptTable) -> None:
    assert {c.code for c in table.family("imaging-guidance")} == {
        "75989",
        "76942",
        "77002",
        "77003",
        "77012",
        "77021",
    }
    assert {c.code for c in table.family("catheter-drainage")} == {"10030", "49405", "49406", "49407"}
    assert "55876" in {c.code for c in table.family("interstitial-device")}


def test_every_family_is_defined_in_the_family_codesystem(table: CptTable) -> None:
    cs = json.loads((data_dir("terminology") / "codesystems" / "cpt-family.json").read_text())

    def codes(concepts):
        for c in concepts:
            yield c["code"]
            yield from codes(c.get("concept", []))

    defined = set(codes(cs["concept"]))
    assert {c.family for c in table if c.family} <= defined


def test_verified_rows_name_a_source_and_memory_rows_are_unverified(table: CptTable) -> None:
    for c in table:
        if c.verified:
            assert c.source, c
    # descriptor from memory only
    assert not table.get("58800").verified
    assert not table.get("A4648").verified
    # global days from memory
    for code in ("10030", "49407", "49411"):
        assert not table.get(code).verified
    # fully sourced rows
    for code in ("49405", "49406", "49412", "58820", "76942"):
        assert table.get(code).verified


def test_memory_tagged_global_days_in_reference_are_unverified(table: CptTable, shared: Path) -> None:
    """Rows of the fee-schedule table in the research notes whose global days are [M] must be unverified."""
    text = (shared / "reference" / "coding-rules.md").read_text(encoding="utf-8")
    section = text.split("## 5.", 1)[1].split("\n## ", 1)[0]
    checked = 0
    for line in section.splitlines():
        m = re.match(r"^\|\s*(\d{5})\s*\|\s*(\w{3})\s*\|.*\|\s*([^|]*)\|\s*$", line)
        if not m:
            continue
        code, global_days, tag = m.groups()
        row = table.get(code)
        assert row is not None, code
        assert row.global_days == global_days, code
        if "global [M]" in tag or tag.strip() == "[M]":
            assert not row.verified, code
        checked += 1
    assert checked >= 5


def test_lookup_ignores_case_and_blanks(table: CptTable) -> None:
    assert table.get(" c9728 ") is table.get("C9728")
    assert "49406" in table and " 49406" in table
    assert "49999" not in table and table.get("49999") is None
    assert 49406 not in table  # not a string


# -- shapes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("49406", True),
        ("0042T", True),
        ("3008F", True),
        ("0001U", True),
        ("0001u", True),
        ("4940", False),
        ("494061", False),
        ("C9728", False),
        ("4940A", False),
        ("", False),
    ],
)
def test_looks_like_cpt(code: str, expected: bool) -> None:
    assert looks_like_cpt(code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("C9728", True),
        ("A4648", True),
        ("v2020", True),
        ("W1234", False),
        ("C972", False),
        ("49406", False),
        ("CC972", False),
    ],
)
def test_looks_like_hcpcs(code: str, expected: bool) -> None:
    assert looks_like_hcpcs(code) is expected


# -- licensed files ---------------------------------------------------------------------------------


def test_licensed_tab_file_overrides_description_and_keeps_flags(tmp_path: Path) -> None:
    f = tmp_path / "LONGULT.txt"
    # Windows-1252: the registered sign and an e-acute as single bytes
    f.write_bytes(
        "49412\tLicensed descriptor for 49412 \xae\n49406\tLicensed text, caf\xe9\n99999\tA code we do not ship\n".encode(
            "cp1252"
        )
    )
    licensed = CptTable.load_licensed(f)
    assert licensed.get("49406").description == "Licensed text, café"
    assert licensed.get("49412").source == "licensed:LONGULT.txt"

    merged = CptTable.builtin().merge(licensed)
    row = merged.get("49412")
    assert row.description == "Licensed descriptor for 49412 ®"
    assert row.add_on and row.global_days == "ZZZ" and row.family == "interstitial-device"
    assert merged.get("99999").description == "A code we do not ship"
    assert merged.get("10030").description == CptTable.builtin().get("10030").description
    assert len(merged) == len(CptTable.builtin()) + 1
    # the built-in table is not changed by merging
    assert CptTable.builtin().get("49412").description != row.description


def test_licensed_space_separated_utf8(tmp_path: Path) -> None:
    f = tmp_path / "MEDU.txt"
    f.write_text("\ufeff10030 DRAINAGE SOFT TISSUE SHORT\n\n0042T  CATEGORY III THING\n", encoding="utf-8")
    t = CptTable.load_licensed(f)
    assert t.get("10030").description == "DRAINAGE SOFT TISSUE SHORT"
    assert t.get("0042T").description == "CATEGORY III THING"
    assert len(t) == 2


def test_licensed_csv_with_header(tmp_path: Path) -> None:
    f = tmp_path / "cpt.csv"
    f.write_text('Concept Id,CPT Code,Long Descriptor\n1,49406,"Text, with a comma"\n2,C9728,HCPCS row\n')
    t = CptTable.load_licensed(f)
    assert t.get("49406").description == "Text, with a comma"
    assert t.get("C9728").system == "hcpcs"


def test_licensed_tsv_with_header_and_named_column(tmp_path: Path) -> None:
    f = tmp_path / "ConsumerDescriptor.txt"
    f.write_text("Concept Id\tCPT Code\tShort\tConsumer Friendly Descriptor\n1\t49406\tshort\tfriendly\n")
    assert CptTable.load_licensed(f).get("49406").description == "friendly"
    assert CptTable.load_licensed(f, description_column="Short").get("49406").description == "short"


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b"10030\tok\n49406\tok\nXYZ12 not a code\n", 3, "not a CPT or HCPCS code"),
        (b"10030\tok\n49406\n", 2, "CODE<TAB>DESCRIPTOR"),
        (b"10030\tok\n10030\tanother text\n", 2, "first on line 1"),
        (b"10030\tok\n\x81\x8d bytes\n", 2, "neither UTF-8 nor Windows-1252"),
    ],
)
def test_bad_licensed_text_file_names_file_and_line(
    tmp_path: Path, content: bytes, line: int, words: str
) -> None:
    f = tmp_path / "SHORTU.txt"
    f.write_bytes(content)
    with pytest.raises(CptDataError) as err:
        CptTable.load_licensed(f)
    msg = str(err.value)
    assert "SHORTU.txt" in msg and f"line {line}" in msg and words in msg


def test_bad_licensed_csv_names_line(tmp_path: Path) -> None:
    f = tmp_path / "cpt.csv"
    f.write_text("code,description\n49406,fine\n4940,short code\n")
    with pytest.raises(CptDataError, match=r"cpt\.csv: line 3: '4940' is not a CPT"):
        CptTable.load_licensed(f)
    f.write_text("code,label\n49406,fine\n")
    with pytest.raises(CptDataError, match=r"cpt\.csv: line 1: no description column"):
        CptTable.load_licensed(f)


def test_missing_or_empty_licensed_file(tmp_path: Path) -> None:
    with pytest.raises(CptDataError, match=r"nope\.txt: cannot be read"):
        CptTable.load_licensed(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(CptDataError, match=r"empty\.txt: the file holds no codes"):
        CptTable.load_licensed(empty)


def test_builtin_layout_loader_refuses_bad_rows(tmp_path: Path) -> None:
    header = "code,system,description,add_on,global_days,family,source,verified\n"
    f = tmp_path / "codes.csv"
    f.write_text(header + "49406,cpt,Drain,false,000,x,S,true\n49407,cpt,Drain,maybe,000,x,S,true\n")
    with pytest.raises(CptDataError, match=r"codes\.csv: line 3: add_on must be true or false"):
        CptTable.load(f)
    f.write_text(header + "49406,cpt,Drain,false,000,x,S,true\n49406,cpt,Again,false,000,x,S,true\n")
    with pytest.raises(CptDataError, match=r"line 3: code 49406 is listed twice"):
        CptTable.load(f)
    f.write_text(header + "C9728,cpt,Drain,false,,x,S,true\n")
    with pytest.raises(CptDataError, match=r"line 2: 'C9728' is not shaped like a CPT code"):
        CptTable.load(f)
    f.write_text(header + "49406,cpt,Drain,false,045,x,S,true\n")
    with pytest.raises(CptDataError, match=r"line 2: global_days '045'"):
        CptTable.load(f)


def test_unknown_code_is_a_warning_only_against_a_licensed_table(tmp_path: Path) -> None:
    """GEN001: with the built-in excerpt an unknown code is information; with a licensed file, a warning."""
    from builders import build
    from fhirplugin.config import load_settings
    from fhirplugin.engine import Engine
    from fhirplugin.tx.store import Terminology

    assert not CptTable.builtin().complete
    f = tmp_path / "LONGULT.txt"
    f.write_text("49406\tDRAINAGE PERITONEAL PERCUTANEOUS\n99213\tOFFICE VISIT\n")
    claim = build({"claim": {"lines": [{"code": "99213"}, {"code": "99999"}]}})

    def gen001(tx):
        result = Engine(load_settings(select=["GEN001"]), tx=tx).check_object(claim)
        return {(tuple(f.expression), f.severity.value) for f in result.findings if f.rule_id == "GEN001"}

    builtin = gen001(Terminology.load())  # one summary for the input, naming both codes' places
    assert builtin == {
        (
            ("Claim.item[0].productOrService.coding[0]", "Claim.item[1].productOrService.coding[0]"),
            "information",
        )
    }
    licensed = gen001(Terminology.load(cpt_file=f))
    assert licensed == {(("Claim.item[1].productOrService.coding[0]",), "warning")}


def test_a_family_table_with_descriptions_adds_its_codes_to_the_builtin_table(table: CptTable) -> None:
    # terminology/cvc/codes.csv describes 36555/36556: a new family names its codes once, in its own table
    code = table.get("36556")
    assert code is not None and code.system == "cpt" and not code.add_on
    assert "5 or older" in code.description


def test_a_family_table_may_not_describe_a_builtin_code_again(tmp_path: Path) -> None:
    from fhirplugin.tx.cpt import _family_codes

    fam = tmp_path / "fam"
    fam.mkdir()
    (fam / "codes.csv").write_text("code,description\n49405,Visceral drain again\n", encoding="utf-8")
    known = {c.code: c for c in CptTable.builtin()}
    with pytest.raises(CptDataError, match=r"codes.csv: line 2: code 49405 is already described"):
        _family_codes(fam / "codes.csv", known)
    (fam / "codes.csv").write_text("code,description\n3655,Too short\n", encoding="utf-8")
    with pytest.raises(CptDataError, match="line 2"):
        _family_codes(fam / "codes.csv", known)
