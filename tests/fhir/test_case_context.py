"""The case model's context of a line: rendering provider, place of service, encounter, claim type."""

from __future__ import annotations

from builders import build
from fhirplugin.fhir.extract import read_submission
from fhirplugin.systems import POS

ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "enc1",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    "period": {"start": "2026-03-02T08:00:00Z"},
}


def _bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def test_care_team_member_with_a_rendering_role_is_the_line_provider() -> None:
    claim = build(
        {"claim": {"provider": "Organization/group1", "lines": [{"code": "49406"}, {"code": "76942"}]}}
    )
    claim["careTeam"] = [
        {
            "sequence": 1,
            "provider": {"reference": "Practitioner/assist"},
            "role": {"coding": [{"code": "assist"}]},
        },
        {
            "sequence": 2,
            "provider": {"reference": "Practitioner/surgeon"},
            "role": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/claimcareteamrole", "code": "primary"}
                ]
            },
        },
    ]
    claim["item"][0]["careTeamSequence"] = [1, 2]
    claim["item"][1]["careTeamSequence"] = [1]
    first, second = read_submission(claim, "Claim", "R4").lines()
    assert (first.rendering_provider, first.provider, first.billing_provider) == (
        "Practitioner/surgeon",
        "Practitioner/surgeon",
        "Organization/group1",
    )
    assert second.rendering_provider == "Practitioner/assist"  # the only one named
    claim["item"][1].pop("careTeamSequence")
    second = read_submission(claim, "Claim", "R4").lines()[1]
    assert second.rendering_provider is None and second.provider == "Organization/group1"


def test_claim_type_prefers_the_hl7_coding_and_is_lower_case() -> None:
    claim = build({"claim": {"lines": [{"code": "49406"}]}})
    claim["type"] = {
        "coding": [
            {"system": "http://payer.example/types", "code": "OP"},
            {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "Institutional"},
        ]
    }
    assert read_submission(claim, "Claim", "R4").cases[0].claim_type == "institutional"


def test_item_encounter_and_place_of_service_from_a_location() -> None:
    claim = build({"claim": {"lines": [{"code": "49406", "location": "Location/or1"}]}})
    claim["item"][0]["encounter"] = [{"reference": "Encounter/enc1"}]
    location = {
        "resourceType": "Location",
        "id": "or1",
        "type": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "HOSP"},
                    {"system": POS, "code": "22"},
                ]
            }
        ],
    }
    sub = read_submission(_bundle(claim, location, ENCOUNTER), "Bundle", "R4")
    [line] = sub.lines()
    assert line.place_of_service is not None
    assert (line.place_of_service.code, line.place_of_service.path) == (
        "22",
        "Bundle.entry[1].resource.type[0].coding[1]",
    )
    assert line.encounter is not None and [c.code for c in line.encounter.classes] == ["AMB"]
    assert str(line.encounter.start) == "2026-03-02" and sub.cases[0].encounter is line.encounter


def test_r5_claim_encounter_and_procedure_location_and_performer() -> None:
    spec = {
        "claim": {"lines": [{"code": "49406"}]},
        "orders": [{"code": "49406", "performer": "Practitioner/ir1"}],
    }
    bundle = build(spec, "R5")
    claim = bundle["entry"][0]["resource"]
    claim["encounter"] = [{"reference": "Encounter/enc1"}]
    r5_enc = {**ENCOUNTER, "class": [{"coding": [{"code": "EMER"}]}], "actualPeriod": {"start": "2026-03-02"}}
    r5_enc.pop("period")
    bundle["entry"].append({"resource": r5_enc})
    sub = read_submission(bundle, "Bundle", "R5")
    claim_case, order_case = sub.cases
    assert claim_case.encounter is not None and [c.code for c in claim_case.encounter.classes] == ["EMER"]
    assert claim_case.lines[0].encounter is claim_case.encounter
    order = order_case.lines[0]
    assert (order.rendering_provider, order.provider, order.billing_provider) == (
        "Practitioner/ir1",
        "Practitioner/ir1",
        "Practitioner/dr1",
    )


def test_charge_item_context_is_its_encounter() -> None:
    bundle = build({"claim": {"lines": [{"code": "49406"}]}, "claim_as": "ChargeItem"}, "R4")
    bundle["entry"][0]["resource"]["context"] = {"reference": "Encounter/enc1"}
    bundle["entry"].append({"resource": ENCOUNTER})
    [case] = read_submission(bundle, "Bundle", "R4").cases
    assert case.encounter is not None and case.lines[0].encounter is case.encounter
