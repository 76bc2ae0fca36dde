"""The fast structural pre-check on named tricky inputs.

The contract: ``fast.accepts`` may say False for something fhir.resources accepts (then the engine asks
fhir.resources), but it must never say True for something fhir.resources rejects. Each case below
states what fhir.resources does and checks the fast path against it, so a change in either shows.
"""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from builders import build
from fhirplugin.engine import Engine
from fhirplugin.fhir import fast, jsonload, structure

CLAIM = {
    "claim": {
        "diagnoses": ["K65.1", "C25.0"],
        "lines": [
            {"code": "49407", "units": 1, "site": "82849001", "approach": "transvaginal", "dx": [1]},
            {"code": "76942", "modifiers": ["26"], "dx": [2]},
        ],
    }
}
BUNDLE = {
    **CLAIM,
    "procedures": [
        {
            "code": "49407",
            "approach": "percutaneous",
            "guidance": "US",
            "devices": ["implanted"],
            "reasons": ["K65.1"],
            "imaging": "US",
            "report": True,
            "collections": 2,
        }
    ],
    "orders": [{"code": "49406", "units": 2, "collections": 1, "site": "41216001", "reasons": ["C61"]}],
}


def fhir_resources_accepts(resource: dict, version: str) -> bool:
    """The reference: the engine's fhir.resources path with the fast path off."""
    rtype = resource.get("resourceType")
    cls = structure.model_class(rtype, version)
    if cls is None:
        return False
    if rtype not in ("Bundle", "Parameters"):
        try:
            cls.model_validate(resource)
        except (ValidationError, KeyError, TypeError, ValueError):
            return False
        return True
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FHIRPLUGIN_FAST", "0")
        return structure.validate_tree(resource, version, rtype) == []


def claim(version: str = "R4") -> dict:
    return build(CLAIM, version)


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("spec", [CLAIM, BUNDLE], ids=["claim", "bundle"])
def test_valid_builder_resources_are_accepted(spec: dict, version: str) -> None:
    doc = build(spec, version)
    assert fast.explain(doc, version) is None
    assert fast.accepts(doc, version)
    assert fhir_resources_accepts(doc, version)


def test_r5_claim_is_not_an_r4_claim() -> None:
    doc = claim("R5")
    doc["item"][0]["bodySite"] = [{"site": [{"concept": {"coding": [{"code": "82849001"}]}}]}]
    assert fast.accepts(doc, "R5")
    assert not fast.accepts(doc, "R4")
    assert not fhir_resources_accepts(doc, "R4")


def _set(path: str, value):
    """A mutation that sets a dotted path (list indexes as numbers) in a deep copy."""

    def apply(doc: dict) -> dict:
        doc = copy.deepcopy(doc)
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = doc
        for p in parents:
            node = node[p]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
        return doc

    return apply


_DELETE = object()
EXT = [{"url": "http://example.org/x", "valueString": "a"}]

