"""NCCI PTP and MUE tables: the loaders read files written exactly as CMS ships them."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest

from fhirplugin.tx.ncci import (
    DISTINCT_MODIFIERS,
    MUE_LINE_MODIFIERS,
    PTP_BYPASS_MODIFIERS,
    MueTable,
    NcciFileError,
    PtpEdit,
    PtpTable,
    load_builtin,
)

# -- writers for the CMS layouts --------------------------------------------------------------------
# A PTP part: a notice line with a raw 0xAE byte (cp1252 ®), a title, four label rows, CRLF endings.
PTP_HEADER = (
    b"CPT\xae codes are AMA property; test file in the CMS practitioner PTP layout.\r\n"
    b"Column1/Column2 Edits\r\n"
    b"Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
    b"\t\tprior to 1996\tDate\tDate\t0=not allowed\t\r\n"
    b"\t\t\t\t*=no data\t1=allowed\t\r\n"
    b"\t\t\t\t\t9=not applicable\t\r\n"
)
HEADER_LINES = 6


def ptp_bytes(rows: list[str], *, header: bytes = PTP_HEADER, eol: bytes = b"\r\n") -> bytes:
    return header + eol.join(r.encode("cp1252") for r in rows) + eol


def row(c1, c2, eff, dele="*", ind="1", rat="Standards of medical / surgical practice", prior=""):
    return f"{c1}\t{c2}\t{prior}\t{eff}\t{dele}\t{ind}\t{rat}"


MUE_NOTICE = b'"CPT\xae codes are AMA property.\r\nTest file in the CMS MUE layout,\r\nline three.",,,\r\n'
MUE_HEADERS = {
    "practitioner": "Practitioner Services MUE Values",
    "outpatient hospital": "Outpatient Hospital Services MUE Values",
    "dme": "DME Supplier Services MUE Values",
}


def mue_bytes(second_header: str, rows: list[str], *, break_: str = "\r\n") -> bytes:
    header = f'"HCPCS/{break_}CPT Code","{second_header}","MUE Adjudication Indicator","MUE Rationale"\r\n'
    return MUE_NOTICE + header.encode("cp1252") + "".join(r + "\r\n" for r in rows).encode("cp1252")


# the sample practitioner release: f1 holds column-1 codes 1xxxx, f2 holds 4xxxx
F1_ROWS = [
    row("10030", "10160", "20140101", ind="1"),
    row("10030", "36000", "20140101", ind="0", rat="Misuse of column two code with column one code"),
    # a pair listed twice with disjoint windows and different indicators (newest first, as CMS does)
    row("13121", "13120", "20210101", ind="0"),
    row("13121", "13120", "19960101", "20201231", ind="9", prior="*"),
    # a pair whose edit was deleted: no edit after the deletion date
    row("12001", "11042", "20100101", "20150630", ind="1"),
]
F2_ROWS = [
    row("49407", "77012", "20140101", ind="1", rat="CPT Manual or CMS manual coding instruction"),
    row("49406", "76942", "20140101", ind="0", rat="CPT Manual or CMS manual coding instruction"),
    # a gap: in force 2014–2016 and again from 2019; nothing between
    row("49406", "49083", "20140101", "20161231", ind="1"),
    row("49406", "49083", "20190101", "*", ind="0"),
]


@pytest.fixture
def ptp_parts(tmp_path: Path) -> list[Path]:
    f1 = tmp_path / "ccipra-v321r0-f1.txt"
    f2 = tmp_path / "ccipra-v321r0-f2.txt"
    # blank lines and trailing blanks are tolerated; f2 ends with LF only
    f1.write_bytes(ptp_bytes([*F1_ROWS[:2], "", F1_ROWS[2] + "  ", *F1_ROWS[3:]]))
    f2.write_bytes(ptp_bytes(F2_ROWS, eol=b"\n"))
    return [f1, f2]


@pytest.fixture
def ptp(ptp_parts: list[Path]) -> PtpTable:
    return PtpTable.load(ptp_parts)


# -- PTP ----------------------------------------------------------------------------------------------
def test_ptp_reads_every_row_of_every_part(ptp: PtpTable) -> None:
    assert len(ptp) == len(F1_ROWS) + len(F2_ROWS)
    edit = ptp.lookup("10030", "36000", date(2024, 3, 1))
    assert edit == PtpEdit(
        column1="10030",
        column2="36000",
        prior_1996=False,
        effective=date(2014, 1, 1),
        deletion=None,
        modifier_indicator="0",
        rationale="Misuse of column two code with column one code",
        source="CMS NCCI PTP",
        verified=True,
        table="practitioner",  # from the file name: ccipra = practitioner, v321r0 = 2026 Q2
        release="2026 Q2",
    )
    assert edit.citation == "NCCI PTP practitioner table, 2026 Q2"
    assert ptp.lookup("49407", "77012", date(2024, 3, 1)).rationale.startswith("CPT Manual")


def test_ptp_lookup_normalises_codes(ptp: PtpTable) -> None:
    assert ptp.lookup(" 49407", "77012 ", date(2020, 1, 1)) is not None
    assert ptp.lookup("49407", "77012", date(2020, 1, 1)).column2 == "77012"


def test_ptp_order_matters(ptp: PtpTable) -> None:
    assert ptp.lookup("77012", "49407", date(2020, 1, 1)) is None
    assert ptp.lookup("49407", "77012", date(2020, 1, 1)).column1 == "49407"


def test_ptp_two_windows_pick_the_row_in_force(ptp: PtpTable) -> None:
    old = ptp.lookup("13121", "13120", date(2005, 6, 1))
    new = ptp.lookup("13121", "13120", date(2021, 1, 1))
    assert (old.modifier_indicator, old.prior_1996, old.deletion) == ("9", True, date(2020, 12, 31))
    assert (new.modifier_indicator, new.prior_1996, new.deletion) == ("0", False, None)
    # deletion date is the last day in force; effective is the first
    assert ptp.lookup("13121", "13120", date(2020, 12, 31)).modifier_indicator == "9"
    assert [e.modifier_indicator for e in ptp.rows("13121", "13120")] == ["0", "9"]
    # no date: the newest row still in force
    assert ptp.lookup("13121", "13120", None).modifier_indicator == "0"


def test_ptp_no_edit_outside_every_window(ptp: PtpTable) -> None:
    assert ptp.lookup("49406", "49083", date(2013, 12, 31)) is None  # before the first effective date
    assert ptp.lookup("49406", "49083", date(2017, 1, 1)) is None  # in the gap between windows
    assert ptp.lookup("49406", "49083", date(2018, 12, 31)) is None
    assert ptp.lookup("49406", "49083", date(2016, 12, 31)).modifier_indicator == "1"
    assert ptp.lookup("49406", "49083", date(2019, 1, 1)).modifier_indicator == "0"
    assert ptp.lookup("12001", "11042", date(2015, 7, 1)) is None
    assert ptp.lookup("12001", "11042", None) is None  # deleted long ago: nothing in force today
    assert ptp.lookup("12001", "11042", date(2015, 6, 30)) is not None


def test_ptp_column2_for(ptp: PtpTable) -> None:
    assert [e.column2 for e in ptp.column2_for("49406", date(2015, 1, 1))] == ["49083", "76942"]
    assert [e.column2 for e in ptp.column2_for("49406", date(2017, 6, 1))] == ["76942"]
    assert ptp.column2_for("99999", date(2017, 6, 1)) == []


def test_indicator_semantics(ptp: PtpTable) -> None:
    allowed = ptp.lookup("49407", "77012", date(2020, 1, 1))
    never = ptp.lookup("10030", "36000", date(2020, 1, 1))
    not_applicable = ptp.lookup("13121", "13120", date(2010, 1, 1))
    assert allowed.bypassed_by(["XS"])
    assert allowed.bypassed_by([" 59 "])
    assert allowed.bypassed_by(["rt"])
    assert not allowed.bypassed_by([])
    assert not allowed.bypassed_by(["76", "26", ""])  # 76 repeats a procedure; it is not a PTP modifier
    assert not never.bypassed_by(["59", "XS", "XU"])
    assert not_applicable.bypassed_by([])


def test_modifier_sets() -> None:
    assert {"59", "XE", "XS", "XP", "XU"} == DISTINCT_MODIFIERS
    assert DISTINCT_MODIFIERS <= PTP_BYPASS_MODIFIERS
    assert {"24", "25", "57", "58", "78", "79", "27", "91", "E4", "FA", "F9", "TA", "T9", "RI"} <= (
        PTP_BYPASS_MODIFIERS
    )
    assert "76" not in PTP_BYPASS_MODIFIERS and "50" not in PTP_BYPASS_MODIFIERS
    assert {"76", "77", "91", "LT", "RT", "F1"} <= MUE_LINE_MODIFIERS
    assert "59" not in MUE_LINE_MODIFIERS and "XS" not in MUE_LINE_MODIFIERS


def test_ptp_from_zip_and_folder(tmp_path: Path, ptp_parts: list[Path]) -> None:
    # CMS ships one zip per part; a folder may hold the zips (and the MUE download beside them)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for part in ptp_parts:
        with zipfile.ZipFile(downloads / (part.stem + ".zip"), "w") as z:
            z.write(part, part.name)
            z.writestr("README.pdf", b"%PDF-1.4 not read")
    with zipfile.ZipFile(downloads / "mue.zip", "w") as z:
        z.writestr("MCR_MUE.csv", mue_bytes(MUE_HEADERS["practitioner"], []))
    from_zip = PtpTable.load([downloads / "ccipra-v321r0-f2.zip"])
    assert len(from_zip) == len(F2_ROWS)
    assert from_zip.lookup("49407", "77012", date(2020, 1, 1)).modifier_indicator == "1"
    from_folder = PtpTable.load([downloads])
    assert len(from_folder) == len(F1_ROWS) + len(F2_ROWS)
    assert from_folder.lookup("13121", "13120", date(2022, 1, 1)).modifier_indicator == "0"


def test_ptp_folder_with_a_part_and_its_zip_counts_rows_once(tmp_path: Path, ptp_parts: list[Path]) -> None:
    with zipfile.ZipFile(tmp_path / "f1.zip", "w") as z:
        z.write(ptp_parts[0], ptp_parts[0].name)
    table = PtpTable.load([tmp_path])
    assert len(table) == len(F1_ROWS) + len(F2_ROWS)


def test_ptp_header_block_of_any_length_and_repeated(tmp_path: Path) -> None:
    short = tmp_path / "short.txt"
    short.write_bytes(
        b"Column1/Column2 Edits\r\n" + ptp_bytes([row("10030", "10160", "20140101")], header=b"")
    )
    # two parts concatenated by hand: the second header block sits in the middle
    joined = tmp_path / "joined.txt"
    joined.write_bytes(
        ptp_bytes([row("10030", "10160", "20140101")]) + ptp_bytes([row("49406", "76942", "20140101")])
    )
    assert len(PtpTable.load([short])) == 1
    assert len(PtpTable.load([joined])) == 2


def test_ptp_lower_case_and_spaced_rows_are_read(tmp_path: Path) -> None:
    f = tmp_path / "loose.txt"
    f.write_bytes(ptp_bytes([" g0101 \t 99213 \t \t 20200101 \t \t 1 ", "10030\t10160\t*\t19960101\t*\t0"]))
    table = PtpTable.load([f])
    edit = table.lookup("G0101", "99213", date(2021, 1, 1))
    assert (edit.deletion, edit.modifier_indicator, edit.rationale) == (None, "1", "")
    assert table.lookup("10030", "10160", date(2021, 1, 1)).prior_1996


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        (row("10030", "10160", "2014-01-01"), "effective date '2014-01-01'"),
        (row("10030", "10160", "20140231"), "not a valid date"),
        (row("10030", "10160", "20140101", "2015"), "deletion date '2015'"),
        (row("10030", "10160", "20140101", ind="2"), "modifier indicator '2'"),
        (row("10030", "10160", "20140101", ind=""), "modifier indicator ''"),
        (row("1003", "10160", "20140101"), "'1003' is not a five-character"),
        (row("10030", "10160", "20140101", prior="x"), "column 3"),
        ("10030\t10160\t\t20140101", "expected 7 tab-separated columns"),
    ],
)
def test_ptp_malformed_row_names_file_and_line(tmp_path: Path, bad_row: str, problem: str) -> None:
    f = tmp_path / "ccipra-v321r0-f3.txt"
    f.write_bytes(ptp_bytes([row("10030", "36000", "20140101"), bad_row, row("10030", "36002", "20140101")]))
    with pytest.raises(NcciFileError) as err:
        PtpTable.load([f])
    message = str(err.value)
    assert "ccipra-v321r0-f3.txt" in message
    assert f"line {HEADER_LINES + 2}:" in message
    assert problem in message


def test_ptp_error_inside_zip_names_member(tmp_path: Path) -> None:
    z = tmp_path / "part.zip"
    with zipfile.ZipFile(z, "w") as archive:
        archive.writestr("ccipra-f4.txt", ptp_bytes([row("10030", "10160", "20140101", ind="7")]))
    with pytest.raises(NcciFileError, match=r"part\.zip!ccipra-f4\.txt: line 7: modifier indicator '7'"):
        PtpTable.load([z])


def test_ptp_files_that_are_not_ptp(tmp_path: Path) -> None:
    mue = tmp_path / "mue.txt"
    mue.write_bytes(mue_bytes(MUE_HEADERS["practitioner"], ["10030,2,3 Date of Service Edit: Clinical,x"]))
    with pytest.raises(NcciFileError, match="no PTP edit rows"):
        PtpTable.load([mue])
    with pytest.raises(NcciFileError, match="file not found"):
        PtpTable.load([tmp_path / "missing.txt"])
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(NcciFileError, match="not a readable zip"):
        PtpTable.load([tmp_path / "bad.zip"])
    with zipfile.ZipFile(tmp_path / "xlsx.zip", "w") as z:
        z.writestr("ccipra.xlsx", b"PK")
    with pytest.raises(NcciFileError, match=r"holds no \.txt"):
        PtpTable.load([tmp_path / "xlsx.zip"])


def test_ptp_merge_lets_later_rows_replace_a_pair(ptp: PtpTable, tmp_path: Path) -> None:
    f = tmp_path / "update.txt"
    f.write_bytes(ptp_bytes([row("49407", "77012", "20140101", ind="0"), row("49407", "77021", "20140101")]))
    update = PtpTable.load([f], source="test update", verified=False)
    merged = ptp.merge(update)
    edit = merged.lookup("49407", "77012", date(2020, 1, 1))
    assert (edit.modifier_indicator, edit.source, edit.verified) == ("0", "test update", False)
    assert merged.lookup("49407", "77021", date(2020, 1, 1)) is not None
    assert merged.lookup("13121", "13120", date(2010, 1, 1)).modifier_indicator == "9"
    assert len(merged) == len(ptp) + 1
    # the originals are untouched
    assert ptp.lookup("49407", "77012", date(2020, 1, 1)).modifier_indicator == "1"
    assert update.lookup("13121", "13120", date(2010, 1, 1)) is None
    assert len(PtpTable.empty()) == 0 and PtpTable.empty().merge(ptp).lookup("49407", "77012", None)


# -- MUE ----------------------------------------------------------------------------------------------
MUE_ROWS = [
    '49407,1,"3 Date of Service Edit: Clinical","Clinical: Data"',
    '0001U,1,"2 Date of Service Edit: Policy","Code Descriptor / CPT Instruction"',
    "A4216,300,1 Line Edit,CMS Policy",
    "",
    "77012,0,3 Date of Service Edit: Clinical,Nature of Service/Procedure",
]


@pytest.mark.parametrize("table", sorted(MUE_HEADERS))
@pytest.mark.parametrize("break_", ["\r\n", "\n"])
def test_mue_reads_each_cms_table(tmp_path: Path, table: str, break_: str) -> None:
    f = tmp_path / "MCR_MUE.csv"
    f.write_bytes(mue_bytes(MUE_HEADERS[table], MUE_ROWS, break_=break_))
    mue = MueTable.load(f)
    assert len(mue) == 4
    e = mue.get("49407")
    assert (e.value, e.mai, e.rationale, e.table, e.source, e.verified) == (
        1,
        3,
        "Clinical: Data",
        table,
        "CMS NCCI MUE",
        True,
    )
    assert not e.per_line and e.mai_text == "3 Date of Service Edit: Clinical"
    assert mue.get("0001u").mai == 2
    line_edit = mue.get("A4216")
    assert (line_edit.value, line_edit.mai, line_edit.per_line) == (300, 1, True)
    assert mue.get("77012").value == 0
    assert mue.get("49411") is None and "49411" not in mue and "49407" in mue


def test_mue_from_zip_and_merge(tmp_path: Path) -> None:
    z = tmp_path / "medicare-ncci-2026-q2-practitioner-services-mue-table.zip"
    with zipfile.ZipFile(z, "w") as archive:
        archive.writestr(
            "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv",
            mue_bytes(MUE_HEADERS["practitioner"], MUE_ROWS),
        )
        archive.writestr("notice.pdf", b"%PDF")
    cms = MueTable.load(z)
    assert cms.get("49407").value == 1
    mine = tmp_path / "mine.csv"
    mine.write_bytes(
        mue_bytes(
            MUE_HEADERS["practitioner"], ["49407,2,3 Date of Service Edit: Clinical,x", "49411,1,2 x,y"]
        )
    )
    merged = MueTable.load(mine, source="local", verified=False).merge(cms)
    assert merged.get("49407").value == 1 and merged.get("49407").source == "CMS NCCI MUE"
    assert merged.get("49411").source == "local"
    assert len(MueTable.empty().merge(cms)) == len(cms)


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        ("49407,two,3 Date of Service Edit: Clinical,x", "MUE value 'two' for 49407"),
        ("49407,1,4 Something,x", "adjudication indicator '4 Something'"),
        ("49407,1,Date of Service Edit: Clinical,x", "does not start with 1, 2 or 3"),
        ("49407,1", "expected 4 columns"),
        ("4940,1,3 Date of Service Edit: Clinical,x", "'4940' is not a five-character"),
    ],
)
def test_mue_malformed_row_names_file_and_line(tmp_path: Path, bad_row: str, problem: str) -> None:
    f = tmp_path / "MCR_MUE_OutpatientHospitalServices.csv"
    f.write_bytes(
        mue_bytes(MUE_HEADERS["outpatient hospital"], ["10030,2,3 Date of Service Edit: Clinical,x", bad_row])
    )
    with pytest.raises(NcciFileError) as err:
        MueTable.load(f)
    # notice = lines 1-3, header = lines 4-5, first row = line 6
    assert "MCR_MUE_OutpatientHospitalServices.csv: line 7:" in str(err.value)
    assert problem in str(err.value)


def test_mue_file_without_header_or_unknown_table(tmp_path: Path) -> None:
    headless = tmp_path / "headless.csv"
    headless.write_bytes(b"10030,2,3 Date of Service Edit: Clinical,x\r\n")
    with pytest.raises(NcciFileError, match="line 1: MUE row before the header row"):
        MueTable.load(headless)
    other = tmp_path / "other.csv"
    other.write_bytes(mue_bytes("Ambulance MUE Values", MUE_ROWS))
    with pytest.raises(NcciFileError, match="line 4: unknown MUE table 'Ambulance MUE Values'"):
        MueTable.load(other)
    ptp_file = tmp_path / "ptp.csv"
    ptp_file.write_bytes(ptp_bytes([row("10030", "10160", "20140101")]))
    with pytest.raises(NcciFileError, match="no MUE header row"):
        MueTable.load(ptp_file)


def test_mue_same_code_twice_with_other_value(tmp_path: Path) -> None:
    f = tmp_path / "dup.csv"
    f.write_bytes(mue_bytes(MUE_HEADERS["dme"], ["A4216,300,1 Line Edit,x", "A4216,200,1 Line Edit,x"]))
    with pytest.raises(NcciFileError, match=r"line 7: A4216 is listed again .*line 6"):
        MueTable.load(f)


# -- built-in tables ----------------------------------------------------------------------------------
GUIDANCE = ("75989", "76942", "77002", "77003", "77012", "77021")
DRAINAGE = ("10030", "49405", "49406", "49407")


def test_builtin_ptp_carries_the_cms_indicators() -> None:
    """The corrections of the CMS 2024 Q3 release: a documented distinct-service modifier bypasses the
    drainage/guidance pairs (indicator 1), never 55876 with 49411 or 49412 (indicator 0)."""
    for kind in ("practitioner", "hospital"):
        ptp, _ = load_builtin(kind)
        for c1 in DRAINAGE:
            for c2 in GUIDANCE:
                edit = ptp.lookup(c1, c2, date(2026, 4, 1))
                assert edit is not None and edit.modifier_indicator == "1", (kind, c1, c2)
                assert edit.bypassed_by(["XS"]) and not edit.bypassed_by(["76"])
                assert edit.rationale == "CPT Manual or CMS manual coding instruction"
        for c2 in ("49411", "49412"):
            edit = ptp.lookup("55876", c2, date(2026, 4, 1))
            assert edit is not None and edit.modifier_indicator == "0" and not edit.bypassed_by(["XS", "59"])
        for edit in ptp:
            assert edit.verified is True and "2024 Q3" in edit.source
        assert ptp.lookup("49407", "77012", date(2013, 12, 31)) is None  # before the codes existed


def test_builtin_mue_values_of_the_device_codes() -> None:
    _, mue = load_builtin("practitioner")
    for code in ("49411", "49412", "55876", "32553"):
        entry = mue.get(code)
        assert entry is not None and (entry.value, entry.mai) == (1, 2), code
    assert (mue.get("49407").value, mue.get("49407").mai) == (1, 3)
    assert all(e.verified and "2024 Q3" in e.source for e in mue)


def test_builtin_other_tables_and_kinds() -> None:
    ptp, mue = load_builtin("hospital")
    assert len(ptp) > 0 and len(mue) > 0
    assert {e.table for e in mue} == {"outpatient hospital"}
    ptp, mue = load_builtin("dme")
    assert len(ptp) == 0 and len(mue) == 0
    assert load_builtin("practitioner") is load_builtin("practitioner")
    with pytest.raises(ValueError, match="unknown NCCI table 'clinic'"):
        load_builtin("clinic")


def test_builtin_files_use_the_cms_layouts() -> None:
    from fhirplugin.resources import data_dir

    folder = data_dir("terminology") / "ncci"
    for stem, label in (("practitioner", b"Practitioner"), ("hospital", b"Outpatient Hospital")):
        raw = (folder / f"ptp-{stem}.txt").read_bytes()
        assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF throughout
        lines = raw.decode("cp1252").split("\r\n")
        assert lines[2].split("\t")[:2] == ["Column 1", "Column 2"]
        assert "American Medical Association" in lines[0]
        mue_raw = (folder / f"mue-{stem}.csv").read_bytes()
        assert (
            mue_raw.startswith(b'"')
            and b'"HCPCS/\r\nCPT Code","' + label + b' Services MUE Values"' in mue_raw
        )
        # the built-in files load through the public loaders too (what a user's CMS file goes through)
        ptp, mue = load_builtin(stem)
        assert len(PtpTable.load([folder / f"ptp-{stem}.txt"])) == len(ptp)
        assert len(MueTable.load(folder / f"mue-{stem}.csv")) == len(mue)


def _shared_rows(path: Path) -> list[dict[str, str]]:
    import csv
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("kind", "stem"), [("practitioner", "practitioner"), ("outpatient-hospital", "hospital")]
)
def test_builtin_excerpt_is_the_cms_release(shared: Path, kind: str, stem: str) -> None:
    """Every built-in PTP and MUE row says what the CMS 2024 Q3 table says, and every active PTP
    edit between two codes of the excerpt that names a seed-family code is in it."""
    ptp, mue = load_builtin(stem)
    codes = {e.column1 for e in ptp} | {e.column2 for e in ptp} | {e.code for e in mue}
    cms = {}
    for r in _shared_rows(shared / "data" / "cms" / f"ncci-ptp-{kind}-2024q3.csv.gz"):
        if r["deletion_date"] == "*" and r["column1"] in codes and r["column2"] in codes:
            cms[(r["column1"], r["column2"])] = (r["modifier_indicator"], r["ptp_edit_rationale"])
    ours = {(e.column1, e.column2): (e.modifier_indicator, e.rationale) for e in ptp}
    assert all(cms.get(k) == v for k, v in ours.items()), [k for k, v in ours.items() if cms.get(k) != v]
    seed = set(DRAINAGE) | set(GUIDANCE) | {"49411", "49412", "55876", "32553"}
    missing = [k for k in cms if (k[0] in seed or k[1] in seed) and k not in ours]
    assert not missing
    rows = {r["hcpcs_code"]: r for r in _shared_rows(shared / "data" / "cms" / f"ncci-mue-{kind}-2024q3.csv")}
    for e in mue:
        r = rows[e.code]
        assert (e.value, e.mai, e.rationale) == (int(r["mue_value"]), int(r["mai"]), r["mue_rationale"]), (
            e.code
        )
