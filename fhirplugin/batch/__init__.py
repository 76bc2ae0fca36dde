"""``fhirplugin batch``: many resources, NDJSON or JSON files and folders, on every core.

Input
    Files and folders. A folder is searched recursively for ``*.ndjson``, ``*.ndjson.gz`` and
    ``*.json`` (sorted by path); a file named on the command line is read whatever its name, ``.gz``
    files through gzip, ``-`` is standard input. An ``.ndjson`` file is always NDJSON. Any other file
    whose first non-blank line is a JSON object on its own is NDJSON too; otherwise it is one JSON
    document (a pretty-printed resource), read whole up to the one-resource size limit.

Streaming
    NDJSON is read line by line, never whole: one line is held at most up to
    ``max_resource_bytes`` (a longer line is skipped to its end and reported as INP004). Lines go in
    chunks (default 500) to worker processes that each build one :class:`~fhirplugin.engine.Engine`
    at start-up; at most ``4 × jobs`` chunks are in flight, so memory stays flat whatever the input
    size. (``Pool.imap`` is not used: its feeder thread reads the whole input ahead of the workers.)

Output
    One OperationOutcome per input resource, one per line (NDJSON), in input order. Each carries the
    extension :data:`SOURCE_EXT` saying where its input came from, a complex extension (valid FHIR
    R4 and R5) with the sub-extensions ``file`` (valueString: the path as given or found),
    ``line`` (valueInteger, 1-based; absent for a whole-file JSON document), ``index``
    (valueInteger, 0-based position among the resources of that file), ``resourceType``
    (valueCode) and ``resourceId`` (valueString) when the input had them. Issues also carry the
    core ``operationoutcome-issue-line`` extension, as the engine writes it. The outcome's own
    ``id`` is left unset: a file path is not a FHIR id.

Bad input (not JSON, not an object, not FHIR, too large or too deep) becomes a ``fatal`` or
``error`` outcome on its line; the other lines are still checked. A file that cannot be opened or
read (or a gzip stream that is broken) is reported once and skipped; the run goes on.

Layout: :mod:`~fhirplugin.batch.inputs` (sources, readers, chunks), :mod:`~fhirplugin.batch.runner`
(workers and the driver, :func:`run_batch`), :mod:`~fhirplugin.batch.tagging` (the tagged
outcome); the summary tables are in :mod:`fhirplugin.reporters.summary`. The names below are
imported on first use, so ``fhirplugin validate`` (which needs :func:`expand` only) does not pay
for multiprocessing and the pool.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhirplugin.batch.inputs import DEFAULT_CHUNK, Chunk, Source, chunks, expand
    from fhirplugin.batch.runner import (
        BatchError,
        BatchSummary,
        Stats,
        check_chunk,
        default_jobs,
        run_batch,
    )
    from fhirplugin.batch.tagging import SOURCE_EXT, tagged_outcome
    from fhirplugin.reporters.summary import summary_tables

_WHERE = {
    "DEFAULT_CHUNK": "inputs",
    "Chunk": "inputs",
    "Source": "inputs",
    "chunks": "inputs",
    "expand": "inputs",
    "BatchError": "runner",
    "BatchSummary": "runner",
    "Stats": "runner",
    "check_chunk": "runner",
    "default_jobs": "runner",
    "run_batch": "runner",
    "SOURCE_EXT": "tagging",
    "tagged_outcome": "tagging",
}


def __getattr__(name: str) -> Any:
    if name == "summary_tables":
        from fhirplugin.reporters.summary import summary_tables

        return summary_tables
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{where}"), name)


__all__ = [
    "DEFAULT_CHUNK",
    "SOURCE_EXT",
    "BatchError",
    "BatchSummary",
    "Chunk",
    "Source",
    "Stats",
    "check_chunk",
    "chunks",
    "default_jobs",
    "expand",
    "run_batch",
    "summary_tables",
    "tagged_outcome",
]
