"""End-to-end and data checks of the image-guided drainage rules (DRN001–DRN007).

The per-rule pass/fail cases live in ``tests/rules/cases/DRN*.yml``; here: behaviour that needs a
loaded CMS PTP file, the machine-readable fixes, the consistency of the shipped drainage data, the
loaders' error messages and the example in ``examples/drainage``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest

from builders import build
from fhirplugin.engine import Engine
from fhirplugin.fhir.case import CPT
from fhirplugin.fhir.extract import APPROACH_SYSTEM
from fhirplugin.resources import data_dir
from fhirplugin.rules.drainage import data
from fhirplugin.tx.store import Terminology, default_terminology

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "drainage"
TAG = re.compile(r"\[(V|V-3p|I|M)\]")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _findings(engine: Engine, spec: dict, version: str = "R4", rule: str | None = None):
    results = engine.check_bytes(orjson.dumps(build(spec, version)), fhir_version=version)
    return [f for r in results for f in r.findings if rule is None or f.rule_id == rule]


# ------------------------------------------------------------------ DRN001 with a CMS PTP file
PTP_HEADER = (
    "CPT codes and their descriptors are property of the American Medical Association.\r\n"
    "Column1/Column2 Edits\r\n"
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
)


def _engine_with_ptp(tmp_path: Path, row: str) -> Engine:
    path = tmp_path / "ccipra-test-f1.txt"
    path.write_bytes((PTP_HEADER + row + "\r\n").encode("cp1252"))
    return Engine(tx=Terminology.load(ptp_paths=[path]))


GUIDED = {
    "claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}, {"code": "76942", "dx": [1]}]}
}


def _with_guidance_modifiers(mods: list[str]) -> dict:
    spec = json.loads(json.dumps(GUIDED))
    spec["claim"]["lines"][1]["modifiers"] = mods
    return spec


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_indicator_1_pair_with_bypass_modifier_is_a_warning(tmp_path: Path, version: str) -> None:
    eng = _engine_with_ptp(
        tmp_path, "49406\t76942\t\t20140101\t*\t1\tCPT Manual or CMS manual coding instruction"
    )
    [f] = _findings(eng, _with_guidance_modifiers(["XS"]), version, "DRN001")
    assert f.severity.value == "warning"
    assert f.expression == ["Claim.item[1].productOrService.coding[0]"]
    assert "different procedure" in f.text and "XS" in f.text
    assert f.fix == {"action": "delete-line", "path": "Claim.item[1]"}
    assert "modifier indicator 1" in (f.diagnostics or "")
    assert not f.unverified  # the row came from a CMS-format file, not from the built-in inference


@pytest.mark.parametrize(
    ("mods", "row"),
    [
        ([], "49406\t76942\t\t20140101\t*\t1\tCPT Manual or CMS manual coding instruction"),
        # 76 is not an NCCI PTP-associated modifier
        (["76"], "49406\t76942\t\t20140101\t*\t1\tCPT Manual or CMS manual coding instruction"),
        # indicator 0: no modifier bypasses
        (["XS"], "49406\t76942\t\t20140101\t*\t0\tCPT Manual or CMS manual coding instruction"),
        # the edit was deleted before the date of service: the CPT instruction still stands
        (["XS"], "49406\t76942\t\t20140101\t20200101\t1\tCPT Manual or CMS manual coding instruction"),
    ],
)
def test_guidance_stays_an_error_without_a_bypassable_edit(tmp_path: Path, mods: list[str], row: str) -> None:
    eng = _engine_with_ptp(tmp_path, row)
    [f] = _findings(eng, _with_guidance_modifiers(mods), "R4", "DRN001")
    assert f.severity.value == "error"
    assert f.fix == {"action": "delete-line", "path": "Claim.item[1]"}


def test_guidance_order_fix_deletes_the_order(engine: Engine) -> None:
    spec = {"orders": [{"code": "49407", "reasons": ["N73.0"]}, {"code": "76942", "reasons": ["N73.0"]}]}
    [f] = _findings(engine, spec, "R5", "DRN001")
    assert f.fix == {"action": "delete-line", "path": "Bundle.entry[1].resource"}
    assert f.expression == ["Bundle.entry[1].resource.code.concept.coding[0]"]


def test_guidance_of_another_patient_is_not_flagged(engine: Engine) -> None:
    spec = {
        "orders": [
            {"code": "49407", "reasons": ["N73.0"]},
            {"code": "76942", "reasons": ["N73.0"], "patient": "Patient/other"},
        ]
    }
    assert _findings(engine, spec, "R4", "DRN001") == []


# ------------------------------------------------------------------ DRN004 fixes
def test_site_code_single_expected_code_has_replace_fix(engine: Engine) -> None:
    spec = {
        "claim": {
            "diagnoses": ["K68.19"],
            "lines": [{"code": "49406", "dx": [1], "site": "82849001", "approach": "transvaginal"}],
        }
    }
    [f] = _findings(engine, spec, "R4", "DRN004")
    assert f.fix == {
        "action": "replace-code",
        "path": "Claim.item[0].productOrService.coding[0]",
        "from": "49406",
        "to": "49407",
        "system": CPT,
    }
    assert not f.unverified  # retroperitoneum and the transvaginal target are both verified facts


def test_site_code_several_expected_codes_no_fix_and_unverified_class(engine: Engine) -> None:
    spec = {"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "10030", "dx": [1], "site": "53843000"}]}}
    [f] = _findings(engine, spec, "R4", "DRN004")
    assert f.fix is None
    assert "49406" in f.text and "49407" in f.text
    assert f.unverified  # the rectouterine pouch → pelvic class is an inference


def test_contradictory_approach_decides_nothing(engine: Engine) -> None:
    spec = {
        "claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1], "approach": "transrectal"}]},
        "procedures": [
            {"code": "49406", "approach": "transvaginal", "devices": ["implanted"], "report": True}
        ],
    }
    assert _findings(engine, spec, "R4", "DRN004") == []


def test_approach_facts() -> None:
    assert data.approach_facts([]) == {}
    assert data.approach_facts(["percutaneous"]) == {"approach": "percutaneous"}
    assert data.approach_facts(["Percutaneous", "transvaginal"]) == {"approach": "transvaginal"}
    assert data.approach_facts(["open", "transrectal"]) == {"approach": "open", "route": "transrectal"}
    assert data.approach_facts(["open", "percutaneous"]) is None
    assert data.approach_facts(["transvaginal", "transrectal"]) is None


# ------------------------------------------------------------------ the shipped data
def test_drainage_and_guidance_codes_are_known() -> None:
    tx = default_terminology()
    for code in data.drainage_codes():
        assert tx.cpt.get(code) is not None, code
    for drain, guide in data.guidance_pairs():
        assert drain in data.drainage_codes()
        assert tx.valuesets.contains("cpt-imaging-guidance", CPT, guide), guide
    # every drainage code is paired with every imaging-guidance code
    guidance = {c.code for c in tx.cpt if tx.valuesets.contains("cpt-imaging-guidance", CPT, c.code)}
    assert set(data.guidance_pairs()) == {(d, g) for d in data.drainage_codes() for g in guidance}


def test_guidance_pairs_match_the_reference(shared: Path) -> None:
    text = (shared / "reference" / "coding-rules.md").read_text(encoding="utf-8")
    line = next(
        ln for ln in text.splitlines() if ln.startswith("- Do not report 10030/49405/49406/49407 with")
    )
    guidance = set(re.findall(r"\b7\d{4}\b", line))
    assert guidance == {"75989", "76942", "77002", "77003", "77012", "77021"}
    assert {g for _, g in data.guidance_pairs()} == guidance
    for drain in ("10030", "49405", "49406", "49407"):
        assert all((drain, g) in data.guidance_pairs() for g in guidance)


def test_code_table_links_resolve() -> None:
    tx = default_terminology()
    site_classes = json.loads((data_dir("terminology") / "drainage" / "drainage-site-class.json").read_text())

    def walk(concepts):
        for c in concepts:
            yield c["code"]
            yield from walk(c.get("concept", []))

    known_classes = set(walk(site_classes["concept"]))
    for dc in data.drainage_codes().values():
        assert dc.dx_valueset in tx.valuesets, dc.dx_valueset
        assert dc.site_class in known_classes
        for code in (*dc.aspiration_codes, *dc.aspiration_guidance):
            assert tx.cpt.get(code) is not None, code
    for mod in data.modifier_uses():
        assert tx.modifiers.is_valid(mod), mod


def test_conceptmaps_are_tagged_and_point_at_known_codes() -> None:
    tx = default_terminology()
    site_map = tx.conceptmaps.get(data.SITE_MAP)
    code_map = tx.conceptmaps.get(data.CODE_MAP)
    classes = {el["code"] for el in code_map["group"][0]["element"]}
    for group in site_map["group"]:
        for el in group["element"]:
            for t in el["target"]:
                assert TAG.search(t.get("comment", "")), (el["code"], t)
                if group["target"] == data.SITE_CLASS_SYSTEM and t["equivalence"] != "unmatched":
                    assert t["code"] in classes, t["code"]
                elif group["target"] == APPROACH_SYSTEM:
                    assert t["code"] in data.ROUTES
    for el in code_map["group"][0]["element"]:
        for t in el["target"]:
            assert TAG.search(t["comment"]), (el["code"], t)
            assert tx.cpt.get(t["code"]) is not None, t["code"]
            for dep in t.get("dependsOn", []):
                assert dep["property"] in ("approach", "route")


def test_diagnosis_valuesets_tag_every_include() -> None:
    folder = data_dir("terminology") / "valuesets"
    for path in sorted(folder.glob("drainage-dx-*.json")):
        vs = json.loads(path.read_text())
        for inc in vs["compose"]["include"]:
            if "system" in inc:
                [ext] = inc["extension"]
                assert TAG.search(ext["valueString"]), (path.name, inc)


@pytest.mark.parametrize(
    ("vs", "yes", "no"),
    [
        (
            "drainage-dx-peritoneal",
            ["K65.1", "K68.19", "N73.0", "T81.43XA", "N83.201", "K61.5"],
            ["R10.9", "L02.211", "K75.0"],
        ),
        ("drainage-dx-visceral", ["K75.0", "K86.3", "N15.1", "T81.43XA"], ["K65.1", "L02.211"]),
        ("drainage-dx-soft-tissue", ["L02.211", "L76.34", "T81.41XA"], ["K65.1", "T81.43XA", "R50.9"]),
    ],
)
def test_diagnosis_valuesets(vs: str, yes: list[str], no: list[str]) -> None:
    tx = default_terminology()
    from fhirplugin.fhir.case import ICD10CM

    assert all(tx.valuesets.contains(vs, ICD10CM, c) for c in yes), [
        c for c in yes if not tx.valuesets.contains(vs, ICD10CM, c)
    ]
    assert not any(tx.valuesets.contains(vs, ICD10CM, c) for c in no)
