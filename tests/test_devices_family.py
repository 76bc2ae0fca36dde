"""End-to-end and data checks of the device placement rules (DEV001–DEV006: 49411, 49412).

The per-rule pass/fail cases live in ``tests/rules/cases/DEV*.yml``; here: the machine-readable fixes
applied the way the CDS Hooks service applies them, behaviour that needs a loaded CMS PTP file or two
claims in one Bundle, the seed-002 modifier "11", the consistency of the shipped device data, the
loaders' error messages, the rule documentation and the example in ``examples/devices``.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from builders import build
from fhirplugin.engine import Engine
from fhirplugin.fhir.case import CPT, ICD10CM, SNOMED
from fhirplugin.fhir.extract import APPROACH_SYSTEM
from fhirplugin.resources import data_dir
from fhirplugin.rules import REGISTRY
from fhirplugin.rules.base import DOC_SECTIONS
from fhirplugin.rules.devices import data
from fhirplugin.rules.templates.addon import judge_primary
from fhirplugin.service.fixes import apply, locate
from fhirplugin.tx.store import Terminology, default_terminology

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "devices"
TERMINOLOGY = data_dir("terminology")
TAG = re.compile(r"\[(V|V-3p|I|M)\]")
SEED_002 = "002_8dafaa6a1b2c017b.txt"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _check(engine: Engine, resource: dict, version: str = "R4", rule: str | None = None):
    results = engine.check_bytes(orjson.dumps(resource), fhir_version=version)
    return [f for r in results for f in r.findings if rule is None or f.rule_id == rule]


def _findings(engine: Engine, spec: dict, version: str = "R4", rule: str | None = None):
    return _check(engine, build(spec, version), version, rule)


def _apply(fix: dict, submitted: dict):
    """Apply a finding's fix to the submitted resource (or Bundle entry) like the CDS service does."""
    idx, segs = locate(fix["path"])
    target = submitted if idx is None else submitted["entry"][idx]["resource"]
    return apply(fix, target, segs)


# ------------------------------------------------------------------ DEV001 fixes
@pytest.mark.parametrize("version", ["R4", "R5"])
def test_units_fix_sets_one_unit(engine: Engine, version: str) -> None:
    spec = {"claim": {"diagnoses": ["C25.0"], "lines": [{"code": "49411", "units": 3, "dx": [1]}]}}
    claim = build(spec, version)
    [f] = _check(engine, claim, version, "DEV001")
    assert f.fix == {"action": "set-units", "path": "Claim.item[0].quantity", "value": 1}
    action = _apply(f.fix, claim)
    assert action.resource["item"][0]["quantity"] == {"value": 1}
    assert claim["item"][0]["quantity"] == {"value": 3}  # the draft itself is untouched


def test_order_quantity_fix_and_extra_order_fix(engine: Engine) -> None:
    spec = {
        "orders": [
            {"code": "49411", "units": 2, "reasons": ["C25.0"]},
            {"code": "49411", "reasons": ["C25.0"]},
        ]
    }
    bundle = build(spec, "R5")
    units, extra = sorted(_check(engine, bundle, "R5", "DEV001"), key=lambda f: f.expression)
    assert units.fix == {
        "action": "set-units",
        "path": "Bundle.entry[0].resource.quantityQuantity",
        "value": 1,
    }
    assert _apply(units.fix, bundle).resource["quantityQuantity"]["value"] == 1
    assert extra.fix == {"action": "delete-line", "path": "Bundle.entry[1].resource"}
    action = _apply(extra.fix, bundle)
    assert (action.type, action.resource_id) == ("delete", "ServiceRequest/sr2")


def test_extra_line_on_another_claim_of_the_same_session(engine: Engine) -> None:
    """Two claims in one Bundle, same patient, provider and date: the later 49411 line is the extra one."""
    first = build({"claim": {"id": "c1", "diagnoses": ["C25.0"], "lines": [{"code": "49411", "dx": [1]}]}})
    second = build({"claim": {"id": "c2", "diagnoses": ["C25.0"], "lines": [{"code": "49411", "dx": [1]}]}})
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": first}, {"resource": second}],
    }
    [f] = _check(engine, bundle, "R4", "DEV001")
    assert f.expression == ["Bundle.entry[1].resource.item[0]"]
    assert f.fix == {"action": "delete-line", "path": "Bundle.entry[1].resource.item[0]"}
    # another provider is another session
    second["provider"] = {"reference": "Practitioner/other"}
    assert _check(engine, bundle, "R4", "DEV001") == []


