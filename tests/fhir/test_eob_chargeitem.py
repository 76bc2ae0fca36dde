"""ExplanationOfBenefit and ChargeItem are read like Claims, and every CPT/HCPCS URI turns the CPT rules on.

The drainage example (``examples/drainage/bundle.json``: 3 errors and 3 warnings) is recoded under each
CPT/HCPCS system URI, rewritten as an EOB, and as one ChargeItem per claim line: each must get the
Claim's findings.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import orjson
import pytest

from builders import as_charge_items, as_eob, build
from fhirplugin.engine import Engine
from fhirplugin.systems import CPT, PROCEDURE_SYSTEMS

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = orjson.loads((ROOT / "examples" / "drainage" / "bundle.json").read_bytes())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _check(engine: Engine, value: dict, version: str = "auto"):
    [result] = engine.check_bytes(orjson.dumps(value), fhir_version=version)
    return result


def _triples(result) -> list[tuple]:
    return sorted((f.rule_id, f.severity.value, tuple(f.expression)) for f in result.findings)


def _recode(value, system: str):
    """Every coding under the AMA CPT URI moved to ``system`` (a deep copy)."""
    value = copy.deepcopy(value)
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if v.get("system") == CPT:
                v["system"] = system
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return value


BASELINE_RULES = Counter(
    {("DRN001", "error"): 1, ("DRN002", "error"): 1, ("DRN004", "error"): 1}
    | {("DRN005", "warning"): 1, ("DRN006", "warning"): 1, ("DRN007", "warning"): 1}
)


def test_baseline_claim_findings(engine: Engine) -> None:
    result = _check(engine, BUNDLE)
    assert Counter((f.rule_id, f.severity.value) for f in result.findings) == BASELINE_RULES


@pytest.mark.parametrize("system", sorted(PROCEDURE_SYSTEMS - {CPT}))
def test_drainage_example_under_every_cpt_hcpcs_uri(engine: Engine, system: str) -> None:
    recoded = _recode(BUNDLE, system)
    assert orjson.dumps(recoded).count(system.encode()) >= 4
    assert _triples(_check(engine, recoded)) == _triples(_check(engine, BUNDLE))


def _with_first_entry(resources: list[dict]) -> dict:
    bundle = copy.deepcopy(BUNDLE)
    rest = bundle["entry"][1:]
    bundle["entry"] = [{"resource": r} for r in resources] + rest
    return bundle


def test_drainage_example_as_explanation_of_benefit(engine: Engine) -> None:
    claim = BUNDLE["entry"][0]["resource"]
    eob = as_eob(claim)
    bundle = copy.deepcopy(BUNDLE)
    bundle["entry"][0] = {"fullUrl": "http://example.org/fhir/ExplanationOfBenefit/x", "resource": eob}
    result = _check(engine, bundle)
    assert result.fhir_version == "R4"
    assert not [f for f in result.findings if f.rule_id.startswith(("STR", "INP"))], result.findings
    # same rules, same places: the EOB stands where the Claim stood
    assert _triples(result) == _triples(_check(engine, BUNDLE))


def test_drainage_example_as_charge_items(engine: Engine) -> None:
    claim = BUNDLE["entry"][0]["resource"]
    # the claim's first diagnosis is a Condition reference: give the ChargeItems its code as a reason
    condition = BUNDLE["entry"][1]["resource"]
    claim = copy.deepcopy(claim)
    claim["diagnosis"][0] = {"sequence": 1, "diagnosisCodeableConcept": condition["code"]}
    items = as_charge_items(claim)
    assert [i["code"]["coding"][0]["code"] for i in items] == ["49406", "76942", "10030"]
    result = _check(engine, _with_first_entry(items))
    assert not [f for f in result.findings if f.rule_id.startswith(("STR", "INP"))], result.findings
    assert Counter((f.rule_id, f.severity.value) for f in result.findings) == BASELINE_RULES
    where = {f.rule_id: f.expression[0] for f in result.findings}
    assert where["DRN002"] == "Bundle.entry[0].resource.quantity.value"
    assert where["DRN001"] == "Bundle.entry[1].resource.code.coding[0]"
    assert where["DRN004"] == "Bundle.entry[0].resource.code.coding[0]"
    assert where["DRN006"].startswith("Bundle.entry[2].resource.reason[0]")


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("claim_as", ["ExplanationOfBenefit", "ChargeItem"])
def test_built_claim_eob_and_charge_items_agree(engine: Engine, version: str, claim_as: str) -> None:
    spec = {
        "claim": {
            "diagnoses": ["K65.1"],
            "lines": [
                {"code": "49406", "units": 2, "dx": [1], "procedure": 1},
                {"code": "76942", "dx": [1]},
                {"code": "49406", "modifiers": ["11"], "dx": [1]},
            ],
        },
        "procedures": [{"code": "49406", "site": "82849001", "approach": "transvaginal", "collections": 1}],
    }
    as_claim = _check(engine, build(spec, version))
    other = _check(engine, build({**spec, "claim_as": claim_as}, version))
    assert other.fhir_version == version
    assert not [f for f in other.findings if f.rule_id.startswith(("STR", "INP"))], other.findings
    rules = Counter((f.rule_id, f.severity.value) for f in as_claim.findings)
    assert rules == Counter((f.rule_id, f.severity.value) for f in other.findings)
    assert {"DRN001", "DRN004", "GEN005"} <= {r for r, _ in rules}


def test_bulk_export_bundle_of_eobs_is_checked_line_by_line(engine: Engine) -> None:
    eobs = []
    for i, code in enumerate(["49406", "4940", "99999"]):
        spec = {"claim": {"id": f"c{i}", "lines": [{"code": code}]}, "claim_as": "ExplanationOfBenefit"}
        eobs.append(build(spec, "R4"))
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": e} for e in eobs]}
    result = _check(engine, bundle)
    got = {(f.rule_id, f.severity.value, f.expression[0]) for f in result.findings}
    assert ("GEN001", "error", "Bundle.entry[1].resource.item[0].productOrService.coding[0]") in got
    assert ("GEN001", "information", "Bundle.entry[2].resource.item[0].productOrService.coding[0]") in got
    ndjson = b"\n".join(orjson.dumps(e) for e in eobs)
    results = engine.check_bytes(ndjson)
    assert [r.resource_type for r in results] == ["ExplanationOfBenefit"] * 3
    gen001 = [[f.severity.value for f in r.findings if f.rule_id == "GEN001"] for r in results]
    assert gen001 == [[], ["error"], ["information"]]


def test_eob_item_without_billing_provider_takes_care_team_provider() -> None:
    from fhirplugin.fhir.extract import read_submission

    eob = build({"claim": {"lines": [{"code": "49406"}]}, "claim_as": "ExplanationOfBenefit"}, "R5")
    del eob["provider"]
    eob["careTeam"] = [{"sequence": 1, "provider": {"reference": "Practitioner/rendering"}}]
    eob["item"][0]["careTeamSequence"] = [1]
    sub = read_submission(eob, "ExplanationOfBenefit", "R5")
    [line] = sub.lines()
    assert line.provider == "Practitioner/rendering"
    assert line.cpt == "49406" and line.source_type == "ExplanationOfBenefit"
    assert sub.cases[0].claim_type == "professional"


def test_charge_item_modifier_extensions_and_hl7_modifier() -> None:
    from fhirplugin.fhir.extract import read_submission

    [ci] = as_charge_items(build({"claim": {"lines": [{"code": "49406"}]}}, "R4"))
    ci["extension"] = [
        {"url": "http://ehr.example.org/StructureDefinition/chargeitem-modifier", "valueCode": "59"},
        {"url": "http://ehr.example.org/StructureDefinition/other", "valueCode": "zz"},
    ]
    sub = read_submission(ci, "ChargeItem", "R4")
    [line] = sub.lines()
    assert [m.code for m in line.modifiers] == ["59"]
    assert line.code_path == "ChargeItem.code" and line.units.value == 1


def test_foreign_profile_information_once_per_file(engine: Engine) -> None:
    us_core = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-procedure"
    lines = []
    for i in range(3):
        proc = build({"procedures": [{"code": "49406", "profile": us_core}]}, "R4")["entry"][0]["resource"]
        proc["id"] = f"p{i}"
        lines.append(orjson.dumps(proc))
    results = engine.check_bytes(b"\n".join(lines))
    prf = [[f.severity.value for f in r.findings if f.rule_id == "PRF001"] for r in results]
    assert prf == [["information"], [], []]
    assert "US Core" in next(f.text for f in results[0].findings if f.rule_id == "PRF001")