# (name, mutation, fhir.resources accepts?, fast path accepts?)
CASES = [
    ("positiveInt given as bool", _set("item.0.sequence", True), True, False),
    ("positiveInt given as str", _set("item.0.sequence", "1"), True, False),
    ("positiveInt given as float", _set("item.0.sequence", 1.0), True, False),
    ("positiveInt zero", _set("item.0.sequence", 0), False, False),
    ("positiveInt above 32 bits", _set("item.0.sequence", 2**31), False, False),
    ("positiveInt at the 32-bit limit", _set("item.0.sequence", 2**31 - 1), True, True),
    ("decimal given as bool", _set("item.0.quantity.value", True), False, False),
    ("decimal given as str", _set("item.0.quantity.value", "2"), True, False),
    ("huge decimal", _set("item.0.quantity.value", 10**40), True, True),
    ("decimal float", _set("item.0.quantity.value", 2.5), True, True),
    ("impossible date", _set("created", "2026-02-30"), False, False),
    ("month 13", _set("created", "2026-13-01"), False, False),
    ("leap day", _set("created", "2024-02-29"), True, True),
    ("leap day in a common year", _set("created", "2026-02-29"), False, False),
    ("partial dateTime", _set("created", "2026-02"), True, True),
    ("dateTime without zone", _set("created", "2026-02-01T10:00:00"), False, False),
    ("dateTime at 24:00", _set("created", "2026-02-01T24:00:00Z"), False, False),
    ("dateTime with zone", _set("created", "2026-02-01T10:00:00.123+14:00"), True, True),
    ("leap second (left to fhir.resources)", _set("created", "2016-12-31T23:59:60Z"), True, False),
    ("date with a time", _set("item.0.servicedDate", "2026-03-02T10:00:00Z"), False, False),
    ("impossible service date", _set("item.0.servicedDate", "2026-02-30"), False, False),
    ("service date in April 31st", _set("item.0.servicedDate", "2026-04-31"), False, False),
    ("partial service date", _set("item.0.servicedDate", "2026-03"), True, True),
    ("empty string", _set("type.coding.0.display", ""), False, False),
    ("vertical tab only", _set("type.coding.0.display", "\x0b"), False, False),
    ("a single space", _set("type.coding.0.display", " "), True, True),
    ("lone surrogate", _set("type.coding.0.display", "a\ud800"), False, False),
    ("non-ASCII text", _set("type.coding.0.display", "Drainage — péritonéal"), True, True),
    ("code with two spaces", _set("status", "a  b"), False, False),
    ("code with a leading space", _set("status", " active"), False, False),
    ("code with a trailing newline", _set("status", "active\n"), False, False),
    ("code with a single space", _set("status", "a b"), True, True),
    ("empty uri (left to fhir.resources)", _set("type.coding.0.system", ""), True, False),
    ("id of 256 characters", _set("id", "a" * 256), False, False),
    ("id of 255 characters", _set("id", "a" * 255), True, True),
    ("id with a slash", _set("id", "a/b"), False, False),
    ("unknown element", _set("item.0.productOrservice", {"text": "x"}), False, False),
    ("fhir_comments (left to fhir.resources)", _set("fhir_comments", "x"), True, False),
    ("resourceType inside an element", _set("item.0.resourceType", "ClaimItem"), True, False),
    ("missing required element", _set("patient", _DELETE), False, False),
    ("missing required primitive", _set("status", _DELETE), False, False),
    ("null primitive", _set("status", None), False, False),
    ("null in a list of elements", _set("item.1", None), False, False),
    ("list where one value is expected", _set("patient", [{"reference": "Patient/p1"}]), False, False),
    ("one value where a list is expected", _set("insurance", {"sequence": 1}), False, False),
    ("empty list (left to fhir.resources)", _set("insurance", []), True, False),
    ("empty object (left to fhir.resources)", _set("meta", {}), True, False),
    ("element as a JSON string", _set("type", '{"text": "x"}'), True, False),
    ("two values for one choice", _set("item.0.servicedPeriod", {"start": "2026-03-02"}), False, False),
    ("primitive extension sibling", _set("_status", {"extension": EXT}), True, True),
    ("empty primitive extension sibling", _set("_status", {}), False, False),
    ("extension with two values", _set("extension", [{**EXT[0], "valueBoolean": True}]), False, False),
    ("extension without url", _set("extension", [{"valueString": "a"}]), False, False),
    ("nested extension", _set("extension", [{"url": "http://e", "extension": EXT}]), True, True),
    ("contained Patient", _set("contained", [{"resourceType": "Patient", "id": "p"}]), True, True),
    ("contained unknown type", _set("contained", [{"resourceType": "Bogus", "id": "p"}]), False, False),
    ("contained without resourceType", _set("contained", [{"id": "p"}]), True, False),
    ("contained backbone element", _set("contained", [{"resourceType": "ClaimItem"}]), False, False),
    ("contained with an error", _set("contained", [{"resourceType": "Patient", "gender": 1}]), False, False),
]


@pytest.mark.parametrize(("name", "mutate", "reference", "expected"), CASES, ids=[c[0] for c in CASES])
def test_tricky_claim_values(name: str, mutate, reference: bool, expected: bool) -> None:
    doc = mutate(claim())
    assert fhir_resources_accepts(doc, "R4") is reference, "fhir.resources changed its mind"
    assert fast.accepts(doc, "R4") is expected
    if expected:
        assert fast.explain(doc, "R4") is None
    else:
        assert fast.explain(doc, "R4")