# ------------------------------------------------------------------ DEV002 fixes and decisions
@pytest.mark.parametrize("version", ["R4", "R5"])
def test_prostate_order_fix_replaces_the_code(engine: Engine, version: str) -> None:
    bundle = build({"orders": [{"code": "49411", "site": "41216001", "reasons": ["C61"]}]}, version)
    [f] = _check(engine, bundle, version, "DEV002")
    path = "Bundle.entry[0].resource.code" + (".concept" if version == "R5" else "") + ".coding[0]"
    assert f.fix == {"action": "replace-code", "path": path, "from": "49411", "to": "55876", "system": CPT}
    assert not f.unverified  # prostate site and 55876 are both verified facts
    action = _apply(f.fix, bundle)
    coding = action.resource["code"]["concept" if version == "R5" else "coding"]
    coding = coding["coding"] if version == "R5" else coding
    assert coding[0] == {"system": CPT, "code": "55876"}


def test_decide_code_paths() -> None:
    tx = default_terminology()
    dc = data.device_codes()["49411"]
    bundle = build(
        {"claim": {"diagnoses": ["C61"], "lines": [{"code": "49411", "dx": [1], "approach": "open"}]}}
    )
    from fhirplugin.fhir.extract import read_submission

    line = read_submission(bundle, "Claim", "R4").lines()[0]
    decision = data.decide_code(tx, line, dc)
    # the diagnosis places the target in the prostate; 55876 fits any approach, open included
    assert decision is not None and list(decision.expected) == ["55876"]
    assert decision.evidence == ["Claim.diagnosis[0].diagnosisCodeableConcept.coding[0]"]
    assert "diagnosis C61 (prostate) and approach open" in decision.basis


def test_several_approaches_decide_nothing(engine: Engine) -> None:
    spec = {
        "claim": {"diagnoses": ["C61"], "lines": [{"code": "49411", "dx": [1], "approach": "open"}]},
        "procedures": [{"code": "49411", "approach": "percutaneous", "site": "41216001", "imaging": "US"}],
    }
    assert _findings(engine, spec, "R4", "DEV002") == []


def test_lung_site_with_thoracoscopic_approach_is_not_guessed(engine: Engine) -> None:
    """The map has no open or laparoscopic target for the chest: no code is proposed."""
    spec = {
        "claim": {
            "diagnoses": ["C34.11"],
            "lines": [{"code": "49411", "dx": [1], "site": "39607008", "approach": "open"}],
        }
    }
    assert _findings(engine, spec, "R4", "DEV002") == []


# ------------------------------------------------------------------ DEV003
def test_primary_on_another_claim_of_the_session_counts(engine: Engine) -> None:
    surgery = build({"claim": {"id": "c1", "diagnoses": ["C18.7"], "lines": [{"code": "44140", "dx": [1]}]}})
    add_on = build({"claim": {"id": "c2", "diagnoses": ["C18.7"], "lines": [{"code": "49412", "dx": [1]}]}})
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": surgery}, {"resource": add_on}],
    }
    assert _check(engine, bundle, "R4", "DEV003") == []
    surgery["patient"] = {"reference": "Patient/someone-else"}
    [f] = _check(engine, bundle, "R4", "DEV003")
    assert f.expression == ["Bundle.entry[1].resource.item[0].productOrService.coding[0]"]


def test_conflict_fix_deletes_the_line_that_does_not_fit(engine: Engine) -> None:
    spec = {
        "claim": {
            "diagnoses": ["C18.7"],
            "lines": [
                {"code": "44140", "dx": [1]},
                {"code": "49411", "dx": [1]},
                {"code": "49412", "dx": [1]},
            ],
        }
    }
    claim = build(spec)
    [f] = _check(engine, claim, "R4", "DEV003")
    assert f.fix == {"action": "delete-line", "path": "Claim.item[1]"}
    action = _apply(f.fix, claim)
    assert [i["productOrService"]["coding"][0]["code"] for i in action.resource["item"]] == ["44140", "49412"]


