"""The profiles in profiles/ and the checker that applies them (fhirplugin.fhir.profiles, rules PRF001/PRF002)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B.structuredefinition import StructureDefinition as SDR4B
from fhir.resources.structuredefinition import StructureDefinition as SDR5

from builders import build
from fhirplugin.config import Settings
from fhirplugin.engine import Engine
from fhirplugin.fhir import extract
from fhirplugin.fhir.case import CPT, DICOM, SNOMED
from fhirplugin.fhir.extract import read_submission
from fhirplugin.fhir.extract.procedures import device_action
from fhirplugin.fhir.profiles import (
    PROFILE_BASE,
    ProfileDataError,
    ProfileRegistry,
    check_resource,
    profile_claims,
)
from fhirplugin.findings import CANONICAL_BASE, Severity
from fhirplugin.resources import data_dir
from fhirplugin.tx.fhirterm import CodeSystems
from fhirplugin.tx.store import default_terminology

PROFILES = data_dir("profiles")
SD_FILES = sorted(p for p in PROFILES.rglob("StructureDefinition-*.json"))
EXAMPLES = sorted((PROFILES / "examples").glob("*.json"))
CLAIM = f"{PROFILE_BASE}fhirplugin-claim"
PROCEDURE = f"{PROFILE_BASE}fhirplugin-procedure"
ORDER = f"{PROFILE_BASE}fhirplugin-servicerequest"
EXTENSION_URLS = {name: getattr(extract, name) for name in dir(extract) if name.startswith("EXT_")}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Settings())


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry.builtin()


def _version_of(path: Path) -> str:
    return "R5" if path.stem.endswith("-r5") else "R4"


def _walk_elements(sd_json: dict):
    yield from sd_json["differential"]["element"]


# ------------------------------------------------------------------ the files themselves
def test_profiles_folder_has_the_expected_files() -> None:
    assert SD_FILES, "no StructureDefinitions under profiles/"
    assert not (PROFILES / ".gitkeep").exists()
    assert (PROFILES / "README.md").is_file()
    assert EXAMPLES


@pytest.mark.parametrize("path", SD_FILES, ids=[str(p.relative_to(PROFILES)) for p in SD_FILES])
def test_structuredefinition_is_valid_fhir(path: Path) -> None:
    data = json.loads(path.read_text())
    assert data["resourceType"] == "StructureDefinition"
    assert data["url"].startswith(PROFILE_BASE)
    assert data["url"].rsplit("/", 1)[-1] == data["id"]
    assert path.name == f"StructureDefinition-{data['id']}.json"
    assert data["derivation"] == "constraint"
    if path.parent.name == "r5":
        assert data["fhirVersion"] == "5.0.0"
        SDR5.model_validate(data)
    elif path.parent.name == "extensions":
        assert data["type"] == "Extension" and data["kind"] == "complex-type"
        SDR4B.model_validate(data)
        SDR5.model_validate(data)  # one definition serves both versions
    else:
        assert data["fhirVersion"] == "4.0.1"
        SDR4B.model_validate(data)


def test_each_profile_exists_for_r4_and_r5(registry: ProfileRegistry) -> None:
    for url, rtype in ((CLAIM, "Claim"), (PROCEDURE, "Procedure"), (ORDER, "ServiceRequest")):
        for version, fhir in (("R4", "4.0.1"), ("R4B", "4.0.1"), ("R5", "5.0.0")):
            sd = registry.profile(url, version)
            assert sd is not None, (url, version)
            assert (sd.type, sd.fhir_version, sd.kind) == (rtype, fhir, "resource")


def test_each_extension_url_in_extract_has_a_definition(registry: ProfileRegistry) -> None:
    assert set(EXTENSION_URLS) >= {
        "EXT_METHOD",
        "EXT_APPROACH",
        "EXT_GUIDANCE",
        "EXT_COLLECTIONS",
        "EXT_MODIFIER",
    }
    for name, url in EXTENSION_URLS.items():
        if url.startswith(CANONICAL_BASE):
            ext = registry.extension(url)
            assert ext is not None, f"{name} ({url}) has no StructureDefinition in profiles/extensions"
            assert ext.path.parent.name == "extensions"
        else:
            # an HL7 core extension (procedure-method): not ours to define; the Procedure profile slices
            # it and binds its value inline, in both versions
            assert url.startswith("http://hl7.org/fhir/StructureDefinition/"), (name, url)
            for version in ("R4", "R5"):
                sd_json = json.loads(registry.profile(PROCEDURE, version).path.read_text())
                slices = [
                    e
                    for e in _walk_elements(sd_json)
                    if any(url in t.get("profile", []) for t in e.get("type", []))
                ]
                assert len(slices) == 1, (name, version)
                value = next(e for e in _walk_elements(sd_json) if e["id"] == f"{slices[0]['id']}.value[x]")
                assert value["binding"]["strength"] == "required"


def test_extension_contexts_cover_where_extract_reads_them(registry: ProfileRegistry) -> None:
    where = {
        "EXT_APPROACH": {"Claim.item", "Procedure", "ServiceRequest"},
        "EXT_GUIDANCE": {"Procedure", "ServiceRequest"},
        "EXT_COLLECTIONS": {"Procedure", "ServiceRequest"},
        "EXT_MODIFIER": {"Claim.item", "Procedure", "ServiceRequest"},
    }
    for name, contexts in where.items():
        data = json.loads(registry.extension(EXTENSION_URLS[name]).path.read_text())
        assert {c["expression"] for c in data["context"]} == contexts, name


def test_every_required_binding_resolves(registry: ProfileRegistry) -> None:
    tx_vs = default_terminology().valuesets
    bound = set()
    for path in SD_FILES:
        for e in _walk_elements(json.loads(path.read_text())):
            b = e.get("binding")
            if b and b.get("strength") == "required":
                vs = b["valueSet"]
                assert vs in tx_vs or (registry.valuesets is not None and vs in registry.valuesets), (
                    path,
                    vs,
                )
                bound.add(vs)
    assert f"{CANONICAL_BASE}/ValueSet/imaging-guidance-modality" in bound
    assert f"{CANONICAL_BASE}/ValueSet/approach" in bound


def test_codesystems_and_valueset_match_what_extract_reads() -> None:
    cs = CodeSystems.builtin()
    assert cs.codes(extract.APPROACH_SYSTEM) == {
        "percutaneous",
        "transvaginal",
        "transrectal",
        "open",
        "laparoscopic",
        "endoscopic",
        "bronchoscopic",
    }
    assert cs.codes(extract.DEVICE_ACTION_SYSTEM) == {"implanted", "removed"}
    vs = default_terminology().valuesets
    guidance = f"{CANONICAL_BASE}/ValueSet/imaging-guidance-modality"
    assert all(vs.contains(guidance, DICOM, code) for code in ("US", "CT", "MR", "RF", "XA"))
    assert not vs.contains(guidance, DICOM, "MG")
    assert not vs.contains(guidance, SNOMED, "US")
    # the reader's normalisation understands both device-action codes
    assert device_action(
        {"coding": [{"system": extract.DEVICE_ACTION_SYSTEM, "code": "implanted"}]}, "x"
    ) == ("implanted")
    assert device_action(
        {"coding": [{"system": extract.DEVICE_ACTION_SYSTEM, "code": "removed"}]}, "x"
    ) == ("removed")


# ------------------------------------------------------------------ the examples
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
@pytest.mark.parametrize("version", ["given", "auto"])
def test_example_passes_the_engine(
    engine: Engine, registry: ProfileRegistry, path: Path, version: str
) -> None:
    expected = _version_of(path)
    results = engine.check_bytes(path.read_bytes(), fhir_version=expected if version == "given" else "auto")
    assert len(results) == 1
    assert results[0].fhir_version == expected
    bad = [f for f in results[0].findings if f.severity in (Severity.ERROR, Severity.FATAL)]
    assert not bad, [(f.rule_id, f.expression, f.text) for f in bad]
    assert not [f for f in results[0].findings if f.rule_id.startswith("PRF")]
    # the example really is checked: it claims at least one profile we hold for its version
    data = json.loads(path.read_text())
    resources = [e["resource"] for e in data["entry"]] if data["resourceType"] == "Bundle" else [data]
    claims = [c for r in resources for c in registry.claims(r, "x", expected)]
    assert claims and all(c.status == "known" for c in claims)


def _entry(bundle: dict, rtype: str) -> tuple[int, dict]:
    return next(
        (i, e["resource"]) for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == rtype
    )


@pytest.mark.parametrize("suffix", ["r4", "r5"])
def test_examples_fail_once_broken(engine: Engine, suffix: str) -> None:
    """Each example is a real instance of its profile: removing what the profile requires is reported."""
    version = suffix.upper()
    bundle = json.loads((PROFILES / "examples" / f"claim-bundle-{suffix}.json").read_text())
    ci, claim = _entry(bundle, "Claim")
    pi, proc = _entry(bundle, "Procedure")
    del claim["item"][0]["quantity"]
    proc["focalDevice"][0]["action"]["coding"][0]["code"] = "left-over"
    proc["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "sideways"
    proc["code"]["coding"][0]["system"] = SNOMED
    results = engine.check_bytes(orjson.dumps(bundle), fhir_version=version)
    got = sorted(f.expression[0] for f in results[0].findings if f.rule_id == "PRF002")
    base = f"Bundle.entry[{pi}].resource"
    assert got == sorted(
        [
            f"Bundle.entry[{ci}].resource.item[0].quantity",
            f"{base}.code.coding",
            f"{base}.extension[0].valueCodeableConcept",
            f"{base}.focalDevice[0].action",
        ]
    )

    order = json.loads((PROFILES / "examples" / f"servicerequest-{suffix}.json").read_text())
    order["extension"][1]["valueCodeableConcept"]["coding"][0]["code"] = "MG"
    order["bodySite"][0]["coding"][0]["system"] = "http://example.org/local-sites"
    results = engine.check_bytes(orjson.dumps(order), fhir_version=version)
    got = sorted(f.expression[0] for f in results[0].findings if f.rule_id == "PRF002")
    assert got == ["ServiceRequest.bodySite[0].coding", "ServiceRequest.extension[1].valueCodeableConcept"]


# ------------------------------------------------------------------ checker behaviour
def _claim(version: str = "R4", **line) -> dict:
    spec = {
        "profile": CLAIM,
        "diagnoses": ["K65.1"],
        "lines": [{"code": "49406", "units": 1, "dx": [1], **line}],
    }
    return build({"claim": spec}, version)


def test_clean_claim_has_no_violation() -> None:
    for version in ("R4", "R5"):
        assert check_resource(_claim(version, site="15425007", approach="open"), "Claim", version) == []


def test_cardinality_min_and_max() -> None:
    res = _claim(modifiers=["59", "XS", "76", "77", "RT", "LT"])
    del res["item"][0]["quantity"]
    got = {(v.constraint, v.expression, v.element) for v in check_resource(res, "Claim", "R4")}
    assert got == {
        ("min", "Claim.item[0].quantity", "Claim.item.quantity"),
        ("max", "Claim.item[0].modifier[4]", "Claim.item.modifier"),
    }
    res["item"][0]["quantity"] = {"unit": "each"}  # present but without a value
    got = {(v.constraint, v.expression) for v in check_resource(res, "Claim", "R4")}
    assert ("min", "Claim.item[0].quantity.value") in got


def test_binding_checked_by_system_for_cpt_and_by_code_for_our_codes() -> None:
    # CPT binding: any code in the CPT system passes (whether it exists is GEN001's job) ...
    assert check_resource(_claim(code="00000"), "Claim", "R4") == []
    # ... HCPCS too; SNOMED or no system does not
    assert (
        check_resource(
            _claim(code="G0121", system="https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"),
            "Claim",
            "R4",
        )
        == []
    )
    for system in ("http://snomed.info/sct", None):
        (v,) = check_resource(_claim(code="49406", system=system), "Claim", "R5")
        assert (v.constraint, v.expression, v.issue_type) == (
            "binding",
            "Claim.item[0].productOrService",
            "code-invalid",
        )
        assert (
            "cpt-hcpcs-codes" in v.text
            and "fhirplugin-claim" in v.text
            and "Claim.item.productOrService" in v.text
        )
    # our approach codes: the code itself is checked against the CodeSystem
    (v,) = check_resource(_claim(approach="sideways"), "Claim", "R4")
    assert v.definition == extract.EXT_APPROACH and v.profile == CLAIM
    assert v.expression == "Claim.item[0].extension[0].valueCodeableConcept"


def test_extension_value_type_and_minimum() -> None:
    bundle = build({"procedures": [{"code": "49406", "profile": PROCEDURE, "collections": 0}]}, "R4")
    proc = bundle["entry"][0]["resource"]
    (v,) = check_resource(proc, "Bundle.entry[0].resource", "R4")
    assert (v.constraint, v.expression) == ("minValue", "Bundle.entry[0].resource.extension[0].valueInteger")
    proc["extension"][0] = {"url": extract.EXT_COLLECTIONS, "valueString": "two"}
    (v,) = check_resource(proc, "Bundle.entry[0].resource", "R4")
    assert (v.constraint, v.expression) == ("type", "Bundle.entry[0].resource.extension[0].valueString")
    assert "integer or positiveInt" in v.text
    proc["extension"][0] = {"url": extract.EXT_COLLECTIONS, "valuePositiveInt": 2}
    assert check_resource(proc, "Bundle.entry[0].resource", "R4") == []
    proc["extension"][0] = {"url": extract.EXT_COLLECTIONS}
    (v,) = check_resource(proc, "Bundle.entry[0].resource", "R4")
    assert (v.constraint, v.expression) == ("min", "Bundle.entry[0].resource.extension[0].value")
    proc["extension"] = [{"url": extract.EXT_COLLECTIONS, "valueInteger": 1}] * 2
    (v,) = check_resource(proc, "Bundle.entry[0].resource", "R4")
    assert (v.constraint, v.expression) == ("max", "Bundle.entry[0].resource.extension[1]")


def test_slice_on_cpt_coding() -> None:
    bundle = build({"procedures": [{"code": "49406", "profile": PROCEDURE}]}, "R5")
    proc = bundle["entry"][0]["resource"]
    proc["code"]["coding"].insert(0, {"system": SNOMED, "code": "225130001"})
    assert check_resource(proc, "P", "R5") == []  # extra codings are fine (open slicing)
    proc["code"]["coding"].append({"system": CPT, "code": "49407"})
    (v,) = check_resource(proc, "P", "R5")
    assert (v.constraint, v.expression, v.element) == ("max", "P.code.coding[2]", "Procedure.code.coding:cpt")
    del proc["code"]
    (v,) = check_resource(proc, "P", "R5")
    assert (v.constraint, v.expression) == ("min", "P.code")


def test_r5_paths_use_r5_profiles() -> None:
    order = build({"orders": [{"code": "49406", "profile": ORDER}]}, "R5")["entry"][0]["resource"]
    assert check_resource(order, "SR", "R5") == []
    order["code"]["concept"]["coding"][0]["system"] = SNOMED
    (v,) = check_resource(order, "SR", "R5")
    assert v.expression == "SR.code.concept.coding"
    # the same JSON read as R4 is checked against the R4 profile (code is a CodeableConcept there)
    assert {v.expression for v in check_resource(order, "SR", "R4")} == {"SR.code.coding"}


def test_claims_version_suffix_foreign_and_unknown(registry: ProfileRegistry) -> None:
    res = {
        "resourceType": "Claim",
        "meta": {
            "profile": [
                f"{CLAIM}|0.1.0",
                CLAIM,  # the same profile twice: checked once
                "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Claim",
                f"{PROFILE_BASE}no-such-profile",
                42,
            ]
        },
    }
    got = [(c.status, c.expression) for c in profile_claims(res, "Claim", "R4")]
    assert got == [
        ("known", "Claim.meta.profile[0]"),
        ("foreign", "Claim.meta.profile[2]"),
        ("unknown", "Claim.meta.profile[3]"),
    ]
    assert f"{CLAIM}|9.9" in registry


def test_hostile_shapes_do_not_crash() -> None:
    for item in ("x", None, [1, 2], {"quantity": "many", "modifier": "59", "productOrService": ["49406"]}):
        res = {"resourceType": "Claim", "meta": {"profile": [CLAIM]}, "item": [item], "diagnosis": {"a": 1}}
        out = check_resource(res, "Claim", "R4")
        assert all(v.text and v.expression.startswith("Claim") for v in out)
    assert check_resource({"resourceType": "Claim", "meta": "x"}, "Claim", "R4") == []
    assert check_resource("not a dict", "Claim", "R4") == []  # type: ignore[arg-type]


def test_reader_keeps_raw_resources_with_paths() -> None:
    bundle = build({"claim": {"lines": [{"code": "49406"}]}, "procedures": [{"code": "49406"}]}, "R4")
    sub = read_submission(bundle, "Bundle", "R4")
    assert [(r.path, r.resource["resourceType"]) for r in sub.resources] == [
        ("Bundle.entry[0].resource", "Claim"),
        ("Bundle.entry[1].resource", "Procedure"),
    ]
    assert sub.resources[0].resource is bundle["entry"][0]["resource"]


# ------------------------------------------------------------------ a registry of one's own
def _sd(
    rtype: str, elements: list[dict], *, url: str | None = None, fhir: str = "4.0.1", kind="resource"
) -> dict:
    url = url or f"{PROFILE_BASE}test-{rtype.lower()}"
    return {
        "resourceType": "StructureDefinition",
        "id": url.rsplit("/", 1)[-1],
        "url": url,
        "name": "Test",
        "status": "draft",
        "fhirVersion": fhir,
        "kind": kind,
        "abstract": False,
        "type": rtype,
        "baseDefinition": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
        "derivation": "constraint",
        "differential": {"element": [{"id": rtype, "path": rtype}, *elements]},
    }


def _write(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _el(id_: str, **kw) -> dict:
    return {"id": id_, "path": ".".join(s.split(":")[0] for s in id_.split(".")), **kw}


def test_generic_fixed_pattern_and_closed_slicing(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "sd.json",
        _sd(
            "Claim",
            [
                _el("Claim.use", fixedCode="claim"),
                _el(
                    "Claim.type",
                    patternCodeableConcept={
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                "code": "professional",
                            }
                        ]
                    },
                ),
                _el(
                    "Claim.item.productOrService.coding",
                    slicing={"discriminator": [{"type": "value", "path": "system"}], "rules": "closed"},
                ),
                _el("Claim.item.productOrService.coding:cpt", sliceName="cpt", min=1, max="1"),
                _el("Claim.item.productOrService.coding:cpt.system", fixedUri=CPT),
            ],
        ),
    )
    reg = ProfileRegistry.load_dir(tmp_path)
    url = f"{PROFILE_BASE}test-claim"
    res = build({"claim": {"profile": url, "lines": [{"code": "49406"}]}}, "R4")
    assert reg.check(res, "Claim", "R4") == []
    res["use"] = "preauthorization"
    res["type"]["coding"][0]["code"] = "institutional"
    res["item"][0]["productOrService"]["coding"].append({"system": SNOMED, "code": "225130001"})
    got = {(v.constraint, v.expression) for v in reg.check(res, "Claim", "R4")}
    assert got == {
        ("fixed", "Claim.use"),
        ("pattern", "Claim.type"),
        ("slicing", "Claim.item[0].productOrService.coding[1]"),
    }
    # the profile exists only for R4 here
    assert [c.status for c in reg.claims(res, "Claim", "R5")] == ["other-version"]
    assert reg.check(res, "Claim", "R5") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"resourceType": "ValueSet", "url": "x"}), "holds StructureDefinitions"),
        (
            json.dumps(_sd("Claim", [_el("Claim.item", min="one")])),
            "not a valid FHIR StructureDefinition",
        ),
        (
            json.dumps(
                _sd(
                    "Claim",
                    [
                        _el(
                            "Claim.item.modifier",
                            slicing={"discriminator": [{"type": "type", "path": "$this"}]},
                        ),
                        _el("Claim.item.modifier:a", sliceName="a"),
                    ],
                )
            ),
            "discriminator 'type'",
        ),
        (
            json.dumps(
                _sd(
                    "Claim",
                    [
                        _el(
                            "Claim.item.modifier",
                            slicing={"discriminator": [{"type": "value", "path": "coding.system"}]},
                        ),
                        _el("Claim.item.modifier:a", sliceName="a", min=1),
                    ],
                )
            ),
            "fixes no value",
        ),
        (json.dumps(_sd("Claim", [_el("Procedure.code")])), "does not start with the profiled type"),
        (json.dumps(_sd("Claim", [{"id": "Claim.item", "path": "Claim.diagnosis"}])), "does not match id"),
    ],
    ids=["json", "not-sd", "model", "discriminator", "slice-value", "type", "path"],
)
def test_broken_profile_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path, "broken.json", content)
    with pytest.raises(ProfileDataError, match=message) as info:
        ProfileRegistry.load_dir(tmp_path)
    assert str(path) in str(info.value)


def test_duplicate_profile_url_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", _sd("Claim", []))
    _write(tmp_path, "b.json", _sd("Claim", []))
    with pytest.raises(ProfileDataError, match="also defined by"):
        ProfileRegistry.load_dir(tmp_path)
    # the same url for another FHIR version is fine
    _write(tmp_path, "b.json", _sd("Claim", [], fhir="5.0.0"))
    reg = ProfileRegistry.load_dir(tmp_path)
    assert {reg.profile(f"{PROFILE_BASE}test-claim", v).fhir_version for v in ("R4", "R5")} == {
        "4.0.1",
        "5.0.0",
    }


def test_builtin_examples_and_valuesets_are_not_read_as_profiles(tmp_path: Path) -> None:
    # examples/ and valuesets/ hold other resource types; the registry skips examples and loads valuesets
    reg = ProfileRegistry.builtin()
    assert reg.valuesets is not None and f"{CANONICAL_BASE}/ValueSet/cpt-hcpcs-codes" in reg.valuesets
    assert all(sd.path.parent.name != "examples" for sd in reg.profiles())
    broken = copy.deepcopy(json.loads((PROFILES / "valuesets" / "ValueSet-approach.json").read_text()))
    broken["compose"]["include"][0]["concept"] = [{"code": "sideways"}]
    (tmp_path / "valuesets").mkdir()
    _write(tmp_path / "valuesets", "vs.json", broken)
    with pytest.raises(ProfileDataError, match="sideways"):
        ProfileRegistry.load_dir(tmp_path)
