"""Every Claim, Procedure, ServiceRequest, ExplanationOfBenefit and ChargeItem example of the HL7 FHIR R4
and R5 specifications (npm packages ``hl7.fhir.r4.examples`` 4.0.1 and ``hl7.fhir.r5.examples`` 5.0.0):
no structure error, detected at the package's FHIR version, nothing crashes.

Some examples use no element that only one version allows (a Claim valid as R4 and as R5 alike): those
cannot be told apart and are checked as R4; for them the test asserts the findings are the same whether
they are checked as R4 or as R5, so the guess changes nothing. The packages are fetched into a cache
outside the checkout (see ``tests/published.py``); the test skips, saying why, without npm or registry.
"""

from __future__ import annotations

import pytest
from published import CHECKED, PACKAGES, examples, fetch

from fhirplugin.engine import Engine
from fhirplugin.fhir import version as fhir_version
from fhirplugin.findings import Severity

STRUCTURE = (
    "STR001",
    "STR002",
    "STR003",
    "STR004",
    "INP001",
    "INP002",
    "INP003",
    "INP004",
    "INP006",
    "INP009",
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _package(version: str):
    name, ver = PACKAGES[version]
    path, why = fetch(name, ver)
    if path is None:
        pytest.skip(why)
    return path


def _triples(result) -> list[tuple]:
    return sorted((f.rule_id, f.severity.value, tuple(f.expression), f.text) for f in result.findings)


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_published_examples(engine: Engine, version: str) -> None:
    tgz = _package(version)
    seen: dict[str, int] = dict.fromkeys(CHECKED, 0)
    problems: list[str] = []
    ambiguous = 0
    for name, data in examples(tgz):
        [result] = engine.check_bytes(data, source=name)
        seen[result.resource_type] += 1
        for f in result.findings:
            if f.rule_id in STRUCTURE or f.severity is Severity.FATAL:
                problems.append(f"{name}: {f.rule_id} {f.expression} {f.text}")
        if result.fhir_version != version:
            import orjson

            found = fhir_version.analyse(orjson.loads(data))
            if found.evidence != "default":
                problems.append(f"{name}: detected as {result.fhir_version}, not {version} ({found.misfits})")
                continue
            ambiguous += 1
            [as_r4] = engine.check_bytes(data, fhir_version="R4")
            [as_r5] = engine.check_bytes(data, fhir_version="R5")
            if _triples(as_r4) != _triples(as_r5):
                problems.append(f"{name}: no version evidence, and R4 and R5 give different findings")
    assert not problems, "\n".join(problems[:40])
    # the packages hold examples of every type checked here (a wrong filter would make this test empty)
    assert all(n > 0 for n in seen.values()), seen
    assert sum(seen.values()) >= 50
    assert ambiguous < sum(seen.values()) / 3, (ambiguous, seen)
