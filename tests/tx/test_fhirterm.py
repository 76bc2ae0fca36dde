"""FHIR ValueSets and ConceptMaps evaluated locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirplugin.fhir.case import CPT, DICOM, ICD10CM, SNOMED
from fhirplugin.resources import data_dir
from fhirplugin.tx.cpt import CptTable
from fhirplugin.tx.fhirterm import CodeSystems, ConceptMaps, TerminologyDataError, ValueSets

BASE = "https://fhirplugin.dev/fhir"
GUIDANCE_VS = f"{BASE}/ValueSet/cpt-imaging-guidance"
GUIDANCE_CM = f"{BASE}/ConceptMap/guidance-cpt-to-modality"


def write(folder: Path, name: str, resource: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(resource if isinstance(resource, str) else json.dumps(resource), encoding="utf-8")
    return path


def valueset(id_: str, compose: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "id": id_,
        "url": f"{BASE}/ValueSet/{id_}",
        "name": id_.replace("-", "_"),
        "status": "active",
        "compose": compose,
        **extra,
    }


def conceptmap(id_: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "ConceptMap",
        "id": id_,
        "url": f"{BASE}/ConceptMap/{id_}",
        "name": id_.replace("-", "_"),
        "status": "active",
        "group": groups,
    }


# -- shipped examples ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin_vs() -> ValueSets:
    return ValueSets.builtin()


def test_builtin_guidance_valueset(builtin_vs: ValueSets) -> None:
    for key in (
        GUIDANCE_VS,
        f"{GUIDANCE_VS}|0.1.0",
        "cpt-imaging-guidance",
        "ValueSet/cpt-imaging-guidance",
        "CptImagingGuidance",
    ):
        assert key in builtin_vs
        assert builtin_vs.contains(key, CPT, "77012")
    assert builtin_vs.contains(GUIDANCE_VS, None, " 76942 ")
    assert not builtin_vs.contains(GUIDANCE_VS, CPT, "49406")
    assert not builtin_vs.contains(GUIDANCE_VS, ICD10CM, "77012")  # right code, wrong system
    assert not builtin_vs.contains(GUIDANCE_VS, CPT, "")
    with pytest.raises(KeyError, match="no-such-set"):
        builtin_vs.contains("no-such-set", CPT, "77012")


def test_guidance_valueset_matches_cpt_table_family(builtin_vs: ValueSets) -> None:
    family = {c.code for c in CptTable.builtin().family("imaging-guidance")}
    assert {c.code for c in CptTable.builtin() if builtin_vs.contains(GUIDANCE_VS, CPT, c.code)} == family


def test_get_returns_a_copy(builtin_vs: ValueSets) -> None:
    vs = builtin_vs.get("cpt-imaging-guidance")
    assert vs["url"] == GUIDANCE_VS
    vs["compose"]["include"][0]["concept"].append({"code": "49406"})
    assert not builtin_vs.contains(GUIDANCE_VS, CPT, "49406")


def test_builtin_guidance_conceptmap() -> None:
    cms = ConceptMaps.builtin()
    assert [t.code for t in cms.translate(GUIDANCE_CM, CPT, "76942")] == ["US"]
    assert [t.code for t in cms.translate("guidance-cpt-to-modality", CPT, "77003")] == ["RF"]
    assert [t.code for t in cms.translate(GUIDANCE_CM, None, "77012")] == ["CT"]
    assert [t.code for t in cms.translate(GUIDANCE_CM, CPT, "77021")] == ["MR"]
    any_modality = cms.translate(GUIDANCE_CM, CPT, "75989")
    assert {t.code for t in any_modality} == {"US", "RF", "CT"}
    assert all(t.system == DICOM and t.equivalence == "relatedto" for t in any_modality)
    assert cms.translate(GUIDANCE_CM, CPT, "49406") == []
    assert cms.translate(GUIDANCE_CM, ICD10CM, "76942") == []
    assert cms.get(GUIDANCE_CM)["sourceCanonical"] == GUIDANCE_VS


def test_builtin_codesystems_give_hierarchy() -> None:
    cs = CodeSystems.builtin()
    assert "catheter-drainage" in cs.codes(f"{BASE}/CodeSystem/cpt-family")
    assert "distinct" in cs.codes("modifier-category")


# -- ICD-10-CM filters ---------------------------------------------------------------------------


def test_valueset_is_a_with_icd(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dx.json",
        valueset(
            "drainage-dx",
            {
                "include": [
                    {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "K65"}]},
                    {
                        "system": ICD10CM,
                        "filter": [{"property": "concept", "op": "is-a", "value": "C15-C26"}],
                    },
                    {"system": ICD10CM, "concept": [{"code": "N73.3"}, {"code": "L7634"}]},
                ],
                "exclude": [{"system": ICD10CM, "concept": [{"code": "K65.0"}]}],
            },
        ),
    )
    vs = ValueSets.load_dir(tmp_path)
    assert vs.contains("drainage-dx", ICD10CM, "K65.1")
    assert vs.contains("drainage-dx", ICD10CM, "K651")  # no dot
    assert vs.contains("drainage-dx", ICD10CM, "k65")  # the category itself (is-a includes self)
    assert not vs.contains("drainage-dx", ICD10CM, "K65.0")  # excluded
    assert vs.contains("drainage-dx", ICD10CM, "C25.0")  # under the block C15-C26
    assert not vs.contains("drainage-dx", ICD10CM, "C61")
    assert vs.contains("drainage-dx", ICD10CM, "N73.3")
    assert vs.contains("drainage-dx", ICD10CM, "L76.34")
    assert vs.contains("drainage-dx", None, "K65.1")
    assert not vs.contains("drainage-dx", SNOMED, "K65.1")


def test_unknown_icd_code_in_valueset_names_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bad.json",
        valueset("bad", {"include": [{"system": ICD10CM, "concept": [{"code": "K65.99"}]}]}),
    )
    with pytest.raises(
        TerminologyDataError, match=r"bad\.json: ValueSet\.compose\.include\[0\]\.concept\[0\]: 'K65.99'"
    ):
        ValueSets.load_dir(tmp_path)


def test_unknown_icd_filter_value_names_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "f.json",
        valueset(
            "f",
            {
                "include": [
                    {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "K6X"}]}
                ]
            },
        ),
    )
    with pytest.raises(TerminologyDataError, match=r"f\.json: .*filter\[0\]: 'K6X' is not an ICD-10-CM"):
        ValueSets.load_dir(tmp_path)


# -- what the evaluator does not read is refused at load time --------------------------------------


@pytest.mark.parametrize(
    ("include", "words"),
    [
        (
            {"system": ICD10CM, "filter": [{"property": "concept", "op": "descendent-of", "value": "K65"}]},
            "filter 'concept' 'descendent-of' is not supported",
        ),
        (
            {"system": CPT, "filter": [{"property": "code", "op": "regex", "value": "7700[23]"}]},
            "filter 'code' 'regex' is not supported",
        ),
        (
            {"system": CPT, "filter": [{"property": "concept", "op": "in", "value": "49405,49406"}]},
            "filter 'concept' 'in' is not supported",
        ),
        (
            {"system": SNOMED, "filter": [{"property": "concept", "op": "is-a", "value": "82849001"}]},
            "is-a needs a hierarchy, which is known only for ICD-10-CM",
        ),
        (
            {
                "system": f"{BASE}/CodeSystem/cpt-family",
                "filter": [{"property": "concept", "op": "is-a", "value": "drainage"}],
            },
            "is-a needs a hierarchy, which is known only for ICD-10-CM",
        ),
    ],
)
def test_filters_other_than_icd_is_a_are_refused(tmp_path: Path, include: dict[str, Any], words: str) -> None:
    write(tmp_path, "f.json", valueset("f", {"include": [include]}))
    with pytest.raises(
        TerminologyDataError, match=rf"f\.json: ValueSet\.compose\.include\[0\]\.filter\[0\]: {words}"
    ):
        ValueSets.load_dir(tmp_path, codesystems=CodeSystems.builtin())


def test_expansion_only_valueset_is_refused(tmp_path: Path) -> None:
    vs_json = valueset("exp", {})
    del vs_json["compose"]
    vs_json["expansion"] = {
        "timestamp": "2026-01-01T00:00:00Z",
        "contains": [{"system": CPT, "code": "49406"}],
    }
    write(tmp_path, "exp.json", vs_json)
    with pytest.raises(TerminologyDataError, match=r"exp\.json: ValueSet .* has no compose"):
        ValueSets.load_dir(tmp_path)


# -- references -------------------------------------------------------------------------------------


def test_unsupported_filter_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "x.json",
        valueset(
            "x",
            {
                "include": [
                    {"system": ICD10CM, "filter": [{"property": "billable", "op": "=", "value": "true"}]}
                ]
            },
        ),
    )
    with pytest.raises(TerminologyDataError, match=r"x\.json: .*filter 'billable' '=' is not supported"):
        ValueSets.load_dir(tmp_path)


def test_valueset_references(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.json",
        valueset(
            "drains",
            {
                "include": [
                    {"system": CPT, "concept": [{"code": c} for c in ("10030", "49405", "49406", "49407")]}
                ]
            },
        ),
    )
    write(
        tmp_path,
        "b.json",
        valueset(
            "percutaneous",
            {
                "include": [
                    {"system": CPT, "concept": [{"code": c} for c in ("10030", "49405", "49406", "49411")]}
                ]
            },
        ),
    )
    write(
        tmp_path,
        "c.json",
        valueset(
            "both",
            {
                "include": [{"valueSet": [f"{BASE}/ValueSet/drains", f"{BASE}/ValueSet/percutaneous"]}],
                "exclude": [{"system": CPT, "concept": [{"code": "10030"}]}],
            },
        ),
    )
    vs = ValueSets.load_dir(tmp_path)
    assert vs.contains("both", CPT, "49406")
    assert not vs.contains("both", CPT, "49407")  # only in one of the two
    assert not vs.contains("both", CPT, "10030")  # excluded
    assert vs.contains("both", CPT, "49405")


def test_missing_reference_and_loop_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.json", valueset("a", {"include": [{"valueSet": [f"{BASE}/ValueSet/nowhere"]}]}))
    with pytest.raises(
        TerminologyDataError, match=r"a\.json: ValueSet '.*nowhere' is referenced but not loaded"
    ):
        ValueSets.load_dir(tmp_path)
    write(tmp_path, "a.json", valueset("a", {"include": [{"valueSet": [f"{BASE}/ValueSet/b"]}]}))
    write(tmp_path, "b.json", valueset("b", {"include": [{"valueSet": [f"{BASE}/ValueSet/a"]}]}))
    with pytest.raises(TerminologyDataError, match="references loop"):
        ValueSets.load_dir(tmp_path)


# -- broken files ----------------------------------------------------------------------------------


def test_broken_json_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "broken.json", '{\n  "resourceType": "ValueSet",\n  "url": oops\n}')
    with pytest.raises(TerminologyDataError, match=r"broken\.json: line 3 column \d+: not valid JSON"):
        ValueSets.load_dir(tmp_path)


def test_invalid_valueset_names_file_and_element(tmp_path: Path) -> None:
    write(
        tmp_path,
        "invalid.json",
        valueset("invalid", {"include": [{"system": CPT, "concept": [{"code": 49406, "colour": "red"}]}]}),
    )
    with pytest.raises(TerminologyDataError) as err:
        ValueSets.load_dir(tmp_path)
    msg = str(err.value)
    assert "invalid.json" in msg and "not a valid FHIR ValueSet" in msg
    assert "ValueSet.compose.include[0].concept[0].code" in msg


@pytest.mark.parametrize(
    ("resource", "words"),
    [
        (
            {"resourceType": "CodeSystem", "status": "active", "content": "complete", "url": "x"},
            "expected 'ValueSet'",
        ),
        ([1, 2], "expected a JSON object"),
        (
            {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{"system": CPT}]}},
            "url is required",
        ),
    ],
)
def test_wrong_content_names_file(tmp_path: Path, resource: Any, words: str) -> None:
    write(tmp_path, "odd.json", json.dumps(resource))
    with pytest.raises(TerminologyDataError, match=rf"odd\.json: .*{words}"):
        ValueSets.load_dir(tmp_path)


def test_duplicate_url_names_both_files(tmp_path: Path) -> None:
    write(
        tmp_path, "one.json", valueset("same", {"include": [{"system": CPT, "concept": [{"code": "49406"}]}]})
    )
    write(
        tmp_path, "two.json", valueset("same", {"include": [{"system": CPT, "concept": [{"code": "49407"}]}]})
    )
    with pytest.raises(TerminologyDataError, match=r"two\.json: ValueSet url .* also used by .*one\.json"):
        ValueSets.load_dir(tmp_path)


def test_missing_folder() -> None:
    with pytest.raises(TerminologyDataError, match="no such folder"):
        ValueSets.load_dir(data_dir("terminology") / "does-not-exist")


# -- ConceptMaps -------------------------------------------------------------------------------------

APPROACH = f"{BASE}/property/approach"


def test_conceptmap_depends_on_r4(tmp_path: Path) -> None:
    write(
        tmp_path,
        "route.json",
        conceptmap(
            "drain-route",
            [
                {
                    "source": ICD10CM,
                    "target": CPT,
                    "element": [
                        {
                            "code": "K65.1",
                            "target": [
                                {
                                    "code": "49406",
                                    "equivalence": "wider",
                                    "dependsOn": [{"property": APPROACH, "value": "percutaneous"}],
                                },
                                {
                                    "code": "49407",
                                    "equivalence": "wider",
                                    "dependsOn": [{"property": APPROACH, "value": "transvaginal"}],
                                },
                                {"code": "49020", "equivalence": "inexact"},
                                {"code": "10030", "equivalence": "disjoint"},
                            ],
                        }
                    ],
                }
            ],
        ),
    )
    cms = ConceptMaps.load_dir(tmp_path)
    got = cms.translate("drain-route", ICD10CM, "K651", {APPROACH: "transvaginal"})
    assert [t.code for t in got] == ["49407", "49020"]
    assert got[0].depends_on == {APPROACH: "transvaginal"}
    assert got[0].equivalence == "wider"
    assert got[0].system == CPT
    # without the condition only the unconditional target answers; 'disjoint' is never an answer
    assert [t.code for t in cms.translate("drain-route", ICD10CM, "K65.1")] == ["49020"]
    assert [t.code for t in cms.translate("drain-route", ICD10CM, "K65.1", {APPROACH: "open"})] == ["49020"]


def test_conceptmap_without_equivalence_names_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "cm.json",
        conceptmap(
            "cm",
            [{"source": CPT, "target": DICOM, "element": [{"code": "76942", "target": [{"code": "US"}]}]}],
        ),
    )
    with pytest.raises(TerminologyDataError, match=r"cm\.json: not a valid FHIR ConceptMap: .*equivalence"):
        ConceptMaps.load_dir(tmp_path)


def test_conceptmap_r5_relationship_is_refused(tmp_path: Path) -> None:
    target = {"code": "US", "relationship": "related-to"}
    write(
        tmp_path,
        "r5.json",
        conceptmap(
            "r5-map", [{"source": CPT, "target": DICOM, "element": [{"code": "76942", "target": [target]}]}]
        ),
    )
    with pytest.raises(TerminologyDataError, match=r"r5\.json: .*target\[0\] needs an equivalence"):
        ConceptMaps.load_dir(tmp_path)


def test_conceptmap_unmapped_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "cm.json",
        conceptmap(
            "cm",
            [
                {
                    "source": CPT,
                    "target": DICOM,
                    "element": [{"code": "76942", "target": [{"code": "US", "equivalence": "relatedto"}]}],
                    "unmapped": {"mode": "provided"},
                }
            ],
        ),
    )
    with pytest.raises(
        TerminologyDataError, match=r"cm\.json: ConceptMap\.group\[0\]\.unmapped is not supported"
    ):
        ConceptMaps.load_dir(tmp_path)