def test_judge_primary() -> None:
    from fhirplugin.fhir.extract import read_submission

    tx = default_terminology()
    spec = {
        "claim": {
            "lines": [
                {"code": "49020"},  # known open procedure
                {"code": "44140", "approach": "laparoscopic"},
                {"code": "44140", "approach": "open"},
                {"code": "49406"},  # image-guided drainage
                {"code": "77002"},  # add-on
                {"code": "99213"},  # outside the Surgery section
                {"code": "A4648", "system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"},
            ]
        }
    }
    lines = read_submission(build(spec), "Claim", "R4").lines()
    scope = REGISTRY["DEV003"].scope
    got = [judge_primary(tx, line, data.primary_criteria(), scope) for line in lines]
    assert [j.counts for j in got] == [True, False, True, False, False, False, False]
    assert got[0].verified and got[2].verified  # open [V]
    assert not got[3].verified and not got[5].verified  # family [I], range [M]


# ------------------------------------------------------------------ DEV004 with a CMS PTP file
PTP_HEADER = (
    "CPT codes and their descriptors are property of the American Medical Association.\r\n"
    "Column1/Column2 Edits\r\n"
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
)
OPEN_WITH_US = {
    "claim": {
        "diagnoses": ["C18.7"],
        "lines": [{"code": "44140", "dx": [1]}, {"code": "49412", "dx": [1]}, {"code": "76942", "dx": [1]}],
    }
}


def _engine_with_ptp(tmp_path: Path, row: str) -> Engine:
    path = tmp_path / "ccipra-test-f1.txt"
    path.write_bytes((PTP_HEADER + row + "\r\n").encode("cp1252"))
    return Engine(tx=Terminology.load(ptp_paths=[path]))


@pytest.mark.parametrize(
    ("indicator", "mods", "severity"),
    [("1", ["XS"], "warning"), ("1", [], "error"), ("0", ["XS"], "error"), ("1", ["76"], "error")],
)
def test_guidance_with_ptp_row(tmp_path: Path, indicator: str, mods: list[str], severity: str) -> None:
    eng = _engine_with_ptp(
        tmp_path, f"49412\t76942\t\t20090101\t*\t{indicator}\tCPT Manual or CMS manual coding instruction"
    )
    spec = copy.deepcopy(OPEN_WITH_US)
    spec["claim"]["lines"][2]["modifiers"] = mods
    [f] = _findings(eng, spec, "R4", "DEV004")
    assert f.severity.value == severity
    assert f.fix == {"action": "delete-line", "path": "Claim.item[2]"}
    assert f"modifier indicator {indicator}" in (f.diagnostics or "")


def test_guidance_with_49411_stays_silent_even_with_a_ptp_file(tmp_path: Path) -> None:
    """DEV004 reads only its own pairs; a PTP row is the generic NCCI rule's business, not this one's."""
    eng = _engine_with_ptp(tmp_path, "49411\t77012\t\t20090101\t*\t1\tMisuse of column two code")
    spec = {
        "claim": {
            "diagnoses": ["C25.0"],
            "lines": [{"code": "49411", "dx": [1]}, {"code": "77012", "dx": [1]}],
        }
    }
    assert _findings(eng, spec, "R4", "DEV004") == []


# ------------------------------------------------------------------ seed 002: modifier "11"
def _seed_modifiers(shared: Path) -> list[str]:
    path = shared / "seeds" / SEED_002
    if not path.is_file():
        pytest.skip(f"seed {SEED_002} is not present")
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| Modifier |"))
    out = []
    for ln in lines[start + 2 :]:
        cell = ln.strip().strip("|").split("|")[0].strip()
        if not cell:
            break
        out.append(cell)
    return out


