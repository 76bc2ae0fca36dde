"""``fhirplugin batch --jobs 2`` against ``--jobs 1``: the wall speed-up, and a load-independent
figure from the CPU time of the parent and of each worker. Not a test.

    python bench/jobs.py                       # 20,000 claims and 20,000 mixed resources
    python bench/jobs.py --n 5000 --jobs 2 3

Each measurement is a fresh interpreter (``python bench/jobs.py --one FILE JOBS``) that runs
``run_batch`` as ``fhirplugin batch`` does, so the Engine's start-up and every warm-up count, as for
the command (the cache folder, one of this run's own, is warm: the ICD-10-CM index and compiled
tables exist). That process is
the parent; each worker writes its own CPU time (``getrusage(RUSAGE_SELF)``: a forked child starts
from zero, its Engine set-up included) after every chunk it checks. Printed per corpus and jobs:

- wall time and resources/s, and the wall speed-up over ``--jobs 1`` (bounded by the cores the
  other work on the machine leaves free: the lead reruns it on a quiet machine);
- the parent's CPU before the workers start (serial: terminology, prebuild, the first chunk, the
  fork) and after (reading chunks, writing outcomes), and each worker's CPU;
- total CPU over ``--jobs 1``'s (above 1.0: work the workers repeat), and the attainable speed-up:
  the CPU of ``--jobs 1`` divided by the critical path of this run, which is the parent's serial
  CPU plus the larger of the busiest worker's CPU and the parent's own CPU while the workers run.
  It is what the wall speed-up would be with every core free.

Corpora: ``bench/corpus.py`` claims (every 50th broken) and ``bench/mixed.py`` (CDS Hooks examples
under ../shared: Bundles, orders, Patients, Coverage, Parameters, ...; skipped when absent).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_CPU_DIR = ""  # set before the workers fork; each writes <pid> there




def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed_check(chunk: Any) -> Any:
    """``check_chunk`` in a worker, then its process CPU so far written to ``_CPU_DIR/<pid>``."""

    out = _ORIGINAL(chunk)
    if _CPU_DIR and os.getpid() != _PARENT:
        Path(_CPU_DIR, str(os.getpid())).write_text(f"{_cpu()!r}")
    return out


_ORIGINAL: Any = None
_PARENT = os.getpid()


def measure(path: Path, jobs: int, chunk_size: int) -> dict[str, Any]:
    global _CPU_DIR, _ORIGINAL
    from fhirplugin.batch import runner
    from fhirplugin.config import Settings

    with tempfile.TemporaryDirectory(prefix="fhirplugin-jobs-") as cpu_dir:
        _CPU_DIR = cpu_dir
        if _ORIGINAL is None:
            _ORIGINAL = runner.check_chunk
        runner.check_chunk = _timed_check  # the pool sends the function by name: the workers call this
        marks: dict[str, float] = {}
        cpu0, t0 = _cpu(), time.perf_counter()

        def started(_total: int | None) -> None:  # run_batch calls it once the workers are up
            marks.setdefault("serial", _cpu() - cpu0)

        try:
            with open(os.devnull, "wb") as sink:
                summary = runner.run_batch(
                    [path],
                    sink,
                    settings=Settings(),
                    jobs=jobs,
                    chunk_size=chunk_size,
                    on_start=started,
                )
        finally:
            runner.check_chunk = _ORIGINAL
            _CPU_DIR = ""
        wall = time.perf_counter() - t0
        parent = _cpu() - cpu0
        workers = sorted(float(p.read_text()) for p in Path(cpu_dir).iterdir())
    serial = marks.get("serial", parent) if jobs > 1 else parent
    return {
        "wall": wall,
        "resources": summary.resources,
        "parent": parent,
        "serial": serial,
        "workers": workers,
        "total": parent + sum(workers),
        "critical": serial + max([parent - serial, *workers]),
    }


def fresh(path: Path, jobs: int, chunk_size: int, no_freeze: bool = False) -> dict[str, Any]:
    """:func:`measure` in a new interpreter."""
    cmd = [sys.executable, __file__, "--one", str(path), str(jobs), "--chunk-size", str(chunk_size)]
    if no_freeze:
        cmd += ["--no-freeze"]
    out = subprocess.run(cmd, capture_output=True, check=True, cwd=tempfile.gettempdir()).stdout
    return dict(json.loads(out.splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="resources per corpus")
    ap.add_argument("--jobs", type=int, nargs="+", default=[2], help="worker counts beside --jobs 1")
    ap.add_argument("--chunk-size", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2, help="runs per figure; the fastest wall counts")
    ap.add_argument("--no-freeze", action="store_true", help="fork without gc.freeze (for comparison)")
    ap.add_argument("--one", nargs=2, metavar=("FILE", "JOBS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        if args.no_freeze:
            from fhirplugin.batch import runner

            runner.FREEZE_BEFORE_FORK = False
        print(json.dumps(measure(Path(args.one[0]), int(args.one[1]), args.chunk_size)))
        return
    from fhirplugin.engine import Engine
    from fhirplugin.tx.icd import cache_dir

    with tempfile.TemporaryDirectory(prefix="fhirplugin-jobs-") as tmp:
        # a cache folder of this run's own (seeded with the ICD-10-CM index): another checkout using
        # the usual folder would otherwise replace the compiled tables under it (they are keyed by the
        # fast check's source), and a run would measure their rebuilding
        usual = cache_dir()
        os.environ["FHIRPLUGIN_CACHE_DIR"] = str(Path(tmp) / "cache")
        Path(tmp, "cache").mkdir()
        if usual is not None and usual.is_dir():
            for f in usual.glob("icd10cm-index*"):
                shutil.copy2(f, Path(tmp, "cache", f.name))
        Engine()  # the compiled tables in the cache folder, as after a first run
        corpora = {"claims": importlib.import_module("corpus").write_ndjson(Path(tmp) / "claims.ndjson", args.n, invalid_every=50)}
        mixed = importlib.import_module("mixed")
        if mixed.resources():
            corpora["mixed"] = mixed.write_ndjson(Path(tmp) / "mixed.ndjson", args.n)
        print(
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.n:,} resources per corpus, "
            f"chunks of {args.chunk_size}; CPU in s; best wall of {args.repeat} fresh processes"
        )
        print(
            f"{'corpus':<8}{'jobs':>5}{'wall s':>8}{'res/s':>8}{'× wall':>8}"
            f"{'parent serial+rest':>20}{'workers':>16}{'CPU ×':>7}{'attainable ×':>14}"
        )
        for name, path in corpora.items():
            rows = [
                (j, min((fresh(path, j, args.chunk_size, args.no_freeze) for _ in range(args.repeat)), key=lambda m: m["wall"]))
                for j in [1, *args.jobs]
            ]
            one = rows[0][1]
            for jobs, m in rows:
                workers = " ".join(f"{w:.2f}" for w in m["workers"]) or "-"
                print(
                    f"{name:<8}{jobs:>5}{m['wall']:>8.2f}{m['resources'] / m['wall']:>8,.0f}"
                    f"{one['wall'] / m['wall']:>8.2f}"
                    f"{m['serial']:>11.2f}+{m['parent'] - m['serial']:<8.2f}{workers:>16}"
                    f"{m['total'] / one['total']:>7.2f}{one['total'] / m['critical']:>14.2f}"
                )
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
