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
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import multiprocessing
import os
import sys
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Self

import orjson

from fhirplugin.config import Settings
from fhirplugin.fhir import jsonload
from fhirplugin.findings import CANONICAL_BASE, Finding, Severity

log = logging.getLogger("fhirplugin.batch")

SOURCE_EXT = f"{CANONICAL_BASE}/StructureDefinition/batch-source"
FOLDER_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz")
DEFAULT_CHUNK = 500
_READ_PIECE = 1 << 20

# one input item: (index in its file, 1-based line or None for a whole document, the bytes — or, for a
# line above the size limit, its length in bytes)
Item = tuple[int, int | None, bytes | int]


def default_jobs() -> int:
    """All the cores this process may use."""
    count = getattr(os, "process_cpu_count", None)
    n = count() if count else None
    if not n:
        try:
            n = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = os.cpu_count()
    return max(1, n or 1)


# ---------------------------------------------------------------------------------------------- summary
@dataclass(slots=True)
class Stats:
    """Counts for some results; summed over chunks."""

    resources: int = 0
    with_issues: int = 0  # resources with at least one issue (any severity)
    worst: Counter = field(default_factory=Counter)  # worst severity value -> resources
    issues: Counter = field(default_factory=Counter)  # (rule id, severity value) -> issues

    def add(self, findings: Sequence[Finding]) -> None:
        self.resources += 1
        if not findings:
            return
        self.with_issues += 1
        top = max(findings, key=lambda f: f.severity.rank).severity
        self.worst[top.value] += 1
        for f in findings:
            self.issues[(f.rule_id or "-", f.severity.value)] += 1

    def merge(self, other: Stats) -> None:
        self.resources += other.resources
        self.with_issues += other.with_issues
        self.worst.update(other.worst)
        self.issues.update(other.issues)


@dataclass(slots=True)
class BatchSummary(Stats):
    """What a batch run did: counts, unreadable paths, time."""

    sources: int = 0
    bytes_read: int = 0
    unreadable: list[str] = field(default_factory=list)  # one message per path that could not be read
    elapsed: float = 0.0
    jobs: int = 1

    def failing(self, threshold: Severity) -> int:
        """Resources with an issue at or above ``threshold``."""
        return sum(n for sev, n in self.worst.items() if Severity(sev).rank >= threshold.rank)

    @property
    def rate(self) -> float:
        return self.resources / self.elapsed if self.elapsed > 0 else 0.0

    def exit_code(self, threshold: Severity) -> int:
        if self.unreadable or not self.resources:
            return 2  # a path could not be read, or there was nothing at all to check
        return 1 if self.failing(threshold) else 0


# ---------------------------------------------------------------------------------------------- sources
@dataclass(slots=True)
class Source:
    name: str  # as shown in outcomes: the path as given, or found under a folder
    path: Path | None  # None: standard input
    size: int | None  # bytes on disk (compressed for .gz), None for stdin

    @property
    def gz(self) -> bool:
        return self.path is not None and self.path.name.endswith(".gz")

    @property
    def ndjson_by_name(self) -> bool:
        return self.path is not None and self.path.name.endswith((".ndjson", ".ndjson.gz"))


def expand(
    paths: Sequence[str | Path], *, exclude: Path | None = None
) -> tuple[list[Source], list[str], list[str]]:
    """Files and folders → sources in order; one message per path that cannot be read; notes."""
    sources: list[Source] = []
    problems: list[str] = []
    notes: list[str] = []
    skip = _resolve(exclude)
    for given in paths:
        name = str(given)
        if name == "-":
            sources.append(Source("-", None, None))
            continue
        p = Path(given)
        try:
            if p.is_dir():
                found = sorted(
                    f
                    for f in p.rglob("*")
                    if f.name.endswith(FOLDER_SUFFIXES) and f.is_file() and _resolve(f) != skip
                )
                if not found:
                    notes.append(f"no {', '.join(FOLDER_SUFFIXES)} files under {name}")
                sources.extend(Source(str(f), f, f.stat().st_size) for f in found)
            elif p.exists():
                sources.append(Source(name, p, p.stat().st_size))
            else:
                problems.append(f"cannot read {name}: No such file or directory")
        except OSError as exc:
            problems.append(f"cannot read {name}: {exc.strerror or exc}")
    return sources, problems, notes


def _resolve(p: Path | None) -> Path | None:
    if p is None:
        return None
    try:
        return p.resolve()
    except OSError:
        return None


