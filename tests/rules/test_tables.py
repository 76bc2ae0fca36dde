"""The one table reader (``rules/tables.py``): every shipped family table reads, and a broken row is
named by file, line and column (so a contributor finds it without reading the code)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirplugin.rules.devices.data import DeviceCode
from fhirplugin.rules.drainage.data import DrainageCode, ModifierUse
from fhirplugin.rules.tables import TableError, read_keyed, read_table
from fhirplugin.rules.templates.addon import read_criteria
from fhirplugin.rules.templates.family import GuidancePair

DRAIN_HEAD = "code,site_class,region,dx_valueset,aspiration_codes,aspiration_guidance,source,verified,note\n"
DEVICE_HEAD = "code,approach,region,one_unit,dx_valueset,source,verified,note\n"
CRIT_HEAD = "criterion,value,counts,source,verified,note\n"


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("model", "text", "message"),
    [
        (
            DrainageCode,
            DRAIN_HEAD + "49406,p,x,vs,10160,76942,S,yes,\n",
            r"line 2, column verified: must be true or false, not 'yes'",
        ),
        (DrainageCode, DRAIN_HEAD + "49406,,x,vs,,,S,true,\n", r"line 2, column site_class: empty"),
        (
            DeviceCode,
            DEVICE_HEAD + "49411,percutaneous,r,maybe,vs,S,true,\n",
            r"line 2, column one_unit: must be true or false",
        ),
        (ModifierUse, "code,source,verified,note\nXS,S,true,\n", r"line 1: missing column\(s\) use"),
        (
            ModifierUse,
            "code,use,provider,source,verified,note\nXS,twice,,S,true,\n",
            r"line 2, column use: Input should be",
        ),
        (
            ModifierUse,
            "code,use,provider,source,verified,note\n76,repeat,,S,true,\n",
            r"line 2, column \?: provider must be same or other",
        ),
        (
            GuidancePair,
            "drainage_code,guidance_code,verified\n49412,76942,true\n",
            r"line 1: missing column\(s\) primary_code",
        ),
        (
            DeviceCode,
            DEVICE_HEAD.replace(",note", ",notes") + "49411,percutaneous,r,true,vs,S,true,\n",
            r"line 1: unknown column\(s\) notes \(the columns are ",
        ),
        (
            GuidancePair,
            "primary_code,guidance_code,verified\n49412,76942,true,extra\n",
            r"line 2: more cells than columns",
        ),
    ],
)
def test_broken_row_names_file_line_and_column(tmp_path: Path, model: type, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TableError, match=rf"^{path}: {message}"):
        read_table(path, model)


def test_a_key_listed_twice_and_an_unreadable_file(tmp_path: Path) -> None:
    pairs = _write(
        tmp_path,
        "primary_code,guidance_code,source,verified,note\n49412,76942,S,true,\n49412,76942,S,true,\n",
    )
    with pytest.raises(TableError, match=r"line 3: pair 49412/76942 is listed twice"):
        read_keyed(pairs, GuidancePair, lambda r: (r.primary, r.guidance), lambda k: f"pair {k[0]}/{k[1]}")
    with pytest.raises(TableError, match="cannot be read"):
        read_table(tmp_path / "nope.csv", GuidancePair)


def test_criteria_rows(tmp_path: Path) -> None:
    with pytest.raises(
        TableError, match=r"line 2, column criterion: Input should be 'range', 'approach' or 'family'"
    ):
        read_criteria(_write(tmp_path, CRIT_HEAD + "section,10004-69990,true,,false,\n"))
    with pytest.raises(TableError, match=r"line 2, column \?: range must be two 5-digit CPT codes"):
        read_criteria(_write(tmp_path, CRIT_HEAD + "range,10004-699,true,,false,\n"))
    with pytest.raises(TableError, match=r"line 3: approach open is listed twice"):
        read_criteria(_write(tmp_path, CRIT_HEAD + "approach,open,true,,true,\napproach,Open,true,,true,\n"))
    [row] = read_criteria(_write(tmp_path, CRIT_HEAD + "Approach,Laparoscopic,false,,true,\n"))
    assert (row.criterion, row.value, row.counts) == ("approach", "laparoscopic", False)


def test_cells_are_typed(tmp_path: Path) -> None:
    [(line, row)] = read_table(
        _write(tmp_path, DRAIN_HEAD + ' 49406 ,p,x,vs,"10160, 49083",,S,TRUE,\n'), DrainageCode
    )
    assert (line, row.code, row.aspiration_codes, row.aspiration_guidance, row.verified) == (
        2,
        "49406",
        ("10160", "49083"),
        (),
        True,
    )


def test_every_shipped_family_table_reads() -> None:
    # every family's guidance-included.csv has the one layout the guidance template reads
    from fhirplugin.resources import data_dir
    from fhirplugin.rules import REGISTRY

    root = data_dir("terminology")
    for path in sorted(root.glob("*/guidance-included.csv")):
        assert read_table(path, GuidancePair), path
    for rule in REGISTRY.all():
        data = getattr(rule, "data", None)
        if data is not None:
            assert data.codes(), rule.id  # each declared family's codes.csv reads and is not empty
