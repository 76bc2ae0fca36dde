"""fhirplugin.spark.validate_dataframe on a local[2] Spark session (skipped without pyspark or Java)."""

from __future__ import annotations

import json
import os
import shutil

import orjson
import pytest

from builders import build
from fhirplugin.config import Settings
from fhirplugin.engine import Engine
from fhirplugin.fhir import jsonload

pyspark = pytest.importorskip("pyspark")

pytestmark = pytest.mark.slow

CLEAN = {"claim": {"diagnoses": ["K65.1"], "lines": [{"code": "49406", "dx": [1]}]}}
BROKEN = {"claim": {"diagnoses": ["K65"], "lines": [{"code": "49406", "dx": [1, 3], "modifiers": ["11"]}]}}


@pytest.fixture(scope="module")
def spark():
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        pytest.skip("no Java runtime for Spark")
    from pyspark.sql import SparkSession

    try:
        session = (
            SparkSession.builder.master("local[2]")
            .appName("fhirplugin-test")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate()
        )
    except Exception as exc:  # noqa: BLE001 - no usable JVM: skip, do not fail
        pytest.skip(f"Spark could not start: {type(exc).__name__}")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def rows() -> list[str | None]:
    out: list[str | None] = []
    for i in range(30):
        res = build(BROKEN if i % 3 == 0 else CLEAN)
        res["id"] = f"c{i}"
        out.append(orjson.dumps(res).decode())
    out[4] = "{not json"
    out[7] = '{"resourceType": "Patient"}'
    out[9] = None
    return out


def test_rows_keep_order_and_match_the_engine(spark):
    from fhirplugin.spark import OUTPUT_COLUMNS, validate_dataframe

    values = rows()
    df = spark.createDataFrame([(v, f"key-{i}") for i, v in enumerate(values)], "value string, key string")
    df = df.repartition(3).cache()  # rows spread over partitions; order must still come back
    keys = [r.key for r in df.collect()]
    got = validate_dataframe(df, keep=["key"]).collect()
    assert tuple(got[0].asDict())[: len(OUTPUT_COLUMNS)] == OUTPUT_COLUMNS
    assert [r.row_index for r in got] == list(range(30))
    assert [r.key for r in got] == keys

    engine = Engine(Settings())
    by_key = {f"key-{i}": v for i, v in enumerate(values)}
    for r in got:
        value = by_key[r.key]
        raw = jsonload.parse_document((value or "").encode(), index=r.row_index)
        expected = engine.check_raw(raw, source="dataframe")
        assert json.loads(r.outcome) == expected.outcome()
        assert r.worst_severity == (expected.worst.value if expected.worst else None)
        assert r.issues == len(expected.findings)
        assert r.resource_type == expected.resource_type and r.id == expected.resource_id

    bad = {r.key: r for r in got}
    assert bad["key-4"].worst_severity == "fatal" and bad["key-4"].resource_type is None
    assert bad["key-7"].resource_type == "Patient" and bad["key-7"].worst_severity == "error"
    assert bad["key-9"].worst_severity == "fatal"
    assert bad["key-3"].worst_severity == "error" and bad["key-3"].id == "c3"
    assert bad["key-1"].worst_severity is None and bad["key-1"].fhir_version == "R4"


def test_read_text_ndjson_and_settings(spark, tmp_path):
    from fhirplugin.spark import validate_dataframe

    p = tmp_path / "claims.ndjson"
    p.write_text("\n".join(v for v in rows() if v is not None) + "\n")
    df = spark.read.text(str(p))
    only_gen = Settings(select=["GEN003"])  # settings reach the workers: only one rule runs
    got = validate_dataframe(df, settings=only_gen).collect()
    assert len(got) == 29
    codes = {
        c["code"]
        for r in got
        if r.resource_type == "Claim"
        for i in json.loads(r.outcome)["issue"]
        for c in i.get("details", {}).get("coding", [])
    }
    assert codes == {"GEN003"}


def test_missing_column_is_a_clear_error(spark):
    from fhirplugin.spark import validate_dataframe

    df = spark.createDataFrame([("{}",)], "json string")
    with pytest.raises(ValueError, match="column 'value' is not in the DataFrame"):
        validate_dataframe(df)
