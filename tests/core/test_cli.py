"""The CLI as users and scripts see it: exit codes, formats, stdin, bad input never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from builders import build

CLEAN = {"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}}
BROKEN = {"claim": {"diagnoses": ["K65"], "lines": [{"code": "49406", "dx": [1, 3], "modifiers": ["11"]}]}}


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fhirplugin", *args], input=stdin, capture_output=True, timeout=120
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, spec in (("clean", CLEAN), ("broken", BROKEN)):
        p = tmp_path / f"{name}.json"
        p.write_bytes(orjson.dumps(build(spec)))
        out[name] = p
    return out


def test_clean_file_exits_0_with_all_ok(files):
    proc = run("validate", "--format", "outcome", str(files["clean"]))
    assert proc.returncode == 0, proc.stderr
    oo = json.loads(proc.stdout)
    assert oo["resourceType"] == "OperationOutcome"
    assert [i["severity"] for i in oo["issue"]] == ["information"]


def test_errors_exit_1_and_outcome_is_one_json_object_per_input(files):
    proc = run("validate", "--format", "outcome", str(files["broken"]), str(files["clean"]))
    assert proc.returncode == 1
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 2  # one OperationOutcome per top-level input, in input order
    first = json.loads(lines[0])
    rules = {i["details"]["coding"][0]["code"] for i in first["issue"]}
    assert {"GEN003", "GEN004", "GEN005"} <= rules
    assert json.loads(lines[1])["issue"][0]["severity"] == "information"


def test_fail_on_warning_changes_exit_code(tmp_path):
    p = tmp_path / "w.json"
    p.write_bytes(orjson.dumps(build({"claim": {"lines": [{"code": "49407", "system": None}]}})))
    assert run("validate", str(p)).returncode == 0  # only a warning (GEN002)
    assert run("validate", "--fail-on", "warning", str(p)).returncode == 1


def test_stdin_and_text_format(files):
    proc = run("validate", "-", stdin=files["broken"].read_bytes())
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "GEN005" in out and "Claim.item[0].modifier[0].coding[0]" in out and "Traceback" not in out


def test_unreadable_path_exits_2_with_one_line_on_stderr(files, tmp_path):
    proc = run("validate", str(tmp_path / "missing.json"))
    assert proc.returncode == 2
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert "missing.json" in proc.stderr.decode()


def test_unreadable_path_still_checks_other_files(files, tmp_path):
    proc = run("validate", "--format", "outcome", str(tmp_path / "missing.json"), str(files["broken"]))
    assert proc.returncode == 2
    assert "GEN005" in proc.stdout.decode()


def test_usage_error_exits_2():
    assert run("validate", "--format", "yaml", "x.json").returncode == 2
    assert run("nonsense-command").returncode == 2


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        (b"this is not json", "INP001"),
        (b'{"hello": "world"}', "INP002"),
        (b'{"resourceType": "Claimz"}', "INP002"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "INP005"),
        (b"[" * 5000 + b"]" * 5000, "INP004"),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "INP004"),
    ],
    ids=["not-json", "not-fhir", "unknown-type", "empty-bundle", "deep-array", "deep-object"],
)
def test_bad_input_is_a_finding_not_a_crash(payload, rule):
    proc = run("validate", "--format", "outcome", "-", stdin=payload)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    oo = json.loads(proc.stdout)
    issue = oo["issue"][0]
    assert issue["severity"] in ("fatal", "error")
    assert issue["details"]["coding"][0]["code"] == rule
    assert issue["details"]["text"]


def test_fifty_megabyte_file_is_refused_with_a_finding(tmp_path):
    big = tmp_path / "big.json"
    claim = build(CLEAN)
    claim["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * (50 * 1024 * 1024) + "</div>",
    }
    big.write_bytes(orjson.dumps(claim))
    proc = run("validate", "--format", "outcome", str(big))
    assert proc.returncode == 1
    issue = json.loads(proc.stdout)["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "INP004"
    assert issue["code"] == "too-costly"


def test_ndjson_bad_line_does_not_hide_the_others(files, tmp_path):
    nd = tmp_path / "claims.ndjson"
    nd.write_bytes(orjson.dumps(build(CLEAN)) + b"\n{broken\n" + orjson.dumps(build(BROKEN)) + b"\n")
    proc = run("validate", "--format", "outcome", str(nd))
    assert proc.returncode == 1
    outs = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert len(outs) == 3
    assert outs[0]["issue"][0]["severity"] == "information"
    assert outs[1]["issue"][0]["details"]["coding"][0]["code"] == "INP001"
    line_ext = [e for e in outs[1]["issue"][0]["extension"] if e["url"].endswith("issue-line")]
    assert line_ext[0]["valueInteger"] == 2
    assert "GEN005" in json.dumps(outs[2])


def test_structure_errors_are_all_listed_with_expressions(tmp_path):
    claim = build(CLEAN)
    claim["item"] = [
        {"sequence": "one", "productOrService": {"text": "a"}},
        {"sequence": 2, "productOrService": 49407, "quantity": {"value": "two"}},
        {"productOrService": {"text": "b"}, "bogus": True},
    ]
    del claim["patient"]
    p = tmp_path / "c.json"
    p.write_bytes(orjson.dumps(claim))
    proc = run("validate", "--format", "json", str(p))
    assert proc.returncode == 1
    issues = json.loads(proc.stdout)["results"][0]["outcome"]["issue"]
    exprs = {i["expression"][0] for i in issues if "expression" in i}
    assert {
        "Claim.patient",
        "Claim.item[0].sequence",
        "Claim.item[1].productOrService",
        "Claim.item[1].quantity.value",
        "Claim.item[2].sequence",
        "Claim.item[2].bogus",
    } <= exprs


def test_sarif_is_valid_shape_with_rule_metadata(files):
    proc = run("validate", "--format", "sarif", str(files["broken"]))
    doc = json.loads(proc.stdout)
    assert doc["version"] == "2.1.0"
    run0 = doc["runs"][0]
    rule_ids = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert "GEN005" in rule_ids
    rule = run0["tool"]["driver"]["rules"][rule_ids.index("GEN005")]
    assert rule["shortDescription"]["text"] and rule["help"]["text"]
    res = next(r for r in run0["results"] if r["ruleId"] == "GEN005")
    assert res["level"] == "error"
    assert res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith("modifier[0].coding[0]")
    assert run0["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "GEN005"


def test_rules_lists_and_explains():
    listing = run("rules")
    assert listing.returncode == 0
    assert b"GEN003" in listing.stdout and b"INP001" in listing.stdout
    one = run("rules", "gen005")
    assert one.returncode == 0
    text = one.stdout.decode()
    for section in ("What it checks", "Why", "Example", "Fix", "Source"):
        assert section in text
    assert run("rules", "XXX999").returncode == 2


def test_config_select_ignore_and_severity(tmp_path, files):
    cfg = tmp_path / "fhirplugin.toml"
    cfg.write_text('ignore = ["GEN005"]\n[severity]\nGEN003 = "warning"\nGEN004 = "warning"\n')
    proc = run("validate", "--config", str(cfg), "--format", "outcome", str(files["broken"]))
    oo = json.loads(proc.stdout)
    got = {(i["details"]["coding"][0]["code"], i["severity"]) for i in oo["issue"]}
    assert ("GEN003", "warning") in got and ("GEN004", "warning") in got
    assert not any(code == "GEN005" for code, _ in got)
    assert proc.returncode == 0  # only warnings left


def test_bad_config_exits_2(tmp_path, files):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("select = 3\n")
    assert run("validate", "--config", str(cfg), str(files["clean"])).returncode == 2
    assert run("validate", "--config", str(tmp_path / "nope.toml"), str(files["clean"])).returncode == 2


def test_python_dash_m_equals_console_script(files):
    exe = Path(sys.executable).with_name("fhirplugin")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    a = subprocess.run(
        [str(exe), "validate", "--format", "outcome", str(files["broken"])], capture_output=True
    )
    b = run("validate", "--format", "outcome", str(files["broken"]))
    assert a.returncode == b.returncode == 1
    assert a.stdout == b.stdout


@pytest.mark.parametrize(
    "doc",
    [
        {"resourceType": "Bundle", "type": "collection", "entry": True},
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {"resourceType": ["Claim"]}}],
        },
        {"resourceType": "Parameters", "parameter": "x"},
    ],
    ids=["entry-true", "resourceType-list", "parameter-string"],
)
def test_odd_shapes_are_findings_not_crashes(doc):
    from fhirplugin.engine import Engine

    result = Engine().check_object(doc)
    assert result.worst is not None and result.worst.rank >= 2  # error or fatal
    assert not any(f.issue_type == "exception" for f in result.findings)


def test_quiet_shows_only_issues_at_or_above_fail_on(files, tmp_path):
    warn = tmp_path / "w.json"
    warn.write_bytes(orjson.dumps(build({"claim": {"lines": [{"code": "49407", "system": None}]}})))
    loud = run("validate", str(warn), str(files["broken"]), str(files["clean"])).stdout.decode()
    assert "GEN002" in loud and "no problems found" in loud
    proc = run("validate", "--quiet", str(warn), str(files["broken"]), str(files["clean"]))
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "GEN005" in out and "GEN003" in out  # the errors
    assert "GEN002" not in out and "no problems found" not in out and str(files["clean"]) not in out
    proc = run(
        "validate", "-q", "--fail-on", "warning", "--format", "outcome", str(warn), str(files["clean"])
    )
    first, second = (json.loads(x) for x in proc.stdout.decode().splitlines())
    assert [i["details"]["coding"][0]["code"] for i in first["issue"]] == ["GEN002"]
    assert second["issue"][0]["severity"] == "information"  # no issue left: "no problems found"