def test_seed_002_modifier_11_is_flagged_by_gen005(engine: Engine, shared: Path) -> None:
    mods = _seed_modifiers(shared)
    assert mods == ["11"]  # the seed's only modifier row
    spec = {"claim": {"diagnoses": ["C25.0"], "lines": [{"code": "49411", "dx": [1], "modifiers": mods}]}}
    for version in ("R4", "R5"):
        found = _findings(engine, spec, version)
        [gen] = [f for f in found if f.rule_id == "GEN005"]
        assert gen.severity.value == "error"
        assert gen.expression == ["Claim.item[0].modifier[0].coding[0]"]
        assert "11" in gen.text
        assert not [f for f in found if f.rule_id.startswith("DEV")]  # a clean 49411 line otherwise


def test_modifier_11_is_in_no_data() -> None:
    tx = default_terminology()
    assert not tx.modifiers.is_valid("11")
    with (TERMINOLOGY / "modifiers" / "modifiers.csv").open(encoding="utf-8") as fh:
        assert "11" not in {row["code"] for row in csv.DictReader(fh)}
    # the device tables carry no modifier at all
    for path in sorted((TERMINOLOGY / "devices").glob("*.csv")):
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert "modifier" not in header, path.name


# ------------------------------------------------------------------ the shipped data
def _header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_guidance_pairs() -> None:
    tx = default_terminology()
    pairs = data.guidance_pairs()
    assert set(pairs) == {("49412", g) for g in ("76942", "77002", "77012", "77021")}
    assert all(p.primary != "49411" for p in pairs.values())  # reported separately with 49411
    for (primary, guide), pair in pairs.items():
        assert primary in data.device_codes()
        assert tx.valuesets.contains("cpt-imaging-guidance", CPT, guide), guide
        assert pair.verified and TAG.search(pair.note)


def test_code_table_links_resolve() -> None:
    tx = default_terminology()
    regions = data.region_displays()
    approaches = _codes(TERMINOLOGY / "codesystems" / "approach.json")
    assert set(data.device_codes()) == {"49411", "49412"}
    for dc in data.device_codes().values():
        assert tx.cpt.get(dc.code) is not None
        assert dc.dx_valueset in tx.valuesets
        assert dc.region in regions
        assert dc.approach in approaches
        assert dc.one_unit
    assert tx.cpt.get("49412").add_on and not tx.cpt.get("49411").add_on


def _codes(path: Path) -> set[str]:
    def walk(concepts):
        for c in concepts:
            yield c["code"]
            yield from walk(c.get("concept", []))

    return set(walk(json.loads(path.read_text(encoding="utf-8"))["concept"]))


def test_open_primary_criteria_point_at_known_codes() -> None:
    approaches = _codes(TERMINOLOGY / "codesystems" / "approach.json")
    families = _codes(TERMINOLOGY / "codesystems" / "cpt-family.json")
    criteria = data.primary_criteria()
    assert [c.value for c in criteria if c.criterion == "approach" and c.counts] == ["open"]
    for c in criteria:
        if c.criterion == "approach":
            assert c.value in approaches, c.value
        elif c.criterion == "family":
            assert c.value in families and not c.counts, c.value
        # verified exactly when the note carries no memory/inference tag
        assert TAG.search(c.note), c
        assert c.verified == (not data.is_unverified(c.note)), c


def test_conceptmap_is_tagged_and_points_at_known_codes() -> None:
    tx = default_terminology()
    cm = tx.conceptmaps.get(data.SITE_MAP)
    regions = set(data.region_displays())
    approaches = _codes(TERMINOLOGY / "codesystems" / "approach.json")
    groups = {(g["source"], g["target"]): g for g in cm["group"]}
    assert set(groups) == {
        (SNOMED, data.REGION_SYSTEM),
        (ICD10CM, data.REGION_SYSTEM),
        (data.REGION_SYSTEM, CPT),
    }
    for (source, target), group in groups.items():
        for el in group["element"]:
            if source == ICD10CM:
                assert tx.icd.is_valid(el["code"]), el["code"]
            if source == data.REGION_SYSTEM:
                assert el["code"] in regions
            for t in el["target"]:
                assert TAG.search(t.get("comment", "")), (el["code"], t)
                if t["equivalence"] == "unmatched":
                    continue
                if target == data.REGION_SYSTEM:
                    assert t["code"] in regions
                else:
                    assert tx.cpt.get(t["code"]) is not None, t["code"]
                    for dep in t.get("dependsOn", []):
                        assert dep["property"] == "approach" and dep["system"] == APPROACH_SYSTEM
                        assert dep["value"] in approaches
    # the three decisions the family exists for
    region = data.REGION_SYSTEM
    assert [t.code for t in tx.conceptmaps.translate(cm["url"], SNOMED, "41216001")] == ["prostate"]
    assert [t.code for t in tx.conceptmaps.translate(cm["url"], SNOMED, "39607008")] == ["thorax"]
    open_targets = tx.conceptmaps.translate(
        cm["url"], region, "abdomen-pelvis-retroperitoneum", {"approach": "open"}
    )
    assert [t.code for t in open_targets if t.depends_on] == ["49412"]


