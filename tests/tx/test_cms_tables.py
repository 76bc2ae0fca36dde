"""Add-on code edits, PFS indicators, HCPCS Level II, full modifier lists and the Terminology interface
the generic CMS rules query (built-in in-memory tables)."""

from __future__ import annotations

import csv
import zipfile
from datetime import date
from pathlib import Path

import pytest

from fhirplugin.tx.cms import (
    AocTable,
    CmsFileError,
    HcpcsTable,
    PfsTable,
    builtin_aoc,
    builtin_hcpcs,
    builtin_pfs,
)
from fhirplugin.tx.modifiers import ModifierTable
from fhirplugin.tx.releases import describe_release, detect_release, release_start
from fhirplugin.tx.store import Terminology, default_terminology

CMS = "data/cms"

# -- writers for the CMS layouts (from the decoded shared copies) -----------------------------------
AOC_HEADER = (
    "Add-on Code\tAOC Del Dt\tPrimary Code\tPrimary Code Del Dt\tAOC Edit Type\tAOC Edit Eff Dt\t"
    "AOC Edit Del Dt\tSpecial Instruction Notes"
)


def aoc_text(rows: list[tuple[str, str, str]], *, eff: str = "20240101", dele: str = "") -> str:
    """CMS add-on code edit layout (tab-separated, CRLF): rows of (add-on, primary, type)."""
    body = "".join(f"{a}\t\t{p}\t\t{t}\t{eff}\t{dele}\t\r\n" for a, p, t in rows)
    return AOC_HEADER + "\r\n" + body


PFS_HEADER = [
    "HCPCS", "MOD", "DESCRIPTION", "STATUS CODE", "NOT USED FOR MEDICARE PAYMENT", "WORK RVU",
    "NON-FAC PE RVU", "NON-FAC NA INDICATOR", "FACILITY PE RVU", "FACILITY NA INDICATOR", "MP RVU",
    "NON-FACILITY TOTAL", "FACILITY TOTAL", "PCTC IND", "GLOB DAYS", "PRE OP", "INTRA OP", "POST OP",
    "MULT PROC", "BILAT SURG", "ASST SURG", "CO SURG", "TEAM SURG", "ENDO BASE", "CONV FACTOR",
    "PHYSICIAN SUPERVISION OF DIAGNOSTIC PROCEDURES", "CALCULATION FLAG",
    "DIAGNOSTIC IMAGING FAMILY INDICATOR", "NON-FACILITY PE USED FOR OPPS PAYMENT AMOUNT",
    "FACILITY PE USED FOR OPPS PAYMENT AMOUNT", "MP USED FOR OPPS PAYMENT AMOUNT",
]  # fmt: skip
PFS_FROM_SHARED = [
    "hcpcs_code", "mod", None, "status", "not_used_for_mcr_pmt", "rvu_work", "rvu_non_pe", "non_na_ind",
    "rvu_fac_pe", "fac_na_ind", "rvu_mp", "rvu_non_total", "rvu_fac_total", "pctc_ind", "glob_days",
    "pre_op", "intra_op", "post_op", "mult_proc", "bilat_surg", "asst_surg", "co_surg", "team_surg",
    "endo_base", "cf", "phys_sup_diag_proc", None, "diag_img_fam_ind", "rvu_opps_non_pe",
    "rvu_opps_fac_pe", "rvu_opps_mp",
]  # fmt: skip


def write_pfs(path: Path, shared_rows: list[dict]) -> Path:
    """A PPRRVU csv as CMS ships it: title and notice lines, a blank line, the header row, rows."""
    n = len(PFS_HEADER)
    with open(path, "w", newline="", encoding="cp1252") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["2024 National Physician Fee Schedule Relative Value File July Release"] + [""] * (n - 1))
        w.writerow(
            ["CPT codes and descriptions only are copyright 2023 American Medical Association."]
            + [""] * (n - 1)
        )
        w.writerow([""] * n)
        w.writerow(PFS_HEADER)
        for r in shared_rows:
            w.writerow([(r[c] if c else "") for c in PFS_FROM_SHARED])
    return path


