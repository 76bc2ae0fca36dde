"""Running a batch: worker processes that each hold one Engine, chunks fed to them with a bounded
window, the outcomes written in input order, and the counts of the run (:class:`BatchSummary`)."""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson

from fhirplugin.batch.inputs import DEFAULT_CHUNK, Chunk, Item, chunks, expand
from fhirplugin.batch.tagging import tagged_outcome
from fhirplugin.config import Settings
from fhirplugin.fhir import jsonload
from fhirplugin.findings import Finding, Severity

if TYPE_CHECKING:
    from fhirplugin.engine import Engine
    from fhirplugin.tx.store import Terminology

log = logging.getLogger("fhirplugin.batch")


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


# ---------------------------------------------------------------------------------------------- workers
class BatchError(RuntimeError):
    """The run cannot go on (the engine could not be built); the message is for the user."""


_ENGINE: Engine | None = None
_VERSION = "auto"
_INIT_ERROR: str | None = None


# freeze the parent's objects (gc.freeze) while the workers fork: they inherit them outside the
# garbage collector's generations
FREEZE_BEFORE_FORK = True

# every "resourceType" a raw item names (at any depth: the entries of a Bundle too)
_RESOURCE_TYPE = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]+)"')


def warm_up_items(items: Sequence[Item]) -> list[Item]:
    """The items of the first chunk the parent checks before the workers fork, output discarded: the
    first item naming each resource type (at any depth), so what the workers would each build for a
    type (its fhir.resources model when the fast path declines it, validators, look-ups) is built once
    and inherited."""
    seen: set[bytes] = set()
    out: list[Item] = []
    for item in items:
        payload = item[2]
        if isinstance(payload, int):
            continue
        types = set(_RESOURCE_TYPE.findall(payload)) or {b""}
        if not types <= seen:
            seen |= types
            out.append(item)
    return out


# inputs at least this large (or of unknown size) build every checked type's models at start-up
PREBUILD_MIN_BYTES = 4 << 20


def _init_worker(
    settings: Settings, fhir_version: str, tx: Terminology | None = None, prebuild: bool = False
) -> None:
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
    # the once-per-file findings (PRF001) are said once per file and chunk: chunks are cut the same way
    # whatever --jobs is, so the output does not depend on which worker checks which chunk
    said: set[tuple[str, str]] = set()
    for index, line, payload in chunk.items:
        if isinstance(payload, int):
            raw = _oversize(index, line, payload, limit)
        else:
            raw = jsonload.parse_document(
                payload, index=index, line=line, max_bytes=limit, max_depth=depth, check_depth=False
            )
        res = safe_check(engine, raw, _VERSION, chunk.source)
        once_per_file([res], said)
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
    global _ENGINE, _VERSION
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
    if jobs == 1:
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
            # and check one item of each resource type of the first chunk here, output discarded: the
            # models, tables and caches they need are then built once, before the fork, and every worker
            # starts with them instead of building its own. Not the whole chunk: that was the serial
            # part that kept a mixed corpus from scaling; the chunk goes to the workers like any other
            head = next(feed, None)
            if head is not None:
                saved = (_ENGINE, _VERSION)
                _init_worker(settings, fhir_version, tx)
                try:
                    check_chunk(Chunk(head.source, warm_up_items(head.items), head.position))
                finally:
                    _ENGINE, _VERSION = saved
                feed = itertools.chain([head], feed)
        with ProcessPoolExecutor(
            jobs, mp_context=ctx, initializer=_init_worker, initargs=(settings, fhir_version, tx, prebuild)
        ) as pool:
            # the forked workers' garbage collector leaves alone what they inherit (terminology,
            # tables, models): walking it in every worker costs CPU and copies the pages it touches
            frozen = FREEZE_BEFORE_FORK and ctx.get_start_method() == "fork"
            if frozen:
                gc.freeze()
            try:
                pool.submit(int).result()  # start the workers now, before a progress thread runs here
            finally:
                if frozen:
                    gc.unfreeze()
            if on_start:
                on_start(total)
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
