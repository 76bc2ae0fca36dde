"""OperationOutcome output: valid FHIR in the input's version, one issue per finding, clean → information."""

from __future__ import annotations

import pytest
from fhir.resources.operationoutcome import OperationOutcome as OO5
from fhir.resources.R4B.operationoutcome import OperationOutcome as OO4

from builders import build
from fhirplugin.engine import Engine

BROKEN = {
    "claim": {"diagnoses": ["K65"], "lines": [{"code": "49406", "dx": [1, 3], "modifiers": ["11"]}]},
    "procedures": [{"code": "49406", "reasons": ["K99.9"]}],
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize(("version", "model"), [("R4", OO4), ("R5", OO5)])
def test_outcome_is_valid_fhir_of_the_input_version(engine, version, model):
    res = engine.check_object(build(BROKEN, version))
    assert res.fhir_version == version
    oo = res.outcome()
    model.model_validate(oo)
    for issue in oo["issue"]:
        assert issue["details"]["coding"][0]["system"].endswith("/CodeSystem/rules")
        assert issue["details"]["text"].endswith(".")
        assert issue["expression"][0].startswith("Bundle.entry[")


def test_version_auto_detection(engine):
    assert engine.check_object(build(BROKEN, "R5")).fhir_version == "R5"
    assert engine.check_object(build(BROKEN, "R4")).fhir_version == "R4"


def test_clean_input_gives_one_information_issue(engine):
    res = engine.check_object(
        build({"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}})
    )
    oo = res.outcome()
    assert len(oo["issue"]) == 1 and oo["issue"][0]["severity"] == "information"
    OO4.model_validate(oo)


def test_parameters_wrapper_is_unwrapped_and_paths_point_inside(engine):
    claim = build({"claim": {"diagnoses": ["K65"], "lines": [{"code": "49406", "dx": [1]}]}})
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": claim}]}
    res = engine.check_object(params)
    exprs = [f.expression[0] for f in res.findings if f.rule_id == "GEN003"]
    assert exprs == ["Parameters.parameter[0].resource.diagnosis[0].diagnosisCodeableConcept.coding[0]"]


def test_bundle_references_resolve_by_fullurl_and_type_id(engine):
    bundle = build(
        {
            "claim": {"lines": [{"code": "49406", "procedure": 1}]},
            "procedures": [{"code": "49406", "reasons": ["K99.9"]}],
        }
    )
    # switch the claim's procedure reference to the fullUrl form
    claim = bundle["entry"][0]["resource"]
    claim["procedure"][0]["procedureReference"]["reference"] = bundle["entry"][1]["fullUrl"]
    res = engine.check_object(bundle)
    assert any(
        f.rule_id == "GEN003" and f.expression == ["Bundle.entry[1].resource.reasonCode[0].coding[0]"]
        for f in res.findings
    )