def shared_csv(shared: Path, name: str) -> list[dict]:
    with open(shared / CMS / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- releases -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "name", "release"),
    [
        ("ptp", "ccipra-v302r0-f1.txt", "2024 Q3"),  # NCCI version 30.2 = July 2024
        ("ptp", "medicare-ncci-2026q2-hospital-ptp-edits-ccioph-v321r0-f4.zip", "2026 Q2"),
        ("mue", "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv", "2024 Q3"),
        ("mue", "medicare-ncci-2026-q2-practitioner-services-mue-table.zip", "2026 Q2"),
        ("aoc", "AOC_V2024Q3-MCR.txt", "2024 Q3"),
        ("pfs", "RVU24C.zip!PPRRVU24_JUL.csv", "RVU24C"),
        ("pfs", "PPRRVU2024_Oct_nonQPP.csv", "RVU24D"),
        ("hcpcs", "HCPC2024_JUL_ANWEB_v3.csv", "2024-07"),
        ("ptp", "edits.txt", None),
    ],
)
def test_release_detected_from_cms_file_names(kind: str, name: str, release: str | None) -> None:
    assert detect_release(kind, name) == release


def test_release_start_and_wording() -> None:
    assert release_start("2024 Q3") == date(2024, 7, 1)
    assert release_start("RVU24A") == date(2024, 1, 1)
    assert release_start("2024-06") == date(2024, 6, 1)
    assert release_start("") is None
    assert describe_release("RVU24C") == "RVU24C (July 2024)"


# -- the Terminology interface on the built-in tables -------------------------------------------------
@pytest.fixture(scope="module")
def tx() -> Terminology:
    return default_terminology()


def test_tables_per_setting(tx: Terminology) -> None:
    assert tx.ptp_for("practitioner") is tx.ptp
    assert tx.mue_for("practitioner") is tx.mue
    hospital = tx.ptp_for("hospital")
    assert len(hospital) > 0 and hospital is not tx.ptp
    assert {e.table for e in hospital} == {"outpatient hospital"}
    assert tx.mue_for("dme").get("49406") is None
    for bad in ("clinic", "", "dme-ptp"):
        with pytest.raises(ValueError, match="unknown setting"):
            tx.ptp_for(bad)
    with pytest.raises(ValueError, match="unknown setting"):
        tx.ptp_for("dme")  # NCCI has no DME PTP table
    with pytest.raises(ValueError, match="unknown setting"):
        tx.mue_for("ambulance")


def test_hospital_setting_configured(tmp_path: Path) -> None:
    t = Terminology.load(ncci_table="hospital")
    assert t.ptp is t.ptp_for("hospital") and t.mue is t.mue_for("hospital")
    with pytest.raises(ValueError, match="unknown setting"):
        Terminology.load(ncci_table="clinic")


def test_among_returns_the_pairs_between_codes_on_a_claim(tx: Terminology) -> None:
    dos = date(2024, 7, 15)
    pairs = tx.ptp.among(["49406", "76942", "77012", "99213"], dos)
    assert {(e.column1, e.column2) for e in pairs} == {
        ("49406", "76942"),
        ("49406", "77012"),
        ("49406", "99213"),
        ("76942", "77012"),
    }
    assert all(e.table == "practitioner" for e in pairs)
    assert all(e.citation for e in pairs)
    # the same result as asking each ordered pair
    codes = ["49406", "76942", "77012", "99213", "10030"]
    expect = {(a, b) for a in codes for b in codes if a != b and tx.ptp.lookup(a, b, dos)}
    assert {(e.column1, e.column2) for e in tx.ptp.among(codes, dos)} == expect
    assert tx.ptp.among(["49406"], dos) == []
    assert tx.ptp.among([], dos) == []


def test_builtin_mue_rows_carry_a_citation(tx: Terminology) -> None:
    entry = tx.mue.get("49406", date(2024, 7, 1))
    assert entry is not None and entry.citation
    assert tx.mue.get("49406") == entry


def test_aoc_builtin(tx: Terminology) -> None:
    e49412 = tx.aoc.get("49412")
    assert e49412.edit_type == 2 and e49412.primaries == frozenset()  # CMS: CCCCC, the MAC decides
    e77002 = tx.aoc.get("77002", date(2024, 7, 1))
    assert e77002.edit_type == 1 and {"32553", "49411", "55876"} <= e77002.primaries
    assert e77002.citation == "NCCI add-on code edits, 2024-06"
    assert tx.aoc.get("49327").edit_type == 3 and {"44204", "47562"} <= tx.aoc.get("49327").primaries
    assert tx.aoc.is_add_on("77003") and not tx.aoc.is_add_on("49406") and tx.aoc.get("49406") is None
    assert tx.aoc.is_add_on(" 49412 ")


