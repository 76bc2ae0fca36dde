"""Suggestions: a finding's fix applied to a copy of the draft resource."""

from __future__ import annotations

import pytest

from fhirplugin.service.fixes import apply, locate

CPT = "http://www.ama-assn.org/go/cpt"


def sr() -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": CPT, "code": "49411", "display": "old"}]},
    }


def claim() -> dict:
    return {
        "resourceType": "Claim",
        "id": "c1",
        "item": [
            {"sequence": 1, "productOrService": {"coding": [{"system": CPT, "code": "49407"}]}},
            {
                "sequence": 2,
                "productOrService": {"coding": [{"system": CPT, "code": "76942"}]},
                "modifier": [{"coding": [{"system": CPT, "code": "11"}]}, {"coding": [{"code": "59"}]}],
            },
        ],
    }


def test_locate_splits_bundle_paths():
    assert locate("Bundle.entry[2].resource.item[0].modifier[1].coding[0]") == (
        2,
        [("item", 0), ("modifier", 1), ("coding", 0)],
    )
    assert locate("Bundle.entry[0].resource") == (0, [])
    assert locate("Claim.item[1]") == (None, [("item", 1)])
    with pytest.raises(ValueError):
        locate("Claim.item.where(sequence=1)")


def test_replace_code_updates_a_copy():
    original = sr()
    fix = {"action": "replace-code", "path": "x", "from": "49411", "to": "55876", "system": CPT}
    action = apply(fix, original, [("code", None), ("coding", 0)])
    assert action.type == "update"
    assert action.resource["code"]["coding"] == [{"system": CPT, "code": "55876"}]
    assert original["code"]["coding"][0]["code"] == "49411"
    # the fix may also point at the CodeableConcept
    action = apply(fix, original, [("code", None)])
    assert action.resource["code"]["coding"][0]["code"] == "55876"


def test_delete_order_and_claim_line():
    action = apply({"action": "delete-line"}, sr(), [])
    assert action.to_json() == {
        "type": "delete",
        "description": "Delete the order ServiceRequest/sr1",
        "resourceId": "ServiceRequest/sr1",
    }
    action = apply({"action": "delete-line"}, claim(), [("item", 1)])
    assert [i["sequence"] for i in action.resource["item"]] == [1]


def test_remove_modifier():
    action = apply(
        {"action": "remove-modifier", "code": "11"}, claim(), [("item", 1), ("modifier", 0), ("coding", 0)]
    )
    assert action.resource["item"][1]["modifier"] == [{"coding": [{"code": "59"}]}]


@pytest.mark.parametrize(
    ("fix", "segs"),
    [
        ({"action": "delete-line"}, [("item", 7)]),
        ({"action": "replace-code", "to": "1"}, [("nothing", None)]),
        ({"action": "unknown"}, []),
        ({"action": "delete-line"}, []),  # a resource without id cannot be deleted by reference
    ],
)
def test_fixes_that_cannot_apply_give_no_suggestion(fix, segs):
    res = claim() if segs else {"resourceType": "ServiceRequest"}
    assert apply(fix, res, segs) is None
