"""The ``fhirplugin`` command line (typer): validate, rules, serve, batch.

Exit codes: 0 nothing at or above ``--fail-on``; 1 at least one such issue; 2 usage error or a path
that cannot be read. Bad JSON or non-FHIR content is a finding (exit 1), never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fhirplugin import __version__
from fhirplugin.findings import Severity

if TYPE_CHECKING:
    from rich.console import Console

    from fhirplugin.config import Settings

# rich, the configuration (pydantic-settings) and the engine are imported where a command needs
# them, so `fhirplugin --help` and `fhirplugin version` start in a fraction of the time.

app = typer.Typer(
    name="fhirplugin",
    help="Check CPT coding in FHIR Claims, Procedures and ServiceRequests (R4/R5); serve CDS Hooks and $validate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # rich help and error panels on a terminal; plain click text otherwise, which spares a piped
    # `fhirplugin --help` (scripts, CI) the ~100 ms import of typer's rich formatting
    rich_markup_mode="rich" if sys.stdout.isatty() else None,
)


@cache
def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


class _LazyConsole:
    """The stderr console, made on first use (importing rich costs ~20 ms of every start)."""

    def __getattr__(self, name: str):
        return getattr(_stderr(), name)


err = _LazyConsole()


class Format(StrEnum):
    text = "text"
    json = "json"
    outcome = "outcome"
    sarif = "sarif"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    information = "information"


class FhirVersion(StrEnum):
    auto = "auto"
    R4 = "R4"
    R4B = "R4B"
    R5 = "R5"


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML configuration file (also FHIRPLUGIN_CONFIG).",
        show_default="built-in defaults and FHIRPLUGIN_* variables",
    ),
]


def _settings(config: Path | None, **overrides) -> Settings:
    from fhirplugin.config import ConfigError, load_settings

    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        err.print(f"fhirplugin: {exc}")
        raise typer.Exit(2) from None


MAX_UNZIPPED = 1 << 30  # a .gz given to `validate` is read whole: refuse a decompression bomb


def _read(source) -> bytes:
    """The bytes of one input (a batch ``Source``): stdin, a file, or a gzip file decompressed."""
    import gzip
    import io

    data = sys.stdin.buffer.read() if source.path is None else source.path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(MAX_UNZIPPED + 1)
        except (OSError, EOFError) as exc:
            raise OSError(f"broken gzip data ({exc})") from None
        if len(data) > MAX_UNZIPPED:
            raise OSError(f"more than {MAX_UNZIPPED:,} bytes once unzipped; use `fhirplugin batch`")
    return data


def _stdin_or_exit(paths: list[str] | None) -> list[str]:
    """The paths, or ``-`` when none are given and input is piped; a usage error on a terminal."""
    if paths:
        return paths
    if sys.stdin is not None and not sys.stdin.isatty():
        return ["-"]
    err.print("fhirplugin: give FHIR JSON/NDJSON files or folders, or pipe the input (or `-` for stdin)")
    raise typer.Exit(2)


@app.command()
def validate(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="FHIR JSON or NDJSON files, or folders (searched for *.json, *.ndjson and their .gz); "
            "- for stdin, which is also read when nothing is named and input is piped.",
            show_default=False,
        ),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Lowest severity that makes the exit code 1.")
    ] = FailOn.error,
    fhir_version: Annotated[
        FhirVersion, typer.Option("--fhir-version", help="FHIR version of the input (auto: detect).")
    ] = FhirVersion.auto,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Show only issues at or above --fail-on (text: skip inputs with none)."
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Validate FHIR resources and print the findings."""
    from fhirplugin.batch.inputs import expand
    from fhirplugin.engine import Engine
    from fhirplugin.reporters import render

    paths = _stdin_or_exit(paths)
    settings = _settings(config)
    try:
        engine = Engine(settings)
    except (OSError, ValueError) as exc:
        err.print(f"fhirplugin: could not load terminology: {exc}")
        raise typer.Exit(2) from None
    sources, problems, notes = expand(paths)
    for msg in problems + notes:
        err.print(f"fhirplugin: {msg}")
    unreadable = bool(problems)
    results = []
    for src in sources:
        try:
            data = _read(src)
        except OSError as exc:
            err.print(f"fhirplugin: cannot read {src.name}: {getattr(exc, 'strerror', None) or exc}")
            unreadable = True
            continue
        ndjson = src.name.endswith((".ndjson", ".ndjson.gz")) or None
        results.extend(
            engine.check_bytes(data, fhir_version=fhir_version.value, source=src.name, ndjson=ndjson)
        )
    if not results and not unreadable:
        err.print("fhirplugin: nothing to check: no input files found")
        raise typer.Exit(2)
    threshold = Severity(fail_on.value)
    shown = results
    if quiet:
        import dataclasses

        shown = [
            dataclasses.replace(r, findings=[f for f in r.findings if f.severity.rank >= threshold.rank])
            for r in results
        ]
        if format is Format.text:
            shown = [r for r in shown if r.findings]
    if results or not unreadable:
        render(shown, format.value, sys.stdout, color=None if format is Format.text else False)
    sys.stdout.flush()
    if unreadable:
        raise typer.Exit(2)
    raise typer.Exit(1 if any(r.fails(threshold) for r in results) else 0)