def test_pfs_builtin(tx: Terminology) -> None:
    row = tx.pfs.get("49411")
    assert (row.status, row.pctc, row.global_days, row.bilateral) == ("A", "0", "000", "0")
    assert row.citation == "Medicare Physician Fee Schedule relative value file RVU24C (July 2024)"
    assert tx.pfs.get("49412").global_days == "ZZZ"
    assert tx.pfs.get("58820").global_days == "090"
    assert tx.pfs.get("99213").global_days == "XXX"
    assert tx.pfs.get("49406", modifier="26") is None  # no professional/technical split
    assert tx.pfs.get("76942", modifier="26").pctc == "1" and tx.pfs.get("76942", modifier="tc") is not None
    assert tx.pfs.get("12345") is None


def test_hcpcs_builtin(tx: Terminology) -> None:
    g0202 = tx.hcpcs.get("g0202")
    assert g0202.terminated == date(2017, 12, 31)
    g0463 = tx.hcpcs.get("G0463")
    assert g0463.added == date(2014, 1, 1) and g0463.terminated is None and g0463.description
    assert g0463.citation == "CMS HCPCS Level II file, July 2024"
    assert tx.hcpcs.get("99213") is None  # Level I (CPT) codes are not in the Level II table


def test_modifiers_named_by_the_issue_are_valid(tx: Terminology) -> None:
    for code in ("Q6", "CT", "GW", "GA", "GY", "GZ", "KX", "JW", "JZ", "PO", "PN", "FY", "QW", "TC"):
        assert tx.modifiers.is_valid(code), code
        assert tx.modifiers.level(code) == "II"
    assert tx.modifiers.level("25") == "I"
    assert tx.modifiers.level("ZZ") is None
    assert tx.modifiers.complete is False  # an excerpt: an unknown modifier may still exist


def test_releases_lists_the_builtin_tables(tx: Terminology) -> None:
    got = {(r.table, r.setting): r for r in tx.releases()}
    assert got[("pfs", "")].release == "RVU24C" and got[("pfs", "")].rows == len(tx.pfs)
    assert got[("aoc", "")].first == date(2024, 6, 1)
    assert got[("ptp", "practitioner")].rows == len(tx.ptp)
    assert got[("ptp", "hospital")].rows == len(tx.ptp_for("hospital"))
    assert ("mue", "dme") not in got  # nothing loaded


# -- the built-in excerpt against the real CMS tables ----------------------------------------------
def test_builtin_pfs_rows_are_the_cms_rows(shared: Path) -> None:
    cms = {(r["hcpcs_code"], r["mod"]): r for r in shared_csv(shared, "pfs-rvu-2024jul.csv")}
    table = builtin_pfs()
    assert len(table) > 50
    for row in table:
        r = cms[(row.code, row.modifier)]
        assert (row.status, row.pctc, row.global_days, row.mult_proc, row.bilateral, row.assistant,
                row.co_surgeon, row.team) == (r["status"], r["pctc_ind"], r["glob_days"], r["mult_proc"],
                r["bilat_surg"], r["asst_surg"], r["co_surg"], r["team_surg"]), row.code  # fmt: skip
        assert row.verified and "RVU24C" in row.source
    # every CMS row of a shipped code is shipped (base, 26 and TC)
    codes = {row.code for row in table}
    assert {k for k in cms if k[0] in codes} == {(row.code, row.modifier) for row in table}


def test_builtin_aoc_rows_are_cms_rows(shared: Path) -> None:
    cms: dict[str, dict[str, set[str]]] = {}
    for r in shared_csv(shared, "ncci-aoc-2024-06.csv"):
        cms.setdefault(r["add_on_code"], {}).setdefault(r["aoc_edit_type"], set()).add(r["primary_code"])
    table = builtin_aoc()
    for add_on in table:
        edit = table.get(add_on)
        assert set(cms[add_on]) == {str(edit.edit_type)}
        assert edit.primaries <= cms[add_on][str(edit.edit_type)] - {"CCCCC"}
    # every add-on code among the shipped PFS codes (global ZZZ, listed by CMS) is in the excerpt
    for row in builtin_pfs():
        if row.code in cms:
            assert table.is_add_on(row.code), row.code


