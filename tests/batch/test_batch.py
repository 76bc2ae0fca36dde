"""`fhirplugin batch`: NDJSON / JSON files and folders, in order, on several processes, memory flat."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import orjson
import pytest

from builders import build
from fhirplugin.batch import SOURCE_EXT, run_batch
from fhirplugin.config import Settings
from fhirplugin.engine import Engine
from fhirplugin.fhir import jsonload
from fhirplugin.findings import Severity

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_corpus", REPO / "bench" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

CLEAN = {"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}}
BROKEN = {"claim": {"diagnoses": ["K65"], "lines": [{"code": "49406", "dx": [1, 3], "modifiers": ["11"]}]}}


def batch(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fhirplugin", "batch", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def outcomes(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def where(oo: dict) -> dict:
    """The batch-source extension of an outcome as {sub-extension url: value}."""
    (ext,) = [e for e in oo["extension"] if e["url"] == SOURCE_EXT]
    return {sub["url"]: next(v for k, v in sub.items() if k.startswith("value")) for sub in ext["extension"]}


def rule_codes(oo: dict) -> set[str]:
    return {c["code"] for i in oo["issue"] for c in i.get("details", {}).get("coding", [])}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Settings())


@pytest.fixture(scope="module")
def claims_file(tmp_path_factory) -> tuple[Path, list[int]]:
    """1,200 claims (every 7th structurally broken), a blank line after every 100th; the line numbers."""
    path = tmp_path_factory.mktemp("corpus") / "claims.ndjson"
    lines: list[int] = []
    lineno = 0
    with path.open("wb") as fh:
        for i, res in enumerate(corpus.claims(1200, invalid_every=7)):
            fh.write(orjson.dumps(res) + b"\n")
            lineno += 1
            lines.append(lineno)
            if i % 100 == 99:
                fh.write(b"   \n")
                lineno += 1
    return path, lines


def test_order_kept_with_two_jobs_and_each_outcome_names_its_line(claims_file):
    path, lines = claims_file
    two = batch("--jobs", "2", "--chunk-size", "50", str(path))
    assert two.returncode == 1, two.stderr.decode()  # the corpus has errors
    got = outcomes(two.stdout)
    assert len(got) == 1200
    for i, oo in enumerate(got):
        assert where(oo) == {
            "file": str(path),
            "line": lines[i],
            "index": i,
            "resourceType": "Claim",
            "resourceId": f"claim-{i}",
        }
        issue_lines = {
            e["valueInteger"]
            for issue in oo["issue"]
            for e in issue.get("extension", [])
            if e["url"].endswith("operationoutcome-issue-line")
        }
        assert issue_lines <= {lines[i]}
    one = batch("--jobs", "1", str(path))
    assert one.stdout == two.stdout  # same bytes whatever the number of processes


def test_outcomes_are_the_engines_for_each_line(claims_file, engine):
    path, lines = claims_file
    out = io.BytesIO()
    run_batch([path], out, jobs=1)
    got = outcomes(out.getvalue())
    raw_lines = path.read_bytes().split(b"\n")
    for oo, lineno in zip(got, lines, strict=True):
        raw = jsonload.parse_document(raw_lines[lineno - 1], line=lineno)
        expected = engine.check_raw(raw, source=str(path)).outcome()
        assert {k: v for k, v in oo.items() if k != "extension"} == expected


def test_outcomes_are_valid_fhir_operation_outcomes(claims_file):
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    path, _ = claims_file
    out = io.BytesIO()
    run_batch([path], out, jobs=1)
    for line in out.getvalue().splitlines()[:60]:
        oo = OperationOutcome.model_validate_json(line)
        assert oo.extension[0].url == SOURCE_EXT


def test_ndjson_file_json_file_and_folder(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.ndjson").write_bytes(b"\n".join(orjson.dumps(build(CLEAN)) for _ in range(3)) + b"\n")
    with gzip.open(folder / "sub" / "b.ndjson.gz", "wb") as gz:
        gz.write(orjson.dumps(build(BROKEN)) + b"\n" + orjson.dumps(build(CLEAN)) + b"\n")
    (folder / "sub" / "c.json").write_bytes(orjson.dumps(build(BROKEN), option=orjson.OPT_INDENT_2))
    (folder / "notes.txt").write_text("not an input\n")
    (folder / "sub" / "d.xml").write_text("<Claim/>\n")
    single = tmp_path / "one.json"
    single.write_bytes(orjson.dumps(build(CLEAN), option=orjson.OPT_INDENT_2))

    proc = batch("--jobs", "2", str(single), str(folder))
    assert proc.returncode == 1, proc.stderr.decode()
    got = outcomes(proc.stdout)
    seen = [(where(oo)["file"], where(oo).get("line")) for oo in got]
    assert seen == [
        (str(single), None),  # a pretty-printed JSON document: one resource, no line
        (str(folder / "a.ndjson"), 1),
        (str(folder / "a.ndjson"), 2),
        (str(folder / "a.ndjson"), 3),
        (str(folder / "sub" / "b.ndjson.gz"), 1),
        (str(folder / "sub" / "b.ndjson.gz"), 2),
        (str(folder / "sub" / "c.json"), None),
    ]
    assert [oo["issue"][0]["severity"] for oo in got[:4]] == ["information"] * 4
    assert {"GEN003", "GEN004", "GEN005"} <= rule_codes(got[4])
    assert {"GEN003", "GEN004", "GEN005"} <= rule_codes(got[6])


def test_bad_lines_are_findings_and_the_other_lines_are_checked(tmp_path):
    p = tmp_path / "mixed.ndjson"
    p.write_bytes(
        b"\n".join(
            [
                orjson.dumps(build(BROKEN)),
                b"{this is not json",
                b"[1, 2]",
                b'{"resourceType": "Patient", "id": "p1"}',
                b'{"status": "active"}',
                b'{"resourceType": "Claim", "status": 5, "item": "x"}',
                orjson.dumps(build(CLEAN)),
            ]
        )
    )
    proc = batch("--jobs", "2", "--chunk-size", "2", str(p))
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    got = outcomes(proc.stdout)
    assert [where(oo)["line"] for oo in got] == [1, 2, 3, 4, 5, 6, 7]
    assert {"GEN003", "GEN005"} <= rule_codes(got[0])
    assert (got[1]["issue"][0]["severity"], rule_codes(got[1])) == ("fatal", {"INP001"})
    assert "Line 2" in got[1]["issue"][0]["details"]["text"]
    assert (got[2]["issue"][0]["severity"], rule_codes(got[2])) == ("fatal", {"INP006"})
    assert rule_codes(got[3]) == {"INP003"} and where(got[3])["resourceType"] == "Patient"
    assert rule_codes(got[4]) == {"INP002"}
    assert got[5]["issue"][0]["severity"] in ("fatal", "error")
    assert [i["severity"] for i in got[6]["issue"]] == ["information"]


def test_line_above_the_size_limit_is_skipped_not_held(tmp_path):
    p = tmp_path / "big.ndjson"
    big = build(CLEAN)
    big["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * 50_000 + "</div>",
    }
    p.write_bytes(orjson.dumps(big) + b"\n" + orjson.dumps(build(CLEAN)) + b"\n")
    proc = batch("--jobs", "1", str(p), env={"FHIRPLUGIN_MAX_RESOURCE_BYTES": "20000"})
    got = outcomes(proc.stdout)
    assert proc.returncode == 1
    assert rule_codes(got[0]) == {"INP004"} and got[0]["issue"][0]["severity"] == "fatal"
    assert "Line 1" in got[0]["issue"][0]["details"]["text"]
    assert where(got[1])["line"] == 2 and got[1]["issue"][0]["severity"] == "information"


def test_unreadable_path_exits_2_with_one_line_and_the_rest_is_checked(tmp_path):
    good = tmp_path / "good.ndjson"
    good.write_bytes(orjson.dumps(build(CLEAN)) + b"\n")
    missing = tmp_path / "missing.ndjson"
    proc = batch(str(missing), str(good))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert [ln for ln in err.splitlines() if "missing.ndjson" in ln] == [
        f"fhirplugin: cannot read {missing}: No such file or directory"
    ]
    assert "Traceback" not in err
    assert [where(oo)["file"] for oo in outcomes(proc.stdout)] == [str(good)]


def test_broken_gzip_is_unreadable_exit_2(tmp_path):
    bad = tmp_path / "bad.ndjson.gz"
    bad.write_bytes(b"this is not gzip data at all\n")
    proc = batch("--jobs", "1", str(bad))
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()


def test_stdin_out_file_and_exit_codes(tmp_path):
    clean = orjson.dumps(build(CLEAN)) + b"\n" + orjson.dumps(build(CLEAN)) + b"\n"
    out = tmp_path / "result.ndjson"
    proc = batch("--jobs", "1", "--out", str(out), "-", stdin=clean)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert [where(oo) for oo in outcomes(out.read_bytes())] == [
        {"file": "-", "line": 1, "index": 0, "resourceType": "Claim", "resourceId": "c1"},
        {"file": "-", "line": 2, "index": 1, "resourceType": "Claim", "resourceId": "c1"},
    ]
    warn = orjson.dumps(build({"claim": {"lines": [{"code": "49407", "system": None}]}})) + b"\n"
    assert batch("--jobs", "1", "-", stdin=warn).returncode == 0  # only a warning (GEN002)
    assert batch("--jobs", "1", "--fail-on", "warning", "-", stdin=warn).returncode == 1


def test_out_file_inside_an_input_folder_is_not_read_back(tmp_path):
    (tmp_path / "a.ndjson").write_bytes(orjson.dumps(build(CLEAN)) + b"\n")
    out = tmp_path / "z-results.ndjson"
    out.write_bytes(b"old content\n")
    proc = batch("--jobs", "1", "--out", str(out), str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert [where(oo)["file"] for oo in outcomes(out.read_bytes())] == [str(tmp_path / "a.ndjson")]


def test_summary_counts_match_the_engine(claims_file, engine):
    path, _ = claims_file
    summary = run_batch([path], io.BytesIO(), jobs=2, chunk_size=64)
    expected = Counter()
    with_issues = failing = 0
    results = list(engine.check_lines(path.read_bytes().split(b"\n"), source=str(path)))
    for r in results:
        expected.update((f.rule_id, f.severity.value) for f in r.findings)
        with_issues += bool(r.findings)
        failing += r.fails(Severity.ERROR)
    assert summary.resources == len(results) == 1200
    assert summary.with_issues == with_issues
    assert summary.issues == expected
    assert summary.failing(Severity.ERROR) == failing
    assert summary.unreadable == [] and summary.sources == 1

    proc = batch("--jobs", "2", "--out", os.devnull, str(path))
    table = proc.stderr.decode()
    rows = {
        cells[0]: cells[1:]
        for ln in table.splitlines()
        if len(cells := [c.strip() for c in ln.strip("│┃ ").split("│")]) > 1
    }
    assert rows["resources"] == ["1,200"]
    assert rows["resources with issues"] == [f"{with_issues:,}"]
    assert rows["resources failing (>= error)"] == [f"{failing:,}"]
    assert f"{expected[('DRN001', 'error')]:,}" in rows["DRN001"]


def _rss_script(path: Path) -> str:
    return textwrap.dedent(
        f"""
        import os, resource
        from fhirplugin.cli import main
        rc = main(["batch", "--jobs", "2", "--out", os.devnull, {str(path)!r}])
        me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(rc, me, kids)
        """
    )


@pytest.mark.slow
def test_memory_stays_flat_from_20k_to_200k_lines(tmp_path):
    sample = [orjson.dumps(c) for c in corpus.claims(500, invalid_every=25)]
    peaks = {}
    for n in (20_000, 200_000):
        path = tmp_path / f"c{n}.ndjson"
        with path.open("wb") as fh:
            for i in range(n):
                fh.write(sample[i % len(sample)] + b"\n")
        proc = subprocess.run(
            [sys.executable, "-c", _rss_script(path)], capture_output=True, timeout=900, check=False
        )
        rc, me, kids = (int(x) for x in proc.stdout.split())
        assert rc == 1, proc.stderr.decode()[-2000:]
        assert f"{n:,}" in proc.stderr.decode()  # all of them were checked
        peaks[n] = (me, kids)
        path.unlink()
    (me20, kids20), (me200, kids200) = peaks[20_000], peaks[200_000]
    # ru_maxrss is in KiB on Linux; ten times the input may not cost more than a few MiB
    assert me200 - me20 < 16 * 1024, peaks
    assert kids200 - kids20 < 32 * 1024, peaks


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_terminology_that_cannot_load_is_exit_2_with_one_line(tmp_path, jobs):
    good = tmp_path / "good.ndjson"
    good.write_bytes(orjson.dumps(build(CLEAN)) + b"\n")
    proc = batch(
        "--jobs", jobs, str(good), env={"FHIRPLUGIN_TERMINOLOGY__CPT_FILE": str(tmp_path / "no-cpt.txt")}
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.decode().strip().splitlines()
    assert line.startswith("fhirplugin: could not load terminology:") and "no-cpt.txt" in line


def test_foreign_profile_said_once_per_file_and_chunk_whatever_the_jobs(tmp_path):
    """A US Core NDJSON export names the same foreign profile on every line: batch says it once per file
    and chunk (as validate says it once per file), the same way with --jobs 1 and 2, and again in the
    next run."""
    us_core = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-procedure"
    lines = []
    for i in range(40):
        proc = build({"procedures": [{"code": "49406", "profile": us_core}]}, "R4")["entry"][0]["resource"]
        proc["id"] = f"p{i}"
        lines.append(orjson.dumps(proc))
    path = tmp_path / "procedures.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    runs = []
    for jobs in (1, 2, 2):  # a second run in the same process says it again
        out = io.BytesIO()
        run_batch([path], out, jobs=jobs, chunk_size=10)
        runs.append(out.getvalue())
        outcomes = [orjson.loads(x) for x in out.getvalue().splitlines()]
        assert len(outcomes) == 40
        said = [
            n
            for n, oo in enumerate(outcomes)
            for i in oo["issue"]
            if i["details"]["coding"][0]["code"] == "PRF001"
        ]
        assert said == [0, 10, 20, 30]  # the first resource of each chunk of 10
    assert runs[0] == runs[1] == runs[2]