@app.command()
def rules(
    rule_id: Annotated[
        str | None, typer.Argument(help="Explain one rule (what, why, example, fix, source).")
    ] = None,
) -> None:
    """List the rules, or explain one."""
    from rich.console import Console
    from rich.table import Table

    from fhirplugin.rules import REGISTRY

    out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    if rule_id:
        cls = REGISTRY.get(rule_id)
        if cls is None:
            err.print(f"fhirplugin: no rule {rule_id!r}; run `fhirplugin rules` for the list")
            raise typer.Exit(2)
        out.print(
            f"[bold]{cls.id}[/bold] {cls.name}  ({cls.severity.value}, {cls.issue_type}, family {cls.family})"
        )
        out.print(cls.summary(), markup=False)
        for section, body in cls.doc_sections().items():
            out.print(f"\n[bold]{section}[/bold]")
            out.print(body, markup=False)  # the docs are plain text: "[severity]" is not markup
        return
    table = Table(title="fhirplugin rules", show_lines=False)
    for col in ("id", "severity", "family", "name", "summary"):
        table.add_column(col)
    for cls in REGISTRY.all():
        table.add_row(cls.id, cls.severity.value, cls.family, cls.name, cls.summary())
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Allow unauthenticated calls on a non-loopback address.", show_default="off"
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Run the CDS Hooks and FHIR $validate service."""
    from fhirplugin.service.run import run

    settings = _settings(config)
    raise typer.Exit(run(settings, host=host, port=port, workers=workers, insecure=insecure, config=config))


@app.command()
def hook(
    name: Annotated[str, typer.Argument(help="Service id or hook name (order-sign, encounter-discharge, …).")],
    file: Annotated[str, typer.Argument(help="A CDS Hooks request, or a FHIR Bundle to wrap as one; - for stdin.")],
    url: Annotated[
        str | None,
        typer.Option("--url", help="Base URL of a running service [default: run the service in-process]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the response JSON instead of text.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Send a CDS Hooks request (or a Bundle wrapped as one) and print the cards.

    Exit codes: 0 no critical card; 1 at least one critical card; 2 the request failed.
    """
    from fhirplugin.batch.inputs import Source
    from fhirplugin.service.hookclient import HookError, render, send

    settings = _settings(config)
    try:
        source = Source(file, None, None) if file == "-" else Source(file, Path(file), None)
        answer = send(name, _read(source), url=url, settings=settings)
    except OSError as exc:
        err.print(f"fhirplugin: cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
        raise typer.Exit(2) from None
    except HookError as exc:
        err.print(f"fhirplugin: {exc}")
        raise typer.Exit(2) from None
    if as_json:
        import orjson

        sys.stdout.write(orjson.dumps(answer.response, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(answer))
    raise typer.Exit(1 if any(c.get("indicator") == "critical" for c in answer.response["cards"]) else 0)


@app.command()
def batch(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="NDJSON / JSON files, folders (searched for *.ndjson, *.ndjson.gz, *.json), - for stdin.",
            show_default=False,
        ),
    ],
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Worker processes.", show_default="all cores"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the outcomes here.",
            show_default="stdout",
            dir_okay=False,
        ),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Lowest severity that makes the exit code 1.")
    ] = (FailOn.error),
    fhir_version: Annotated[
        FhirVersion, typer.Option("--fhir-version", help="FHIR version of the input.")
    ] = (FhirVersion.auto),
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Resources sent to a worker at a time.")
    ] = 500,
    config: ConfigOpt = None,
) -> None:
    """Check many resources (NDJSON, files, folders) on all cores.

    Writes one OperationOutcome per resource (NDJSON, input order), each with the extension
    https://fhirplugin.dev/fhir/StructureDefinition/batch-source naming the file, line, index,
    resourceType and id of its input. A progress bar (on a terminal) and a summary table go to stderr.
    """
    from concurrent.futures.process import BrokenProcessPool

    from fhirplugin.batch.runner import BatchError, run_batch
    from fhirplugin.reporters.summary import summary_tables

    settings = _settings(config)
    threshold = Severity(fail_on.value)
    try:
        sink = open(out, "wb") if out else sys.stdout.buffer  # noqa: SIM115 - closed below
    except OSError as exc:
        err.print(f"fhirplugin: cannot write {out}: {exc.strerror or exc}")
        raise typer.Exit(2) from None

    progress = None
    task = None
    if err.is_terminal:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        progress = Progress(
            TextColumn("[bold]checking[/bold]"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[resources]:,} resources"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=_stderr(),
            transient=True,
        )

    def on_start(total: int | None) -> None:
        nonlocal task
        if progress is not None:
            progress.start()
            task = progress.add_task("batch", total=total, resources=0)

    def on_progress(done: int, resources: int) -> None:
        if progress is not None and task is not None:
            progress.update(task, completed=done, resources=resources)

    def say(msg: str) -> None:
        err.print(f"fhirplugin: {msg}")

    try:
        summary = run_batch(
            paths,
            sink,
            settings=settings,
            jobs=jobs,
            fhir_version=fhir_version.value,
            chunk_size=chunk_size,
            exclude=out,
            on_unreadable=say,
            on_note=say,
            on_progress=on_progress,
            on_start=on_start,
        )
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as other Unix tools do
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except BrokenProcessPool:
        say("a worker process died (out of memory?); the outcomes written so far are incomplete")
        raise typer.Exit(2) from None
    except BatchError as exc:
        say(str(exc))
        raise typer.Exit(2) from None
    except OSError as exc:
        say(f"cannot write {out or 'stdout'}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    finally:
        if progress is not None:
            progress.stop()
        if out:
            sink.close()
    for table in summary_tables(summary, threshold):
        err.print(table)
    if not summary.resources and not summary.unreadable:
        say("nothing to check: no resources in the input")
    raise typer.Exit(summary.exit_code(threshold))


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


# ------------------------------------------------------------------------------------------ data
data_app = typer.Typer(
    help="Import CMS's own files (NCCI PTP/MUE, add-on code edits, PFS relative values, HCPCS Level II, "
    "modifiers) into the local store, and list what is loaded.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="The SQLite store [default: [terminology] store, else cms-store.sqlite3 in the cache folder].",
        show_default=False,
        dir_okay=False,
    ),
]