def test_builtin_hcpcs_dates_are_cms_dates(shared: Path) -> None:
    cms = {r["hcpcs_code"]: r for r in shared_csv(shared, "hcpcs-level2-2024jul.csv")}
    table = builtin_hcpcs()
    assert any(c.terminated for c in table)
    for item in table:
        r = cms[item.code]
        assert (item.added.isoformat() if item.added else "") == r["date_added"]
        assert (item.terminated.isoformat() if item.terminated else "") == r["date_term"]
        assert item.action == r["action"]


def test_no_aoc_add_on_carries_two_edit_types_in_the_2024_06_file(shared: Path) -> None:
    types: dict[str, set[str]] = {}
    for r in shared_csv(shared, "ncci-aoc-2024-06.csv"):
        types.setdefault(r["add_on_code"], set()).add(r["aoc_edit_type"])
    assert types and all(len(t) == 1 for t in types.values())


# -- readers on CMS-layout files written from the real tables -----------------------------------------
def test_aoc_reader_reads_the_whole_cms_file(shared: Path, tmp_path: Path) -> None:
    rows = [
        (r["add_on_code"], r["primary_code"], r["aoc_edit_type"])
        for r in shared_csv(shared, "ncci-aoc-2024-06.csv")
    ]
    path = tmp_path / "AOC_V2024Q3-MCR.txt"
    path.write_text(aoc_text(rows), encoding="cp1252", newline="")
    with zipfile.ZipFile(tmp_path / "aoc.zip", "w") as z:
        z.write(path, path.name)
    table = AocTable.load(tmp_path / "aoc.zip")
    assert len(table) == len({r[0] for r in rows})
    edit = table.get("77002", date(2024, 7, 1))
    assert edit.release == "2024 Q3" and edit.citation == "NCCI add-on code edits, 2024 Q3"
    assert len(edit.primaries) == sum(1 for r in rows if r[0] == "77002")
    assert table.get("77002", date(2023, 12, 31)) is None  # before the edit's effective date


def test_aoc_edit_deleted_and_contractor_rows(tmp_path: Path) -> None:
    path = tmp_path / "AOC_V2024Q3-MCR.txt"
    text = (
        aoc_text([("49327", "44204", "3"), ("49327", "CCCCC", "3")])
        + "49412\t\tCCCCC\t\t2\t20140101\t20231231\t\r\n"
    )
    path.write_text(text, newline="")
    table = AocTable.load(path)
    assert table.get("49327").primaries == frozenset({"44204"}) and table.get("49327").edit_type == 3
    assert table.get("49412", date(2023, 6, 1)).edit_type == 2
    assert table.get("49412", date(2024, 1, 1)) is None  # deleted on 2023-12-31
    assert not table.is_add_on("49412")


def test_pfs_reader_reads_the_whole_cms_file(shared: Path, tmp_path: Path) -> None:
    rows = shared_csv(shared, "pfs-rvu-2024jul.csv")
    path = write_pfs(tmp_path / "PPRRVU24_JUL.csv", rows)
    with zipfile.ZipFile(tmp_path / "RVU24C.zip", "w") as z:
        z.write(path, path.name)
        z.writestr("RVU24C.pdf", b"%PDF-1.4 not read")
        z.writestr("GPCI2024.csv", "Medicare Administrative Contractor,State,Locality Number\r\n")
    table = PfsTable.load(tmp_path / "RVU24C.zip")
    assert len(table) == len({(r["hcpcs_code"], r["mod"]) for r in rows})
    row = table.get("20610")
    assert row.release == "RVU24C" and row.bilateral == "1" and row.global_days == "000"