class _Reader:
    """Reads one source as items, counting bytes consumed (compressed bytes for gzip)."""

    def __init__(self, source: Source, max_bytes: int) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self._raw: BinaryIO | None = None
        self._fh: BinaryIO | None = None
        self._plain_pos = 0
        self._done_at = 0
        self._raw_closed = False

    def __enter__(self) -> Self:
        if self.source.path is None:
            self._fh = sys.stdin.buffer
        else:
            self._raw = open(self.source.path, "rb")
            self._fh = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.source.gz else self._raw
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._done_at = self.position
        self._raw_closed = True
        if self._fh is not None and self._fh is not self._raw and self.source.path is not None:
            self._fh.close()
        if self._raw is not None:
            self._raw.close()

    @property
    def position(self) -> int:
        if self._raw_closed:
            return self._done_at
        if self._raw is not None and self.source.gz:
            return self._raw.tell()
        return self._plain_pos

    def _readline(self) -> bytes | int:
        """The next line (with its newline), b"" at the end; an int (its length) when it is too long."""
        assert self._fh is not None
        line = self._fh.readline(self.max_bytes + 2)
        self._plain_pos += len(line)
        if len(line) <= self.max_bytes + 1 or line.endswith(b"\n"):
            return line
        n = len(line)
        while True:  # skip the rest of an oversized line without holding it
            more = self._fh.readline(_READ_PIECE)
            self._plain_pos += len(more)
            n += len(more)
            if not more or more.endswith(b"\n"):
                return n - (1 if more.endswith(b"\n") else 0)

    def items(self) -> Iterator[Item]:
        lineno = 0
        first: bytes | int = b""
        while True:  # the first non-blank line decides NDJSON or one document
            first = self._readline()
            lineno += 1
            if isinstance(first, int):
                break
            if lineno == 1 and first.startswith(b"\xef\xbb\xbf"):
                first = first[3:]
            if not first or first.strip():
                break
        if isinstance(first, bytes) and not first:
            yield (0, None, b"")  # empty input: the engine reports "not valid JSON"
            return
        if not self.source.ndjson_by_name and isinstance(first, bytes) and not _standalone_object(first):
            yield (0, None, self._rest_as_document(first))
            return
        index = 0
        line: bytes | int = first
        while True:
            if isinstance(line, int):
                yield (index, lineno, line)
                index += 1
            elif line.strip():
                yield (index, lineno, line.rstrip(b"\r\n"))  # the size limit counts the content only
                index += 1
            line = self._readline()
            if isinstance(line, bytes) and not line:
                return
            lineno += 1

    def _rest_as_document(self, head: bytes) -> bytes | int:
        assert self._fh is not None
        parts = [head]
        size = len(head)
        while size <= self.max_bytes:
            piece = self._fh.read(_READ_PIECE)
            if not piece:
                return b"".join(parts)
            parts.append(piece)
            size += len(piece)
        parts.clear()
        while piece := self._fh.read(_READ_PIECE):  # too large: count the rest, keep none of it
            size += len(piece)
        return size


def _standalone_object(line: bytes) -> bool:
    s = line.strip()
    if not (s.startswith(b"{") and s.endswith(b"}")):
        return False
    try:
        orjson.loads(s)
    except orjson.JSONDecodeError:
        return False
    return True


@dataclass(slots=True)
class Chunk:
    source: str
    items: list[Item]
    position: int  # bytes read over the whole run once this chunk was read (for the progress bar)


def chunks(
    sources: Sequence[Source],
    *,
    max_bytes: int,
    size: int = DEFAULT_CHUNK,
    on_unreadable: Callable[[str], None],
) -> Iterator[Chunk]:
    """Chunks of at most ``size`` items, in input order, never spanning two files."""
    done = 0
    for src in sources:
        reader = _Reader(src, max_bytes)
        items: list[Item] = []
        try:
            with reader:
                for item in reader.items():
                    items.append(item)
                    if len(items) >= size:
                        yield Chunk(src.name, items, done + reader.position)
                        items = []
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            # what was read before the failure is still checked; the path counts as unreadable
            msg = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            on_unreadable(f"cannot read {src.name}: {msg}")
        if items:
            yield Chunk(src.name, items, done + reader.position)
        done += reader.position


# ---------------------------------------------------------------------------------------------- workers
class BatchError(RuntimeError):
    """The run cannot go on (the engine could not be built); the message is for the user."""


_ENGINE = None
_VERSION = "auto"
_INIT_ERROR: str | None = None
# per input file, the once-per-file findings (PRF001) this process has said already
_SAID: dict[str, set[tuple[str, str]]] = {}


# inputs at least this large (or of unknown size) build every checked type's models at start-up
PREBUILD_MIN_BYTES = 4 << 20


