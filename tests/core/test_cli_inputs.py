"""`validate` checks everything it is given: NDJSON past a bad line, folders, piped stdin, binary."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import orjson

from builders import build

CLEAN = {"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}}
BROKEN = {"claim": {"diagnoses": ["K65"], "lines": [{"code": "49406", "dx": [1, 3], "modifiers": ["11"]}]}}


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fhirplugin", *args], input=stdin, capture_output=True, timeout=120
    )


def outcomes(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


def rule_ids(oo: dict) -> set[str]:
    return {i["details"]["coding"][0]["code"] for i in oo["issue"] if "coding" in i.get("details", {})}


def ndjson(*values) -> bytes:
    return b"".join((v if isinstance(v, bytes) else orjson.dumps(v)) + b"\n" for v in values)


def test_ndjson_goes_on_after_a_bad_first_line(tmp_path):
    for name in ("claims.ndjson", "claims.txt"):  # by name, and guessed from the other lines
        p = tmp_path / name
        p.write_bytes(ndjson(b'{"resourceType": "Claim",', build(BROKEN)))
        proc = run("validate", "--format", "outcome", str(p))
        assert proc.returncode == 1
        first, second = outcomes(proc)
        assert rule_ids(first) == {"INP001"}
        assert "GEN005" in rule_ids(second)  # the valid second line was checked


def test_folder_is_searched_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "clean.json").write_bytes(orjson.dumps(build(CLEAN)))
    (tmp_path / "a" / "b" / "more.ndjson.gz").write_bytes(gzip.compress(ndjson(build(BROKEN), build(CLEAN))))
    (tmp_path / "a" / "notes.txt").write_text("not an input")
    proc = run("validate", "--format", "json", str(tmp_path / "a"))
    assert proc.returncode == 1, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert [(Path(r["source"]).name, r.get("line")) for r in results] == [
        ("more.ndjson.gz", 1),
        ("more.ndjson.gz", 2),
        ("clean.json", None),
    ]


def test_empty_folder_is_exit_2(tmp_path):
    proc = run("validate", str(tmp_path))
    assert proc.returncode == 2
    assert "nothing to check" in proc.stderr.decode()
    proc = run("batch", "--jobs", "1", "--out", str(tmp_path / "o.ndjson"), str(tmp_path))
    assert proc.returncode == 2
    assert "nothing to check" in proc.stderr.decode()


def test_piped_stdin_is_read_without_dash():
    proc = run("validate", "--format", "outcome", stdin=orjson.dumps(build(BROKEN)))
    assert proc.returncode == 1, proc.stderr
    assert "GEN005" in rule_ids(outcomes(proc)[0])


def test_binary_input_is_said_plainly(tmp_path):
    cases = {
        "report.pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF file"),
        "claims.zip": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "a ZIP file"),
        "latin1.json": ('{"resourceType": "Claim", "text": "Ösophagus"}'.encode("latin-1"), "encoding"),
        "blob.json": (bytes(range(256)) * 4, "binary"),
    }
    for name, (data, words) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        proc = run("validate", str(p))
        out = proc.stdout.decode()
        assert proc.returncode == 1, name
        assert "not UTF-8 text" in out and words in out, out
        assert "surrogates" not in out and "(FHIR R4)" not in out and "Traceback" not in proc.stderr.decode()
        assert out.count("INP001") == 1  # one finding per file, not one per "line" of binary


def test_summary_counts_bundle_entries_and_fix_is_shown():
    example = Path(__file__).resolve().parents[2] / "examples" / "devices" / "bundle.json"
    proc = run("validate", str(example))
    out = proc.stdout.decode()
    assert "1 Bundle (10 entries) checked" in out
    assert "fix: Replace 49411 by 55876" in out
    proc = run("validate", "--format", "json", str(example))
    [rec] = json.loads(proc.stdout)["results"]
    assert rec["entries"] == 10
    fixes = {f["action"]: f for f in rec["fixes"]}
    assert fixes["replace-code"]["to"] == "55876"
    issue = rec["outcome"]["issue"][fixes["replace-code"]["issue"]]
    assert issue["details"]["coding"][0]["code"] == "DEV002"


def test_help_texts_show_defaults():
    for cmd in ("validate", "batch", "serve"):
        text = run(cmd, "--help").stdout.decode()
        assert "default" in text, cmd
        assert not re.search(r"\w \.(?=\s|$)", " ".join(text.split())), cmd  # "Worker processes ."


def test_service_says_plainly_that_a_pdf_body_is_not_json(tmp_path):
    from fastapi.testclient import TestClient

    from fhirplugin.config import load_settings
    from fhirplugin.service.app import create_app

    settings = load_settings(service={"feedback_db": str(tmp_path / "fb.sqlite3")})
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/fhir/Claim/$validate",
            content=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            headers={"Content-Type": "application/fhir+json"},
        )
    assert r.status_code == 400
    text = r.json()["issue"][0]["details"]["text"]
    assert "not UTF-8 text" in text and "PDF" in text and "surrogates" not in r.text


def test_bench_corpus_help_is_usage_not_a_traceback():
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, str(root / "bench" / "corpus.py"), "--help"], capture_output=True, timeout=60
    )
    assert proc.returncode == 0 and b"usage:" in proc.stdout and b"Traceback" not in proc.stderr