def test_hcpcs_reader_joins_continuation_records(tmp_path: Path) -> None:
    path = tmp_path / "HCPC2024_JUL_ANWEB.csv"
    path.write_text(
        "HCPC,SEQNUM,RECID,LONG DESCRIPTION,SHORT DESCRIPTION,ADD DT,ACT EFF DT,TERM DT,ACTION CD\r\n"
        "G0463,00100,3,Hospital outpatient clinic visit for assessment and,Hospital outpt clinic visit,20140101,20140101,,N\r\n"
        "G0463,00200,4,management of a patient,,,,,\r\n"
        "G0202,00100,3,Screening mammography,Scr mammo,20010401,20180101,20171231,N\r\n"
        "GW,00100,7,Service not related to the hospice patient's terminal condition,Not related hospice,19950101,,,N\r\n",
        newline="",
    )
    table = HcpcsTable.load(path)
    assert table.get("G0463").description.endswith("assessment and management of a patient")
    assert table.get("G0202").terminated == date(2017, 12, 31)
    assert table.get("GW") is None and len(table) == 2  # a modifier record is not a code
    assert table.get("G0463").release == "2024-07"


def test_full_modifier_list_makes_the_table_complete(shared: Path) -> None:
    path = shared / CMS / "hcpcs-modifiers-2024.csv"
    listed = {
        r["modifier"] for r in shared_csv(shared, "hcpcs-modifiers-2024.csv") if len(r["modifier"]) == 2
    }
    mods = ModifierTable.load_cms(path)
    assert mods.complete
    assert {m.code for m in mods} == listed | {m.code for m in ModifierTable.builtin()}
    assert mods.level("1P") == "I" and mods.level("Q6") == "II"
    assert (
        mods.get("XS").ptp_bypass
        and mods.get("25").description == ModifierTable.builtin().get("25").description
    )
    assert not mods.is_valid("11")


def test_level_two_only_list_is_not_complete(tmp_path: Path) -> None:
    path = tmp_path / "HCPC2024_JUL_ANWEB.csv"
    path.write_text(
        "HCPC,SEQNUM,RECID,LONG DESCRIPTION,SHORT DESCRIPTION,ADD DT,ACT EFF DT,TERM DT,ACTION CD\r\n"
        "Q6,00100,7,Service furnished by a substitute physician,Substitute,19960101,,,N\r\n",
        newline="",
    )
    mods = ModifierTable.load_cms(path)
    assert mods.is_valid("Q6") and not mods.complete


def test_terminology_load_reads_the_other_cms_tables(shared: Path, tmp_path: Path) -> None:
    pfs = write_pfs(
        tmp_path / "PPRRVU24_JUL.csv",
        [r for r in shared_csv(shared, "pfs-rvu-2024jul.csv") if r["hcpcs_code"] == "49435"],
    )
    aoc = tmp_path / "AOC_V2024Q3-MCR.txt"
    aoc.write_text(aoc_text([("49435", "49324", "1")]), newline="")
    t = Terminology.load(
        pfs_paths=[pfs], aoc_paths=[aoc], modifier_paths=[shared / CMS / "hcpcs-modifiers-2024.csv"]
    )
    assert t.pfs.get("49435").release == "RVU24C" and t.pfs.get("49411") is not None  # file over the built-in
    assert t.aoc.get("49435").primaries == frozenset({"49324"}) and t.aoc.is_add_on("49412")
    assert t.modifiers.complete


def test_bad_aoc_rows_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "AOC_V2024Q3-MCR.txt"
    path.write_text(aoc_text([("49412", "CCCCC", "2"), ("494120", "CCCCC", "2")]), newline="")
    with pytest.raises(CmsFileError, match=r"AOC_V2024Q3-MCR.txt: line 3: add-on code '494120'"):
        AocTable.load(path)
    path.write_text(aoc_text([("49412", "CCCCC", "4")]), newline="")
    with pytest.raises(CmsFileError, match="line 2: AOC edit type '4'"):
        AocTable.load(path)
    path.write_text(aoc_text([("49412", "CCCCC", "2")], eff="20240701", dele="20240101"), newline="")
    with pytest.raises(CmsFileError, match="line 2: effective date 2024-07-01 is after the deletion date"):
        AocTable.load(path)