def _store_path(store: Path | None, config: Path | None) -> Path:
    from fhirplugin.tx.cmsstore import default_store_path

    path = store or _settings(config).terminology.store or default_store_path()
    if path is None:
        err.print('fhirplugin: no store: the cache folder is off (FHIRPLUGIN_CACHE_DIR=""); pass --store')
        raise typer.Exit(2)
    return Path(path)


@data_app.command("import")
def data_import(
    files: Annotated[
        list[Path],
        typer.Argument(help="CMS files, folders or the zips CMS distributes.", show_default=False),
    ],
    store: StoreOpt = None,
    release: Annotated[
        str | None,
        typer.Option(
            help="The release, when the file names do not say (2024 Q3, RVU24C, 2024-07).", show_default=False
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            help="ptp, mue, aoc, pfs, hcpcs or modifiers [default: from each file].", show_default=False
        ),
    ] = None,
    setting: Annotated[
        str | None,
        typer.Option(help="practitioner, hospital or dme, when the file does not say.", show_default=False),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Compile CMS files into the store, one release per table and quarter (atomic: on any error the
    previous store is left as it was)."""
    import time

    from fhirplugin.tx.cmsstore import import_files
    from fhirplugin.tx.ncci import CmsFileError
    from fhirplugin.tx.store import setting_of

    path = _store_path(store, config)
    started = time.perf_counter()
    try:
        canonical = setting_of(setting) if setting else None
        done = import_files(
            path, files, kind=table.lower() if table else None, setting=canonical, release=release
        )
    except (CmsFileError, ValueError) as exc:
        err.print(f"fhirplugin: {exc}")
        err.print(f"fhirplugin: nothing imported; the store {path} is unchanged")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"fhirplugin: cannot write the store {path}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    for kind, where, rel, rows in done:
        err.print(f"imported {kind}{f' {where}' if where else ''} {rel}: {rows:,} rows")
    err.print(f"store {path} ({time.perf_counter() - started:.1f} s)")


@data_app.command("list")
def data_list(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """Show what is loaded: table, setting, release, rows, first and last day in force, where from."""
    from rich.console import Console
    from rich.table import Table

    from fhirplugin.tx.store import Terminology

    settings = _settings(config)
    if store is not None:
        settings.terminology.store = store
    try:
        tx = Terminology.from_settings(settings)
    except (OSError, ValueError) as exc:
        err.print(f"fhirplugin: {exc}")
        raise typer.Exit(2) from None
    out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    grid = Table(title="CMS tables loaded", show_lines=False)
    for col in ("table", "setting", "release", "rows", "first day", "last day", "from"):
        grid.add_column(col, justify="right" if col == "rows" else "left")
    for r in tx.releases():
        grid.add_row(
            r.table,
            r.setting or "-",
            r.release or "built-in",
            f"{r.rows:,}",
            r.first.isoformat() if r.first else "-",
            r.last.isoformat() if r.last else "-",
            r.source,
        )
    out.print(grid)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    try:
        app(args=argv, prog_name="fhirplugin", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    return 0