def _init_worker(settings: Settings, fhir_version: str, tx=None, prebuild: bool = False) -> None:
    """Build this process's Engine, once (on ``tx``, a terminology inherited from the parent, if
    given). A failure is kept and raised by :func:`check_chunk`, so it reaches the caller as a clear
    error rather than as a broken pool."""
    global _ENGINE, _VERSION, _INIT_ERROR
    from fhirplugin.engine import Engine

    _VERSION = fhir_version
    try:
        _ENGINE = Engine(settings, tx=tx)
        if prebuild:  # every checked type's models and tables now, not when first met mid-run
            _ENGINE.prebuild()
        _INIT_ERROR = None
    except (OSError, ValueError) as exc:
        _ENGINE = None
        _INIT_ERROR = f"could not load terminology: {exc}"


def tagged_outcome(result) -> dict:
    """The engine's OperationOutcome for ``result`` with the :data:`SOURCE_EXT` extension first."""
    sub: list[dict] = [{"url": "file", "valueString": result.source}]
    if result.line is not None:
        sub.append({"url": "line", "valueInteger": result.line})
    sub.append({"url": "index", "valueInteger": result.index})
    if result.resource_type:
        sub.append({"url": "resourceType", "valueCode": result.resource_type})
    if result.resource_id:
        sub.append({"url": "resourceId", "valueString": result.resource_id})
    oo = result.outcome()
    out: dict = {"resourceType": "OperationOutcome", "extension": [{"url": SOURCE_EXT, "extension": sub}]}
    out.update((k, v) for k, v in oo.items() if k != "resourceType")
    return out


def _oversize(index: int, line: int | None, n: int, limit: int) -> jsonload.RawInput:
    where = f"Line {line}" if line is not None else "The input"
    return jsonload.RawInput(
        index=index,
        line=line,
        problems=[
            jsonload.InputProblem(
                "INP004",
                f"{where} is {n:,} bytes, above the {limit:,}-byte limit for one resource; split it or raise "
                "the limit (FHIRPLUGIN_MAX_RESOURCE_BYTES).",
            )
        ],
    )


def check_chunk(chunk: Chunk) -> tuple[bytes, Stats]:
    """In a worker: check every item of ``chunk``; the NDJSON outcomes and their counts."""
    from fhirplugin.engine import once_per_file, safe_check

    engine = _ENGINE
    if engine is None:
        raise BatchError(_INIT_ERROR or "worker not initialised")
    limit = engine.settings.max_resource_bytes
    depth = engine.settings.max_depth
    out = bytearray()
    stats = Stats()
    for index, line, payload in chunk.items:
        if isinstance(payload, int):
            raw = _oversize(index, line, payload, limit)
        else:
            raw = jsonload.parse_document(
                payload, index=index, line=line, max_bytes=limit, max_depth=depth, check_depth=False
            )
        res = safe_check(engine, raw, _VERSION, chunk.source)
        once_per_file([res], _SAID.setdefault(chunk.source, set()))
        out += orjson.dumps(tagged_outcome(res))
        out += b"\n"
        stats.add(res.findings)
    return bytes(out), stats


