"""The generic CMS edits against the real July 2024 CMS tables (``../shared/data/cms``), loaded through
the ``[terminology]`` keys in CMS's own layouts, as a coder would load a quarter.

The PTP file is written with the active rows of the practitioner table whose codes the claims below use
(the 2024 Q3 copy carries no effective dates: 20240701 stands in, and every claim is dated in that
quarter); the MUE file is the whole practitioner table.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import orjson
import pytest

from builders import build
from fhirplugin.config import Settings
from fhirplugin.engine import Engine

DOS = "2024-08-15"
CODES = {"20610", "76942", "99213", "99214", "49406", "49407", "10030", "77012", "58820", "55876", "49411"}


def _ptp_file(shared: Path, path: Path) -> Path:
    lines = [
        "CPT codes are AMA property. Test file in the CMS practitioner PTP layout, rows of the 2024 Q3 release.",
        "Column1/Column2 Edits",
        "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale",
        "\t\tprior to 1996\tDate\tDate\t0=not allowed\t",
        "\t\t\t\t*=no data\t1=allowed\t",
        "\t\t\t\t\t9=not applicable\t",
    ]
    with gzip.open(shared / "data" / "cms" / "ncci-ptp-practitioner-2024q3.csv.gz", "rt", newline="") as f:
        for r in csv.DictReader(f):
            if r["deletion_date"] == "*" and r["column1"] in CODES and r["column2"] in CODES:
                lines.append(
                    f"{r['column1']}\t{r['column2']}\t\t20240701\t*\t{r['modifier_indicator']}\t"
                    f"{r['ptp_edit_rationale']}"
                )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


def _mue_file(shared: Path, path: Path) -> Path:
    words = {"1": "1 Line Edit", "2": "2 Date of Service Edit: Policy", "3": "3 Date of Service Edit: Clinical"}
    out = [
        '"CPT codes are AMA property.\r\nTest file in the CMS MUE layout, the 2024 Q3 practitioner table.",,,',
        '"HCPCS/\r\nCPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"',
    ]
    with open(shared / "data" / "cms" / "ncci-mue-practitioner-2024q3.csv", newline="") as f:
        for r in csv.DictReader(f):
            out.append(f'{r["hcpcs_code"]},{r["mue_value"]},"{words[r["mai"]]}","{r["mue_rationale"]}"')
    path.write_bytes(("\r\n".join(out) + "\r\n").encode("cp1252"))
    return path


@pytest.fixture(scope="module")
def engine(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("cms-2024q3")
    ptp = _ptp_file(shared, folder / "ccipra-v302r0-f1.txt")
    mue = _mue_file(shared, folder / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv")
    return Engine(Settings(terminology={"ptp_paths": [ptp], "mue_paths": [mue]}))


def _findings(engine: Engine, lines: list[dict], rule: str) -> list:
    spec = {"claim": {"date": DOS, "diagnoses": ["M17.11"], "lines": [{"dx": [1], **ln} for ln in lines]}}
    results = engine.check_bytes(orjson.dumps(build(spec)), fhir_version="R4")
    return [f for r in results for f in r.findings if f.rule_id == rule]


def test_arthrocentesis_with_ultrasound_guidance_and_no_modifier(engine: Engine) -> None:
    found = _findings(engine, [{"code": "20610"}, {"code": "76942"}], "PTP001")
    assert [(f.severity.value, f.expression[0]) for f in found] == [
        ("error", "Claim.item[1].productOrService.coding[0]")
    ]
    assert "2024 Q3" in found[0].diagnostics and "modifier indicator 1" in found[0].diagnostics


def test_the_same_pair_with_a_distinct_site_modifier_asks_for_documentation(engine: Engine) -> None:
    found = _findings(engine, [{"code": "20610"}, {"code": "76942", "modifiers": ["XS"]}], "PTP001")
    assert [f.severity.value for f in found] == ["warning"]


def test_office_visit_units_above_the_mue(engine: Engine) -> None:
    found = _findings(engine, [{"code": "99213", "units": 3}], "MUE001")
    assert [(f.severity.value, f.expression) for f in found] == [("error", ["Claim.item[0].quantity.value"])]
    assert "MUE 2" in found[0].diagnostics and "3 Date of Service Edit: Clinical" in found[0].diagnostics


def test_drainage_units_and_lines_above_the_mue(engine: Engine) -> None:
    assert len(_findings(engine, [{"code": "49406", "units": 5}], "MUE001")) == 1
    assert len(_findings(engine, [{"code": "49407"}, {"code": "49407", "modifiers": ["XS"]}], "MUE001")) == 1


def test_device_pair_that_no_modifier_allows(engine: Engine) -> None:
    found = _findings(engine, [{"code": "55876"}, {"code": "49411", "modifiers": ["59"]}], "PTP001")
    assert [f.severity.value for f in found] == ["error"]
    assert "modifier indicator 0" in found[0].diagnostics


@pytest.mark.parametrize(
    "lines",
    [
        [{"code": "20610"}],
        [{"code": "99214"}],
        [{"code": "49406", "units": 2}],
        [{"code": "76942", "modifiers": ["26"]}],
        [{"code": "10030"}, {"code": "49406"}],
    ],
    ids=["arthrocentesis", "visit", "two-collections", "ultrasound-26", "two-drainages"],
)
def test_correct_claims_get_no_cms_edit(engine: Engine, lines: list[dict]) -> None:
    for rule in ("PTP001", "MUE001"):
        assert _findings(engine, lines, rule) == [], rule


def test_central_line_guidance_is_not_bundled_but_77002_is(engine: Engine) -> None:
    # why the cvc family (CVC001) has no guidance-included rule: CMS pairs 36556 with 77002, not with
    # 76937 (ultrasound guidance for vascular access) or 77001 (fluoroscopic guidance, catheter tip)
    separate = [{"code": "36556"}, {"code": "76937"}, {"code": "77001"}]
    assert _findings(engine, separate, "PTP001") == []
    found = _findings(engine, [{"code": "36556"}, {"code": "77002"}], "PTP001")
    assert [f.severity.value for f in found] == ["error"] and "modifier indicator 1" in found[0].diagnostics
    assert len(_findings(engine, [{"code": "36556", "units": 3}], "MUE001")) == 1  # MUE 2, MAI 3
    assert _findings(engine, [{"code": "36556", "units": 2}], "MUE001") == []


def test_shipped_place_of_service_codes_are_the_assigned_cms_codes(shared: Path) -> None:
    """POS001's table holds exactly CMS's assigned codes, with CMS's facility / non-facility setting."""
    from fhirplugin.rules.cms.policy import places_of_service

    with open(shared / "data" / "cms" / "place-of-service.csv", newline="", encoding="utf-8") as f:
        cms = {r["pos_code"]: r["facility_or_not"].lower() for r in csv.DictReader(f)}
    assigned = {code: setting for code, setting in cms.items() if setting != "unassigned"}
    assert {p.code: p.setting for p in places_of_service().values()} == assigned
