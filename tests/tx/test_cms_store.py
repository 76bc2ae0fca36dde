"""The CMS store: `fhirplugin data import` compiles CMS's own files into SQLite; the rules' queries
are answered from it, per date of service, with the built-in excerpt under it. Bad input never
half-writes it."""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import pickle
import sqlite3
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import orjson
import pytest

from builders import build
from fhirplugin.config import Settings, TerminologySettings
from fhirplugin.tx.cms import CmsFileError
from fhirplugin.tx.cmsstore import CmsStore, StoreError, import_files
from fhirplugin.tx.store import Terminology

CMS = "data/cms"


def shared_csv(shared: Path, name: str) -> list[dict]:
    with open(shared / CMS / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


PTP_HEADER = (
    "CPT\xae codes are AMA property; test file in the CMS practitioner PTP layout.\r\n"
    "Column1/Column2 Edits\r\n"
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\r\n"
    "\t\t\t\t*=no data\t1=allowed\t\r\n"
    "\t\t\t\t\t9=not applicable\t\r\n"
)


def ptp_row(
    c1, c2, eff="20240701", dele="*", ind="1", rat="Standards of medical / surgical practice", prior=""
):
    return f"{c1}\t{c2}\t{prior}\t{eff}\t{dele}\t{ind}\t{rat}"


def write_ptp(path: Path, rows: list[str]) -> Path:
    path.write_bytes((PTP_HEADER + "".join(r + "\r\n" for r in rows)).encode("cp1252"))
    return path


MUE_NOTICE = '"CPT\xae codes are AMA property.\r\nTest file in the CMS MUE layout.",,,\r\n'
MAI = {"1": "1 Line Edit", "2": "2 Date of Service Edit: Policy", "3": "3 Date of Service Edit: Clinical"}


def write_mue(
    path: Path, rows: list[tuple[str, str, str, str]], table: str = "Practitioner Services"
) -> Path:
    head = f'"HCPCS/\r\nCPT Code","{table} MUE Values","MUE Adjudication Indicator","MUE Rationale"\r\n'
    body = "".join(f'{c},{v},"{MAI[m]}",{r}\r\n' for c, v, m, r in rows)
    path.write_bytes((MUE_NOTICE + head + body).encode("cp1252"))
    return path


AOC_HEADER = (
    "Add-on Code\tAOC Del Dt\tPrimary Code\tPrimary Code Del Dt\tAOC Edit Type\tAOC Edit Eff Dt\t"
    "AOC Edit Del Dt\tSpecial Instruction Notes\r\n"
)


def write_aoc(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        AOC_HEADER + "".join(f"{a}\t\t{p}\t\t{t}\t20240101\t\t\r\n" for a, p, t in rows), newline=""
    )
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fhirplugin", *args],
        capture_output=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def q3(tmp_path: Path) -> dict[str, Path]:
    """A 2024 Q3 practitioner PTP (two parts), MUE, add-on code edit and modifier download."""
    d = tmp_path / "2024q3"
    d.mkdir()
    f1 = write_ptp(
        d / "ccipra-v302r0-f1.txt",
        [
            ptp_row("20610", "76942", ind="1", rat="CPT Manual or CMS manual coding instruction"),
            ptp_row("13121", "13120", "20210101", ind="0"),
            ptp_row("13121", "13120", "19960101", "20201231", ind="9", prior="*"),
            ptp_row("12001", "11042", "20100101", "20150630"),
        ],
    )
    f2 = write_ptp(
        d / "ccipra-v302r0-f2.txt",
        [
            ptp_row("49406", "76942", ind="1", rat="CPT Manual or CMS manual coding instruction"),
            ptp_row("55876", "49411", ind="0", rat="Mutually exclusive procedures"),
        ],
    )
    mue = write_mue(
        d / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv",
        [
            ("99213", "2", "3", "Clinical: Data"),
            ("49407", "1", "2", "Anatomic Consideration"),
            ("49406", "2", "3", "Clinical: Data"),
        ],
    )
    aoc = write_aoc(d / "AOC_V2024Q3-MCR.txt", [("49435", "49324", "1"), ("49412", "CCCCC", "2")])
    return {"f1": f1, "f2": f2, "mue": mue, "aoc": aoc, "dir": d}


@pytest.fixture
def store(tmp_path: Path, q3: dict[str, Path]) -> Path:
    path = tmp_path / "store.sqlite3"
    import_files(path, [q3["dir"]])
    return path


# -- answers from the store ---------------------------------------------------------------------------
def test_store_answers_like_the_files(store: Path) -> None:
    tx = Terminology.load(store=store)
    dos = date(2024, 7, 15)
    edit = tx.ptp.lookup("20610", "76942", dos)
    assert (edit.modifier_indicator, edit.release, edit.table) == ("1", "2024 Q3", "practitioner")
    assert edit.citation == "NCCI PTP practitioner table, 2024 Q3"
    assert edit.rationale == "CPT Manual or CMS manual coding instruction"
    assert tx.ptp.lookup("76942", "20610", dos) is None  # order matters
    assert tx.ptp.lookup("13121", "13120", date(2005, 1, 1)).modifier_indicator == "9"
    assert tx.ptp.lookup("13121", "13120", dos).modifier_indicator == "0"
    assert tx.ptp.lookup("12001", "11042", dos) is None  # deleted 2015-06-30
    assert tx.ptp.lookup("12001", "11042", date(2015, 6, 30)) is not None
    mue = tx.mue.get("99213", dos)
    assert (mue.value, mue.mai, mue.release, mue.citation) == (
        2,
        3,
        "2024 Q3",
        "NCCI MUE practitioner table, 2024 Q3",
    )
    assert tx.aoc.get("49435", dos).primaries == frozenset({"49324"})
    assert tx.aoc.get("49412", dos).edit_type == 2


def test_among_is_every_pair_in_force_between_the_codes(store: Path) -> None:
    tx = Terminology.load(store=store)
    dos = date(2024, 7, 15)
    codes = ["20610", "76942", "49406", "55876", "49411", "10030", "77012"]
    pairs = {(e.column1, e.column2): e for e in tx.ptp.among(codes, dos)}
    # the imported release answers alone: the built-in excerpt's 10030/77012 is not in it
    assert set(pairs) == {("20610", "76942"), ("49406", "76942"), ("55876", "49411")}
    assert pairs[("55876", "49411")].modifier_indicator == "0"
    assert Terminology.load().ptp.lookup("10030", "77012", dos) is not None
    assert all(e.release == "2024 Q3" for e in pairs.values())
    expect = {(a, b) for a in codes for b in codes if a != b and tx.ptp.lookup(a, b, dos)}
    assert set(pairs) == expect
    assert tx.ptp.among(["13121", "13120"], date(2005, 1, 1))[0].modifier_indicator == "9"
    assert tx.ptp.among(["12001", "11042"], dos) == []
    assert tx.ptp.among(["20610"], dos) == []


def test_an_imported_table_replaces_the_builtin_excerpt_and_the_others_stay(store: Path) -> None:
    tx = Terminology.load(store=store)
    builtin = Terminology.load()
    assert builtin.mue.get("10030") is not None
    assert tx.mue.get("10030") is None  # the imported MUE release does not list it: no MUE
    assert tx.pfs.get("49411") == builtin.pfs.get("49411")  # no PFS release imported: the excerpt
    assert len(tx.ptp_for("hospital")) == len(builtin.ptp_for("hospital"))  # no hospital release imported


def test_several_releases_each_date_gets_its_own(tmp_path: Path, store: Path) -> None:
    q2 = tmp_path / "q2"
    q2.mkdir()
    write_mue(q2 / "MCR_MUE_PractitionerServices_Eff_04-01-2024.csv", [("99213", "3", "3", "Clinical: Data")])
    write_ptp(q2 / "ccipra-v301r0-f1.txt", [ptp_row("20610", "76942", "20240101", ind="0")])
    import_files(store, [q2])
    tx = Terminology.load(store=store)
    assert (
        tx.mue.get("99213", date(2024, 5, 1)).value == 3
        and tx.mue.get("99213", date(2024, 5, 1)).release == "2024 Q2"
    )
    assert tx.mue.get("99213", date(2024, 7, 1)).value == 2
    assert tx.mue.get("99213").value == 2  # no date: the newest release in force today
    assert tx.mue.get("99213", date(2020, 1, 1)).release == "2024 Q2"  # before every release: the oldest
    assert tx.ptp.lookup("20610", "76942", date(2024, 6, 30)).modifier_indicator == "0"
    assert tx.ptp.lookup("20610", "76942", date(2024, 7, 1)).modifier_indicator == "1"
    assert [e.release for e in tx.ptp.among(["20610", "76942"], date(2024, 6, 30))] == ["2024 Q2"]
    # data list: both quarters, the older one ending the day before the newer starts
    rows = {(r.table, r.release): r for r in tx.releases() if r.source == str(store)}
    assert rows[("mue", "2024 Q2")].last == date(2024, 6, 30) and rows[("mue", "2024 Q3")].last is None
    assert rows[("ptp", "2024 Q3")].rows == 6 and rows[("ptp", "2024 Q3")].first == date(2024, 7, 1)


def test_importing_a_release_again_replaces_it(store: Path, q3: dict[str, Path]) -> None:
    write_mue(q3["mue"], [("99213", "4", "3", "Clinical: Data")])
    import_files(store, [q3["mue"]])
    tx = Terminology.load(store=store)
    assert tx.mue.get("99213", date(2024, 8, 1)).value == 4
    assert (
        tx.mue.get("49407", date(2024, 8, 1)) is None or tx.mue.get("49407", date(2024, 8, 1)).release == ""
    )
    assert len([r for r in CmsStore(store).all_releases() if r.kind == "mue"]) == 1


def test_outpatient_hospital_table_goes_to_its_setting(tmp_path: Path) -> None:
    d = tmp_path / "oph"
    d.mkdir()
    write_ptp(d / "ccioph-v302r0-f1.txt", [ptp_row("20610", "76942", ind="0")])
    write_mue(d / "MCR_MUE_OutpatientHospitalServices_Eff_07-01-2024.csv", [("99213", "5", "3", "x")],
              table="Outpatient Hospital Services")  # fmt: skip
    path = tmp_path / "s.sqlite3"
    import_files(path, [d])
    tx = Terminology.load(store=path)
    assert tx.ptp_for("hospital").lookup("20610", "76942", date(2024, 7, 2)).table == "outpatient hospital"
    practitioner = tx.ptp_for("practitioner").lookup("20610", "76942", date(2024, 7, 2))
    assert practitioner is None or (practitioner.table, practitioner.release) == (
        "practitioner",
        "",
    )  # built-in
    assert tx.mue_for("hospital").get("99213").value == 5
    assert tx.mue_for("hospital").get("99213").citation == "NCCI MUE outpatient hospital table, 2024 Q3"


def test_store_tables_pickle_and_query_in_another_process(store: Path) -> None:
    tx = Terminology.load(store=store)
    ptp, mue = pickle.loads(pickle.dumps((tx.ptp, tx.mue)))  # a spawned worker gets the path only
    assert ptp.lookup("20610", "76942", date(2024, 7, 2)).release == "2024 Q3"
    assert mue.get("99213").value == 2
    pid = os.fork()
    if pid == 0:  # a forked batch worker must not reuse the parent's connection
        ok = tx.mue.get("99213", date(2024, 7, 2)).value == 2 and tx.store.conn() is not None
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_full_pfs_hcpcs_and_modifier_files(tmp_path: Path, shared: Path) -> None:
    from test_cms_tables import write_pfs

    d = tmp_path / "other"
    d.mkdir()
    write_pfs(d / "PPRRVU24_JUL.csv", shared_csv(shared, "pfs-rvu-2024jul.csv"))
    with open(d / "HCPC2024_JUL_ANWEB.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION", "ADD DT", "ACT EFF DT",
                    "TERM DT", "ACTION CD"])  # fmt: skip
        for r in shared_csv(shared, "hcpcs-level2-2024jul.csv"):
            dates = [r[k].replace("-", "") for k in ("date_added", "date_action", "date_term")]
            w.writerow(
                [r["hcpcs_code"], "00100", "3", f"Level II code {r['hcpcs_code']}", "", *dates, r["action"]]
            )
    path = tmp_path / "s.sqlite3"
    import_files(path, [d])
    import_files(path, [shared / CMS / "hcpcs-modifiers-2024.csv"], release="2024-01")
    tx = Terminology.load(store=path)
    assert tx.pfs.get("49406", modifier="26") is None and tx.pfs.get("76942", modifier="26").pctc == "1"
    assert tx.pfs.get("20610").release == "RVU24C"
    assert tx.hcpcs.get("G0202").terminated == date(2017, 12, 31)
    assert len(tx.hcpcs) == len(shared_csv(shared, "hcpcs-level2-2024jul.csv"))
    assert tx.modifiers.complete and tx.modifiers.is_valid("Q6") and tx.modifiers.level("1P") == "I"
    assert not tx.modifiers.is_valid("11")