def test_a_resource_checked_as_another_type_is_suspicious() -> None:
    from fhir.resources.R4B.claim import Claim
    from fhir.resources.R4B.procedure import Procedure

    doc = claim()
    assert fast.element_validator(Claim)(doc)
    assert not fast.element_validator(Procedure)(doc)
    doc["resourceType"] = "Procedure"
    assert not fast.element_validator(Claim)(doc)


def test_explain_names_the_element_and_the_problem() -> None:
    doc = _set("item.1.sequence", 0)(claim())
    assert fast.explain(doc, "R4") == "Claim.item[1].sequence: value 0 not accepted"
    doc = _set("item.0.productOrservice", {"text": "x"})(claim())
    assert fast.explain(doc, "R4") == "Claim.item[0].productOrservice: not an element of ClaimItem"
    assert fast.explain(_set("patient", _DELETE)(claim()), "R4") == "Claim.patient: required but missing"


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_bundle_entries_are_checked_by_their_own_type(version: str) -> None:
    doc = build(BUNDLE, version)
    assert fast.accepts(doc, version)
    proc = next(e for e in doc["entry"] if e["resource"]["resourceType"] == "Procedure")
    proc["resource"]["status"] = "not a code "
    assert not fast.accepts(doc, version)
    assert fast.explain(doc, version).endswith(".status: value 'not a code ' not accepted")
    assert not fhir_resources_accepts(doc, version)


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_nested_bundles(version: str) -> None:
    inner = build(BUNDLE, version)
    outer = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]}
    assert fast.accepts(outer, version)
    assert fhir_resources_accepts(outer, version)
    inner["entry"][0]["resource"]["item"][0]["quantity"]["value"] = "two"
    assert not fast.accepts(outer, version)
    assert not fhir_resources_accepts(outer, version)


def test_parameters_wrapping_a_claim() -> None:
    doc = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": claim()}]}
    assert fast.accepts(doc, "R4")
    assert fhir_resources_accepts(doc, "R4")
    doc["parameter"][0]["resource"]["use"] = 7
    assert not fast.accepts(doc, "R4")


def test_list_form_primitive_extensions_are_left_to_fhir_resources() -> None:
    doc = claim()
    doc["contained"] = [
        {
            "resourceType": "Patient",
            "id": "p",
            "name": [{"given": ["A", None], "_given": [None, {"id": "x"}]}],
        }
    ]
    assert not fast.accepts(doc, "R4")
    assert fhir_resources_accepts(doc, "R4")


@pytest.mark.parametrize("value", [[], "Claim", 3, None])
def test_non_objects_and_unknown_types_are_suspicious(value) -> None:
    assert not fast.accepts(value, "R4")
    assert not fast.accepts({"resourceType": value}, "R4")
    assert not fast.accepts({"resourceType": "DomainResource"}, "R4")


def test_deep_nesting_is_suspicious_not_an_error() -> None:
    doc = claim()
    doc["extension"] = [_nested_extension(3000)]
    assert fast.accepts(doc, "R4") is False
    assert fast.explain(doc, "R4").endswith(": nested deeper than the depth limit allows")


def _nested_extension(levels: int) -> dict:
    """An extension holding ``levels - 1`` more levels of extensions (objects at 2-step depth)."""
    ext: dict = {"url": "http://e", "valueString": "x"}
    for _ in range(levels - 1):
        ext = {"url": "http://e", "extension": [ext]}
    return ext


def _chain(levels: int) -> dict:
    """A Reference whose identifier's assigner is a Reference ... objects nested one step each."""
    ref: dict = {"display": "x"}
    for _ in range(levels):
        ref = {"identifier": {"assigner": ref}}
    return ref


@pytest.mark.parametrize("max_depth", [8, 16, 64])
@pytest.mark.parametrize("levels", [1, 2, 3, 6, 7, 8, 15, 16, 30, 31, 32, 33, 40])
def test_accepted_means_within_the_depth_limit(levels: int, max_depth: int) -> None:
    """accepts() proves the depth too: the engine skips its own depth walk on that proof. A valid
    resource it declines is declined for depth alone (explain says so), never silently."""
    nested = claim()
    nested["extension"] = [_nested_extension(levels)]
    chained = claim()
    chained["enterer"] = _chain(levels)
    for doc in (nested, chained):
        assert fhir_resources_accepts(doc, "R4")
        if fast.accepts(doc, "R4", max_depth):
            assert not jsonload.too_deep(doc, max_depth)
        else:
            assert fast.explain(doc, "R4", max_depth).endswith("nested deeper than the depth limit allows")
    # n extension levels nest 2n + 1 deep: accepted exactly when that fits (the base claim nests less)
    if max_depth == 64:
        assert fast.accepts(nested, "R4", max_depth) is (2 * levels + 1 <= max_depth)