def test_a_file_of_the_wrong_kind_is_refused(tmp_path: Path, shared: Path) -> None:
    path = tmp_path / "PPRRVU24_JUL.csv"
    path.write_text(aoc_text([("49412", "CCCCC", "2")]), newline="")
    with pytest.raises(CmsFileError, match="not a PFS relative value"):
        PfsTable.load(path)
    with pytest.raises(CmsFileError, match="not a CMS add-on code edit file"):
        AocTable.load(shared / CMS / "ncci-mue-practitioner-2024q3.csv")


def test_pfs_bad_indicator_names_line(tmp_path: Path, shared: Path) -> None:
    rows = [r for r in shared_csv(shared, "pfs-rvu-2024jul.csv") if r["hcpcs_code"] in ("49411", "49412")]
    rows[1] = {**rows[1], "glob_days": "09O"}
    path = write_pfs(tmp_path / "PPRRVU24_JUL.csv", rows)
    with pytest.raises(CmsFileError, match=r"PPRRVU24_JUL.csv: line 6: global days '09O'"):
        PfsTable.load(path)


# -- CMS's workbooks (.xlsx) -------------------------------------------------------------------------
def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_aoc_and_anweb_workbooks(tmp_path: Path) -> None:
    header = AOC_HEADER.split("\t")
    aoc = write_xlsx(
        tmp_path / "AOC_V2024Q3-MCR.xlsx",
        [
            header,
            ["77002", None, "32553", None, 1, date(2014, 1, 1), None, None],
            ["49412", None, "CCCCC", None, 2, 20140101, None, None],
        ],
    )
    table = AocTable.load(aoc)
    assert table.get("77002", date(2024, 7, 1)).primaries == frozenset({"32553"})
    assert table.get("77002", date(2013, 12, 31)) is None  # effective 2014-01-01, a date cell
    assert table.get("49412").edit_type == 2 and table.get("49412").release == "2024 Q3"
    anweb = write_xlsx(
        tmp_path / "HCPC2024_JUL_ANWEB.xlsx",
        [
            [
                "HCPC",
                "SEQNUM",
                "RECID",
                "LONG DESCRIPTION",
                "SHORT DESCRIPTION",
                "ADD DT",
                "ACT EFF DT",
                "TERM DT",
                "ACTION CD",
            ],
            [
                "G0202",
                "00100",
                "3",
                "Screening mammography",
                "Scr mammo",
                date(2001, 4, 1),
                None,
                date(2017, 12, 31),
                "N",
            ],
            [
                "Q6",
                "00100",
                "7",
                "Substitute physician, fee-for-time",
                "Substitute",
                date(1996, 1, 1),
                None,
                None,
                "N",
            ],
        ],
    )
    assert HcpcsTable.load(anweb).get("G0202").terminated == date(2017, 12, 31)
    assert ModifierTable.load_cms(anweb).is_valid("Q6")


def test_a_zip_with_the_text_and_the_workbook_reads_the_rows_once(tmp_path: Path) -> None:
    txt = tmp_path / "AOC_V2024Q3-MCR.txt"
    txt.write_text(aoc_text([("49412", "CCCCC", "2")]), newline="")
    xlsx = write_xlsx(tmp_path / "AOC_V2024Q3-MCR.xlsx", [["not", "read"]])
    with zipfile.ZipFile(tmp_path / "aoc.zip", "w") as z:
        z.write(txt, txt.name)
        z.write(xlsx, xlsx.name)
    assert AocTable.load(tmp_path / "aoc.zip").get("49412").edit_type == 2


def test_a_broken_workbook_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "AOC_V2024Q3-MCR.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(CmsFileError, match=r"AOC_V2024Q3-MCR.xlsx: not a readable .xlsx workbook"):
        AocTable.load(bad)


def test_hospital_ptp_file_read_into_memory_goes_to_the_hospital_setting(tmp_path: Path) -> None:
    header = "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
    path = tmp_path / "ccioph-v302r0-f1.txt"
    path.write_text(header + "20610\t99999\t\t20240101\t*\t0\tMutually exclusive procedures\r\n", newline="")
    tx = Terminology.load(ptp_paths=[path])
    edit = tx.ptp_for("hospital").lookup("20610", "99999", date(2024, 7, 1))
    assert (edit.table, edit.release) == ("outpatient hospital", "2024 Q3")
    assert tx.ptp.lookup("20610", "99999", date(2024, 7, 1)) is None  # not the practitioner table
