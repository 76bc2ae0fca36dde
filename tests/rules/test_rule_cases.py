"""Table-driven rule cases: every ``tests/rules/cases/<RULE>.yml`` is discovered here.

Each case builds FHIR input (shorthand via ``tests/builders.py``, a full ``resource``, or ``raw`` text),
runs the whole engine, and compares the findings *of the rule under test* with ``expect`` exactly, as
(rule, severity, expression) triples; ``expect_text`` fragments must appear in the finding's text.
A case runs for each FHIR version in ``versions`` (default R4 and R5). ``pytest -k DRN001`` runs one rule.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from builders import build
from fhirplugin.config import Settings
from fhirplugin.engine import Engine

CASES_DIR = Path(__file__).parent / "cases"


def load_cases() -> list[tuple[str, str, str, dict]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        rule = doc["rule"]
        for name, case in doc["cases"].items():
            versions = case.get("versions", ["R4", "R5"])
            for v in versions:
                out.append((rule, name, v, case))
    return out


CASES = load_cases()


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Settings())


def _input_bytes(case: dict, version: str) -> bytes:
    if "raw" in case:
        return case["raw"].encode()
    if "resource" in case:
        return orjson.dumps(case["resource"])
    return orjson.dumps(build(case, version))


def _triples(findings, rule: str) -> list[tuple]:
    return sorted((f.rule_id, f.severity.value, tuple(f.expression)) for f in findings if f.rule_id == rule)


@pytest.mark.parametrize(
    ("rule", "name", "version", "case"), CASES, ids=[f"{r}-{n}-{v}" for r, n, v, _ in CASES]
)
def test_rule_case(engine: Engine, rule: str, name: str, version: str, case: dict) -> None:
    eng = engine if not case.get("config") else Engine(Settings(**case["config"]))
    results = eng.check_bytes(_input_bytes(case, version), fhir_version=case.get("fhir_version", version))
    findings = [f for r in results for f in r.findings]
    expected = sorted(
        (
            e.get("rule", rule),
            e["severity"],
            tuple(
                e["expression"]
                if isinstance(e["expression"], list)
                else [e["expression"]]
                if e.get("expression")
                else []
            ),
        )
        for e in case.get("expect", [])
    )
    got = _triples(findings, rule)
    assert got == [e for e in expected if e[0] == rule], "\n".join(
        f"{f.severity.value} {f.rule_id} {f.expression}: {f.text}" for f in findings
    )
    for e in case.get("expect", []):
        for fragment in e.get("text", []):
            assert any(fragment in f.text for f in findings if f.rule_id == rule), (fragment, findings)
    for fragment in case.get("diagnostics_contain", []):
        assert any(fragment in (f.diagnostics or "") for f in findings if f.rule_id == rule)
    if name.startswith("pass"):
        # a correct input gets no error or warning from any rule, not only from the rule under test
        # (``others`` lists the (rule, severity) pairs a pass case knowingly carries from other rules)
        allowed = {tuple(o) for o in case.get("others", [])}
        loud = [
            f
            for f in findings
            if f.severity.rank >= 1 and (f.rule_id, f.severity.value) not in allowed and f.rule_id != rule
        ]
        assert not loud, "\n".join(f"{f.severity.value} {f.rule_id} {f.expression}: {f.text}" for f in loud)