def test_extensions_up_to_the_limit_pass_and_one_more_is_inp004() -> None:
    """Claim (depth 1) + k extension levels nest 2k + 1 deep: 31 levels fit in 64, 32 do not."""
    engine = Engine()
    ok = claim()
    ok["extension"] = [_nested_extension(31)]
    assert fast.accepts(ok, "R4")
    assert "INP004" not in {f.rule_id for f in engine.check_object(ok).findings}
    deep = claim()
    deep["extension"] = [_nested_extension(32)]
    assert not fast.accepts(deep, "R4")
    res = engine.check_object(deep, line=7)
    assert [(f.rule_id, f.severity.value, f.expression) for f in res.findings] == [("INP004", "fatal", [])]
    assert res.findings[0].text.startswith("Line 7 nests JSON deeper than 64 levels")
    assert res.resource_type == "Claim"


def test_a_deep_but_legal_chain_goes_the_slow_way_with_the_same_answer(monkeypatch) -> None:
    """40 objects nested one step each (depth 43 < 64): the fast path declines, fhir.resources decides."""
    doc = claim()
    doc["enterer"] = _chain(20)
    assert not fast.accepts(doc, "R4")
    assert not jsonload.too_deep(doc, 64)
    engine = Engine()
    on = engine.check_object(doc).findings
    monkeypatch.setenv("FHIRPLUGIN_FAST", "0")
    assert engine.check_object(doc).findings == on
    assert "INP004" not in {f.rule_id for f in on}


def test_fast_path_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """FHIRPLUGIN_FAST=0 sends every resource through fhir.resources; the answer stays the same."""
    calls: list[str] = []
    real = fast.accepts

    def spy(resource, version, *args):
        calls.append(resource.get("resourceType"))
        return real(resource, version, *args)

    monkeypatch.setattr(fast, "accepts", spy)
    engine = Engine()
    doc = build(BUNDLE, "R4")
    on = engine.check_object(doc).findings
    assert calls == ["Bundle"]  # one walk, no model built
    monkeypatch.setenv("FHIRPLUGIN_FAST", "0")
    calls.clear()
    off = engine.check_object(doc).findings
    assert calls == []
    assert off == on
    assert not structure.fast_enabled()
    monkeypatch.setenv("FHIRPLUGIN_FAST", "1")
    assert structure.fast_enabled()


def test_parse_document_leaves_object_depth_to_the_engine_only_when_asked() -> None:
    """check_depth=False returns a deep object unchecked (the engine proves or checks it); anything
    but an object is still checked, and the default still checks everything."""
    deep_object = b'{"resourceType": "Claim", "x": ' + b"[" * 70 + b"1" + b"]" * 70 + b"}"
    deep_array = b"[" * 100 + b"]" * 100
    assert [p.code for p in jsonload.parse_document(deep_object).problems] == ["INP004"]
    lazy = jsonload.parse_document(deep_object, check_depth=False, line=3)
    assert lazy.problems == [] and lazy.value["resourceType"] == "Claim"
    assert jsonload.too_deep(lazy.value, 64) and not jsonload.too_deep(lazy.value, 80)
    for check_depth in (True, False):
        got = jsonload.parse_document(deep_array, check_depth=check_depth, line=2)
        assert got.value is None
        assert [(p.code, p.text) for p in got.problems] == [
            ("INP004", "Line 2 nests JSON deeper than 64 levels; no FHIR resource does.")
        ]
    # and the engine, given the lazily parsed object, reports it as the old path did
    res = Engine().check_raw(lazy)
    assert [(f.rule_id, f.severity.value) for f in res.findings] == [("INP004", "fatal")]
    assert res.findings[0].text.startswith("Line 3 nests JSON deeper than 64 levels")