def test_real_ptp_and_mue_tables_in_cms_layout(tmp_path: Path, shared: Path) -> None:
    """The practitioner PTP rows of a few families (all their pairs, as CMS lists them) and the
    whole practitioner MUE table, written in CMS's layout and imported."""
    wanted = {
        "20610",
        "76942",
        "49406",
        "49407",
        "49405",
        "10030",
        "55876",
        "49411",
        "49412",
        "75989",
        "77012",
    }
    rows = []
    with gzip.open(shared / CMS / "ncci-ptp-practitioner-2024q3.csv.gz", "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["deletion_date"] == "*" and (r["column1"] in wanted or r["column2"] in wanted):
                rows.append(ptp_row(r["column1"], r["column2"], "20240701", "*", r["modifier_indicator"],
                                    r["ptp_edit_rationale"]))  # fmt: skip
    d = tmp_path / "cms"
    d.mkdir()
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:]), 1):
        p = write_ptp(d / f"ccipra-v302r0-f{i}.txt", part)
        with zipfile.ZipFile(
            d / f"medicare-ncci-2024q3-practitioner-ptp-edits-ccipra-v302r0-f{i}.zip", "w"
        ) as z:
            z.write(p, p.name)
        p.unlink()
    mue = [
        (r["hcpcs_code"], r["mue_value"], r["mai"], r["mue_rationale"])
        for r in shared_csv(shared, "ncci-mue-practitioner-2024q3.csv")
    ]
    write_mue(d / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv", mue)
    path = tmp_path / "s.sqlite3"
    done = {(k, s, r): n for k, s, r, n in import_files(path, [d])}
    assert done[("ptp", "practitioner", "2024 Q3")] == len(rows)
    assert done[("mue", "practitioner", "2024 Q3")] == len(mue)
    tx = Terminology.load(store=path)
    dos = date(2024, 8, 1)
    assert tx.ptp.lookup("20610", "76942", dos).modifier_indicator == "1"
    assert tx.ptp.lookup("55876", "49411", dos).modifier_indicator == "0"
    for guidance in ("75989", "77012"):
        assert tx.ptp.lookup("49406", guidance, dos).modifier_indicator == "1"
    assert (tx.mue.get("99213", dos).value, tx.mue.get("99213", dos).mai) == (2, 3)
    assert (tx.mue.get("49407", dos).value, tx.mue.get("49412", dos).mai) == (1, 2)


# -- configuration: [terminology] *_paths compile into the store on first use ------------------------
def test_configured_paths_compile_once(
    tmp_path: Path, q3: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fhirplugin.tx import cmsstore

    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cmsstore, "COMPILE_MIN_BYTES", 0)  # the test files are small
    settings = Settings(
        terminology=TerminologySettings(ptp_paths=[q3["f1"], q3["f2"]], mue_paths=[q3["mue"]])
    )
    tx = Terminology.from_settings(settings)
    assert tx.store is not None and tx.store.path.name.startswith("cms-paths-")
    assert tx.ptp.lookup("20610", "76942", date(2024, 7, 2)).release == "2024 Q3"
    path = tx.store.path
    stamp = path.stat().st_mtime_ns
    Terminology.from_settings(settings)
    assert path.stat().st_mtime_ns == stamp  # nothing changed: not compiled again
    write_mue(q3["mue"], [("99213", "6", "3", "Clinical: Data")])
    os.utime(q3["mue"], (1_900_000_000, 1_900_000_000))
    tx = Terminology.from_settings(settings)
    assert tx.mue.get("99213", date(2024, 7, 2)).value == 6
    assert tx.mue.get("49407", date(2024, 7, 2)) is None  # the new file no longer lists it
    # no store file of the default location was written: only the configured files' own store
    assert not (tmp_path / "cache" / "cms-store.sqlite3").exists()


def test_configured_files_are_asked_before_the_imported_store(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fhirplugin.tx import cmsstore

    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cmsstore, "COMPILE_MIN_BYTES", 0)
    mine = write_mue(tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2024.csv", [("99213", "9", "3", "x")])
    tx = Terminology.from_settings(Settings(terminology=TerminologySettings(mue_paths=[mine], store=store)))
    assert len(tx.stores) == 2
    assert tx.mue.get("99213", date(2024, 11, 1)).value == 9  # the configured file answers for MUE
    assert tx.mue.get("49407", date(2024, 11, 1)) is None  # … alone
    assert tx.ptp.lookup("20610", "76942", date(2024, 11, 1)).release == "2024 Q3"  # PTP: the imported store
    sources = {r.source for r in tx.releases()}
    assert str(store) in sources and str(tx.store.path) in sources


def test_small_configured_files_are_read_into_memory(
    tmp_path: Path, q3: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path / "cache"))
    tx = Terminology.from_settings(Settings(terminology=TerminologySettings(ptp_paths=[q3["f1"]])))
    assert tx.store is None and tx.ptp.lookup("20610", "76942", date(2024, 7, 2)).release == "2024 Q3"
    assert not list((tmp_path / "cache").glob("cms-*.sqlite3"))


def test_configured_paths_without_a_cache_are_read_into_memory(
    tmp_path: Path, q3: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", "")
    settings = Settings(terminology=TerminologySettings(ptp_paths=[q3["f1"]]))
    tx = Terminology.from_settings(settings)
    assert tx.store is None and tx.ptp.lookup("20610", "76942", date(2024, 7, 2)).release == "2024 Q3"


# -- bad input: clear error naming file and line, exit 2, previous store untouched --------------------
@pytest.fixture
def bad(tmp_path: Path) -> Path:
    d = tmp_path / "bad"
    d.mkdir()
    return d


def _refused(store: Path, *files: Path, match: str, args: tuple[str, ...] = ()) -> str:
    before = digest(store)
    with pytest.raises(CmsFileError, match=match):
        import_files(store, list(files), **dict(zip(args[::2], args[1::2], strict=True)))
    flags = [f"--{'table' if k == 'kind' else k}={v}" for k, v in zip(args[::2], args[1::2], strict=True)]
    proc = run("data", "import", "--store", str(store), *flags, *map(str, files))
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.decode()
    assert "Traceback" not in err and "unchanged" in err
    assert digest(store) == before
    assert not list(store.parent.glob(".cms-store-*"))  # no temporary file left behind
    return err


def test_bad_six_digit_code(store: Path, bad: Path) -> None:
    f = write_ptp(bad / "ccipra-v303r0-f1.txt", [ptp_row("20610", "76942"), ptp_row("206100", "76942")])
    err = _refused(store, f, match=r"ccipra-v303r0-f1.txt: line 8: '206100' is not a five-character")
    assert "line 8" in err and "ccipra-v303r0-f1.txt" in err


def test_bad_effective_after_deletion(store: Path, bad: Path) -> None:
    f = write_ptp(bad / "ccipra-v303r0-f1.txt", [ptp_row("20610", "76942", "20240701", "20240101")])
    _refused(store, f, match=r"line 7: effective date 20240701 is after the deletion date 20240101")


def test_bad_truncated_zip(store: Path, bad: Path, q3: dict[str, Path]) -> None:
    z = bad / "ccipra-v303r0-f1.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(q3["f1"], q3["f1"].name)
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    _refused(store, z, match="not a readable zip")


def test_bad_file_of_the_wrong_kind(store: Path, bad: Path, shared: Path) -> None:
    _refused(store, shared / CMS / "place-of-service.csv", match="not a CMS file fhirplugin reads")
    f = write_mue(bad / "MCR_MUE_PractitionerServices_Eff_10-01-2024.csv", [("99213", "2", "3", "x")])
    _refused(store, f, match="this is an NCCI MUE file, not an NCCI PTP file", args=("kind", "ptp"))


def test_bad_row_in_the_second_part_leaves_nothing_half_loaded(store: Path, bad: Path) -> None:
    write_ptp(bad / "ccipra-v303r0-f1.txt", [ptp_row("20610", "76942")])
    write_ptp(bad / "ccipra-v303r0-f2.txt", [ptp_row("49406", "76942", ind="7")])
    _refused(store, bad, match=r"ccipra-v303r0-f2.txt: line 7: modifier indicator '7'")
    assert {r.release for r in CmsStore(store).all_releases()} == {"2024 Q3"}


def test_store_of_another_version_is_refused(store: Path, tmp_path: Path, q3: dict[str, Path]) -> None:
    conn = sqlite3.connect(store)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = digest(store)
    with pytest.raises(
        StoreError, match=r"store .*store.sqlite3: written by fhirplugin .* in store format 99"
    ):
        CmsStore(store)
    with pytest.raises(StoreError, match="format 99"):
        import_files(store, [q3["mue"]])
    assert digest(store) == before
    claim = tmp_path / "claim.json"
    claim.write_bytes(
        orjson.dumps(build({"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}}))
    )
    cfg = tmp_path / "fhirplugin.toml"
    cfg.write_text(f'[terminology]\nstore = "{store}"\n')
    proc = run("validate", "--config", str(cfg), str(claim))
    assert proc.returncode == 2
    assert f"store {store}" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()
    assert run("data", "list", "--store", str(store)).returncode == 2


def test_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a fhirplugin CMS store"):
        CmsStore(path)


# -- the command line -----------------------------------------------------------------------------------
def test_cli_import_and_list(tmp_path: Path, q3: dict[str, Path]) -> None:
    path = tmp_path / "s.sqlite3"
    proc = run("data", "import", "--store", str(path), str(q3["dir"]))
    assert proc.returncode == 0, proc.stderr
    assert "imported ptp practitioner 2024 Q3: 6 rows" in proc.stderr.decode()
    listed = run("data", "list", "--store", str(path))
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout.decode()
    assert "2024 Q3" in out and "RVU24C" in out and str(path) in out
    # the default store lives in the cache folder
    env = {"FHIRPLUGIN_CACHE_DIR": str(tmp_path / "cache")}
    assert run("data", "import", str(q3["mue"]), env=env).returncode == 0
    assert (tmp_path / "cache" / "cms-store.sqlite3").is_file()
    assert "2024 Q3" in run("data", "list", env=env).stdout.decode()


def test_cli_release_flag_and_unknown_release(tmp_path: Path, bad: Path) -> None:
    path = tmp_path / "s.sqlite3"
    f = write_mue(bad / "mue.csv", [("99213", "2", "3", "x")])
    proc = run("data", "import", "--store", str(path), str(f))
    assert proc.returncode == 2 and "pass --release" in proc.stderr.decode()
    assert not path.exists()
    assert run("data", "import", "--store", str(path), "--release", "2024 Q4", str(f)).returncode == 0
    assert Terminology.load(store=path).mue.get("99213").release == "2024 Q4"


def test_validate_uses_the_store(tmp_path: Path, store: Path) -> None:
    claim = tmp_path / "claim.json"
    claim.write_bytes(
        orjson.dumps(build({"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}}))
    )
    cfg = tmp_path / "fhirplugin.toml"
    cfg.write_text(f'[terminology]\nstore = "{store}"\n')
    proc = run("validate", "--config", str(cfg), str(claim))
    assert proc.returncode == 0, proc.stderr


def test_import_reads_cms_workbooks(tmp_path: Path) -> None:
    from test_cms_tables import AOC_HEADER as HEADER
    from test_cms_tables import write_xlsx

    book = write_xlsx(
        tmp_path / "AOC_V2024Q3-MCR.xlsx",
        [HEADER.split("\t"), ["49435", None, "49324", None, 1, date(2024, 1, 1), None, None]],
    )
    path = tmp_path / "s.sqlite3"
    assert import_files(path, [book]) == [("aoc", "", "2024 Q3", 1)]
    assert Terminology.load(store=path).aoc.get("49435", date(2024, 7, 1)).primaries == frozenset({"49324"})


def test_an_mue_workbook_is_refused_by_name(tmp_path: Path) -> None:
    """An MUE table saved as .xlsx, imported without --setting: a clear error, not a crash while
    telling the setting from the text (the workbook's rows are not text)."""
    from test_cms_tables import write_xlsx

    book = write_xlsx(
        tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2024.xlsx",
        [
            ["HCPCS/ CPT Code", "Practitioner Services MUE Values", "MUE Adjudication Indicator", "MUE Rationale"],
            ["99213", 2, "3 Date of Service Edit: Clinical", "Clinical: Data"],
        ],
    )
    path = tmp_path / "s.sqlite3"
    with pytest.raises(CmsFileError, match=r"read the MUE table from CMS's \.txt/\.csv file, not the workbook"):
        import_files(path, [book])
    assert not path.exists()


def test_a_configured_folder_holding_other_tables(
    tmp_path: Path, q3: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fhirplugin.tx import cmsstore

    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cmsstore, "COMPILE_MIN_BYTES", 0)
    # the folder holds the PTP parts, the MUE file and the add-on code edits: ptp_paths takes the PTP parts
    tx = Terminology.from_settings(Settings(terminology=TerminologySettings(ptp_paths=[q3["dir"]])))
    assert tx.ptp.lookup("55876", "49411", date(2024, 7, 2)).release == "2024 Q3"
    assert {r.table for r in tx.releases() if r.source == str(tx.store.path)} == {"ptp"}


def test_import_reads_a_modifier_workbook(tmp_path: Path) -> None:
    """A modifier list saved as .xlsx is imported as the in-memory reader reads it (the store read it
    by writing the workbook's rows out as text, which failed)."""
    from test_cms_tables import write_xlsx

    book = write_xlsx(
        tmp_path / "modifiers-2024.xlsx",
        [
            ["Modifier", "Level", "Description", "Category"],
            ["59", "I", "Distinct procedural service", "ncci"],
            ["XS", "II", "Separate structure", "ncci"],
        ],
    )
    path = tmp_path / "s.sqlite3"
    assert import_files(path, [book], release="2024-01") == [("modifiers", "", "2024-01", 2)]
    tx = Terminology.load(store=path)
    assert tx.modifiers.complete and tx.modifiers.level("XS") == "II" and tx.modifiers.level("59") == "I"
