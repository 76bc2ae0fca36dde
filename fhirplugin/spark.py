"""Validate a Spark DataFrame of FHIR JSON: one row per resource, one OperationOutcome per row.

    from pyspark.sql import SparkSession
    from fhirplugin.spark import validate_dataframe

    spark = SparkSession.builder.getOrCreate()
    df = spark.read.text("claims/*.ndjson")            # column "value": one resource per line
    results = validate_dataframe(df)            # row_index, resource_type, id, worst_severity, outcome
    results.filter("worst_severity in ('fatal', 'error')").show()

Needs the ``spark`` extra (``pip install 'fhirplugin[spark]'``) and a Java runtime. Runs on classic
Spark (the RDD API); Spark Connect sessions are not supported.

Each partition builds one :class:`~fhirplugin.engine.Engine` (Spark's reused Python workers keep it
for the next partition with the same settings). Rows keep their order; ``row_index`` is the 0-based
position of the row in ``df`` (for ``spark.read.text`` of one file: the line number minus one). A null,
blank, non-JSON or non-FHIR value gives a ``fatal``/``error`` outcome on its row, as in
``fhirplugin batch``; the other rows are still checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from fhirplugin.config import Settings
from fhirplugin.fhir import jsonload

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

OUTPUT_COLUMNS = ("row_index", "resource_type", "id", "fhir_version", "worst_severity", "issues", "outcome")

_ENGINES: dict[str, Any] = {}  # settings JSON -> Engine, per Python worker process


def _engine(settings_json: str):
    engine = _ENGINES.get(settings_json)
    if engine is None:
        from fhirplugin.engine import Engine

        _ENGINES.clear()  # one Engine per worker at a time
        engine = Engine(Settings.model_validate_json(settings_json))
        _ENGINES[settings_json] = engine
    return engine


def check_rows(
    rows: Iterable[tuple[Any, int]], settings_json: str, fhir_version: str = "auto"
) -> Iterator[tuple]:
    """Check ``(value, index)`` pairs; one output tuple per pair (the columns of :data:`OUTPUT_COLUMNS`
    then any carried values). ``value`` may be a str, bytes or None; a Row is read by position."""
    from fhirplugin.engine import safe_check

    engine = _engine(settings_json)
    limit = engine.settings.max_resource_bytes
    depth = engine.settings.max_depth
    for row, index in rows:
        value = row[0] if isinstance(row, tuple) else row
        kept = tuple(row[1:]) if isinstance(row, tuple) else ()
        if value is None:
            data = b""
        elif isinstance(value, str):
            data = value.encode("utf-8")
        else:
            data = bytes(value)
        raw = jsonload.parse_document(
            data, index=index, line=None, max_bytes=limit, max_depth=depth, check_depth=False
        )
        res = safe_check(engine, raw, fhir_version, "dataframe")
        worst = res.worst
        yield (
            index,
            res.resource_type,
            res.resource_id,
            res.fhir_version,
            worst.value if worst else None,
            len(res.findings),
            orjson.dumps(res.outcome()).decode(),
            *kept,
        )


def validate_dataframe(
    df: DataFrame,
    column: str = "value",
    *,
    settings: Settings | None = None,
    fhir_version: str = "auto",
    keep: Sequence[str] = (),
) -> DataFrame:
    """One output row per row of ``df``, in order.

    Columns: ``row_index`` (long, 0-based row position; not ``index``, which a pyspark Row would
    shadow), ``resource_type``, ``id``, ``fhir_version``, ``worst_severity`` (fatal / error / warning /
    information; null when clean), ``issues`` (int) and ``outcome`` (the OperationOutcome as a JSON
    string), then the columns named in ``keep`` copied from ``df`` (a claim key, ``input_file_name()``).
    ``column`` holds the FHIR JSON (string or binary).
    """
    from pyspark.sql import types as T

    if column not in df.columns:
        raise ValueError(f"column {column!r} is not in the DataFrame (columns: {', '.join(df.columns)})")
    missing = [c for c in keep if c not in df.columns]
    if missing:
        raise ValueError(f"keep: column(s) {', '.join(missing)} not in the DataFrame")
    settings_json = (settings or Settings()).model_dump_json()
    version = fhir_version

    fields = [
        T.StructField("row_index", T.LongType(), False),
        T.StructField("resource_type", T.StringType(), True),
        T.StructField("id", T.StringType(), True),
        T.StructField("fhir_version", T.StringType(), False),
        T.StructField("worst_severity", T.StringType(), True),
        T.StructField("issues", T.IntegerType(), False),
        T.StructField("outcome", T.StringType(), False),
    ]
    by_name = {f.name: f for f in df.schema.fields}
    fields += [T.StructField(c, by_name[c].dataType, True) for c in keep]
    schema = T.StructType(fields)

    def partition(rows: Iterable[tuple[Any, int]]) -> Iterator[tuple]:
        return check_rows(((tuple(r), i) for r, i in rows), settings_json, version)

    rdd = df.select(column, *keep).rdd.zipWithIndex().mapPartitions(partition)
    return df.sparkSession.createDataFrame(rdd, schema)


__all__ = ["OUTPUT_COLUMNS", "check_rows", "validate_dataframe"]