def test_snomed_sites_match_the_reference(shared: Path) -> None:
    """Every SNOMED CT id tagged from the research notes' sources is in the notes' body-site table."""
    text = (shared / "reference" / "coding-rules.md").read_text(encoding="utf-8")
    table = set(re.findall(r"\|\s*(\d{6,9})\s*\|", text))
    cm = default_terminology().conceptmaps.get(data.SITE_MAP)
    [group] = [g for g in cm["group"] if g["source"] == SNOMED]
    for el in group["element"]:
        comment = el["target"][0]["comment"]
        if "S-SNOMED-3P" in comment:
            assert el["code"] not in table  # our own third-party finding, said so in the README
        else:
            assert el["code"] in table, el["code"]


def test_neoplasm_valueset_tags_every_clause() -> None:
    vs = json.loads((TERMINOLOGY / "valuesets" / "device-dx-neoplasm.json").read_text(encoding="utf-8"))
    for clause in vs["compose"]["include"] + vs["compose"]["exclude"]:
        [ext] = clause["extension"]
        assert TAG.search(ext["valueString"]), clause
        assert [f["op"] for f in clause["filter"]] == ["is-a"]  # by ICD-10-CM hierarchy


def test_neoplasm_valueset_follows_the_reference(shared: Path) -> None:
    text = (shared / "reference" / "coding-rules.md").read_text(encoding="utf-8")
    section = text[text.index("### 6b.") : text.index("### 6c.")]
    vs = json.loads((TERMINOLOGY / "valuesets" / "device-dx-neoplasm.json").read_text(encoding="utf-8"))
    for clause in vs["compose"]["include"]:
        value = clause["filter"][0]["value"]
        assert value.split("-")[0] in section, value


@pytest.mark.parametrize(
    ("yes", "no"),
    [
        (
            [
                "C25.0",
                "C22.0",
                "C18.7",
                "C20",
                "C48.0",
                "C49.A2",
                "C56.1",
                "C64.1",
                "C74.01",
                "C78.7",
                "C7B.04",
                "D37.1",
            ],
            ["C61", "D40.0", "C34.11", "C51.9", "D37.01", "R19.00", "Z51.0", "C50.911"],
        )
    ],
)
def test_neoplasm_valueset_membership(yes: list[str], no: list[str]) -> None:
    tx = default_terminology()
    assert [c for c in yes if not tx.valuesets.contains("device-dx-neoplasm", ICD10CM, c)] == []
    assert [c for c in no if tx.valuesets.contains("device-dx-neoplasm", ICD10CM, c)] == []


# ------------------------------------------------------------------ documentation
@pytest.mark.parametrize("rule_id", [f"DEV00{i}" for i in range(1, 7)])
def test_rule_is_registered_in_the_family(rule_id: str) -> None:
    cls = REGISTRY.get(rule_id)
    assert cls is not None and cls.family == "devices" and cls.name.startswith("devices.")


def test_cli_rules_prints_every_doc_section() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fhirplugin", "rules", "DEV001"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "DEV001 devices.one-unit-per-session" in proc.stdout
    sections = REGISTRY.get("DEV001").doc_sections()
    for name in DOC_SECTIONS:
        assert name in proc.stdout
        first_line = sections[name].splitlines()[0].strip()
        assert first_line in proc.stdout, name