# ---------------------------------------------------------------------------------------------- driver
def run_batch(
    paths: Sequence[str | Path],
    out: BinaryIO,
    *,
    settings: Settings | None = None,
    jobs: int | None = None,
    fhir_version: str = "auto",
    chunk_size: int = DEFAULT_CHUNK,
    exclude: Path | None = None,
    on_unreadable: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Check every resource under ``paths``; write one OperationOutcome line per resource to ``out``.

    ``jobs`` worker processes (default: all cores; 1 runs in this process). ``on_unreadable(msg)``
    is called once per path that cannot be read, ``on_note(msg)`` for a folder with no input files;
    ``on_start(total_bytes or None)`` once the inputs
    are known; ``on_progress(bytes_read, resources)`` after each chunk is written.
    """
    settings = settings or Settings()
    jobs = max(1, jobs or default_jobs())
    started = time.perf_counter()
    summary = BatchSummary(jobs=jobs)

    def unreadable(msg: str) -> None:
        summary.unreadable.append(msg)
        if on_unreadable:
            on_unreadable(msg)

    sources, problems, notes = expand(paths, exclude=exclude)
    for msg in problems:
        unreadable(msg)
    for msg in notes:
        if on_note:
            on_note(msg)
    summary.sources = len(sources)
    sizes = [s.size for s in sources]
    total = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
    feed = chunks(sources, max_bytes=settings.max_resource_bytes, size=chunk_size, on_unreadable=unreadable)

    def emit(chunk: Chunk, data: bytes, stats: Stats) -> None:
        out.write(data)
        summary.merge(stats)
        summary.bytes_read = chunk.position
        if on_progress:
            on_progress(chunk.position, summary.resources)

    prebuild = total is None or total >= PREBUILD_MIN_BYTES
    _SAID.clear()  # a new run says its once-per-file findings again (forked workers inherit this)
    if jobs == 1:
        global _ENGINE, _VERSION
        saved = (_ENGINE, _VERSION)
        _init_worker(settings, fhir_version, prebuild=prebuild)
        if on_start:
            on_start(total)
        try:
            for chunk in feed:
                emit(chunk, *check_chunk(chunk))
        finally:
            _ENGINE, _VERSION = saved
    else:
        window = 4 * jobs
        pending: deque[tuple[Chunk, Future]] = deque()
        ctx = multiprocessing.get_context()
        tx = None
        first: tuple[Chunk, bytes, Stats] | None = None
        if ctx.get_start_method() == "fork":
            # load the terminology once here; forked workers share it instead of each loading it
            from fhirplugin.tx.store import Terminology

            try:
                tx = Terminology.from_settings(settings)
            except (OSError, ValueError) as exc:
                raise BatchError(f"could not load terminology: {exc}") from None
            if prebuild:  # build the models once here: the forked workers inherit them
                from fhirplugin.engine import prebuild as prebuild_models

                prebuild_models()
                prebuild = False
            # and check the first chunk here: the models, tables and caches it needs (fhir.resources
            # models for what the fast path declines, validators, code look-ups) are then built once,
            # before the fork, and every worker starts with them instead of building its own
            head = next(feed, None)
            if head is not None:
                saved = (_ENGINE, _VERSION)
                _init_worker(settings, fhir_version, tx)
                try:
                    first = (head, *check_chunk(head))
                finally:
                    _ENGINE, _VERSION = saved
        with ProcessPoolExecutor(
            jobs, mp_context=ctx, initializer=_init_worker, initargs=(settings, fhir_version, tx, prebuild)
        ) as pool:
            pool.submit(int).result()  # start the workers now, before a progress thread runs here
            if on_start:
                on_start(total)
            if first is not None:
                emit(*first)
            try:
                for chunk in feed:
                    pending.append((chunk, pool.submit(check_chunk, chunk)))
                    if len(pending) >= window:
                        done, fut = pending.popleft()
                        emit(done, *fut.result())
                while pending:
                    done, fut = pending.popleft()
                    emit(done, *fut.result())
            except BaseException:
                for _, fut in pending:
                    fut.cancel()
                raise
    with contextlib.suppress(OSError, ValueError):
        out.flush()
    summary.elapsed = time.perf_counter() - started
    return summary


__all__ = [
    "DEFAULT_CHUNK",
    "SOURCE_EXT",
    "BatchError",
    "BatchSummary",
    "Source",
    "Stats",
    "default_jobs",
    "expand",
    "run_batch",
    "tagged_outcome",
]


def summary_tables(summary: BatchSummary, threshold: Severity):
    """Rich tables for the end of a run: totals, then issues by rule and severity."""
    from rich.table import Table

    totals = Table(title="fhirplugin batch", show_header=False, title_justify="left")
    totals.add_column("what")
    totals.add_column("value", justify="right")
    totals.add_row("files", f"{summary.sources:,}")
    totals.add_row("resources", f"{summary.resources:,}")
    totals.add_row("resources with issues", f"{summary.with_issues:,}")
    totals.add_row(f"resources failing (>= {threshold.value})", f"{summary.failing(threshold):,}")
    for sev in Severity:
        if summary.worst.get(sev.value):
            totals.add_row(f"  worst issue {sev.value}", f"{summary.worst[sev.value]:,}")
    if summary.unreadable:
        totals.add_row("unreadable paths", f"{len(summary.unreadable):,}")
    totals.add_row("jobs", str(summary.jobs))
    totals.add_row("elapsed", f"{summary.elapsed:.2f} s")
    totals.add_row("resources/s", f"{summary.rate:,.0f}")
    by_rule = Table(title="issues by rule and severity", title_justify="left")
    by_rule.add_column("rule")
    sevs = [s for s in Severity if any(k[1] == s.value for k in summary.issues)]
    for sev in sevs:
        by_rule.add_column(sev.value, justify="right")
    by_rule.add_column("total", justify="right")
    rules = sorted({k[0] for k in summary.issues})
    for rule in rules:
        counts = [summary.issues.get((rule, s.value), 0) for s in sevs]
        by_rule.add_row(rule, *[f"{n:,}" if n else "" for n in counts], f"{sum(counts):,}")
    return [totals, by_rule] if rules else [totals]
