"""Memory of ``fhirplugin batch`` over a long run: does it stay flat? A script, not a test.

    python bench/memory.py --n 1000000                  # writes the corpus, then runs the batch
    python bench/memory.py --input claims.ndjson --jobs 2

Runs ``fhirplugin batch --out FILE`` as a subprocess (under ``script`` when it is installed, so the
progress bar draws as on a terminal) and samples, every ``--every`` seconds, the resident memory of
the parent process and of each worker (from /proc: Linux only) and how far the run got (bytes of
outcomes written). Prints one line per sample and, at the end, the first and the peak figures,
the exit code, the resources/s and the last progress line the command drew.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        for task in tasks:
            text = (task / "children").read_text().split()
            out.extend(int(x) for x in text)
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children(p))
    return seen


def fhirplugin_pid(root: int) -> int | None:
    """The ``fhirplugin batch`` process under ``root`` (``root`` itself when run without script)."""
    for p in tree(root):
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"batch" in cmd and any(b"fhirplugin" in c for c in cmd):
            return p
    return None


def sample(proc: subprocess.Popen, out: Path, every: float, started: float):
    """Print a sample every ``every`` s until ``proc`` ends; (peak parent, peak worker, first sample)."""
    first: tuple[int, int] | None = None
    peak_parent = peak_worker = 0
    while proc.poll() is None:
        time.sleep(every)
        main_pid = fhirplugin_pid(proc.pid)
        if main_pid is None:
            continue
        parent = rss_kib(main_pid) // 1024
        workers = [w for w in (rss_kib(p) // 1024 for p in tree(main_pid)[1:]) if w]
        done = out.stat().st_size / 1e6 if out.exists() else 0.0
        if first is None and workers:
            first = (parent, max(workers))
        peak_parent = max(peak_parent, parent)
        peak_worker = max([peak_worker, *workers])
        print(
            f"{time.perf_counter() - started:6.0f} {done:12,.0f} {parent:11,} {' '.join(map(str, workers)):<30}"
        )
    return peak_parent, peak_worker, first


def write_corpus(n: int, path: Path) -> None:
    import corpus  # bench/corpus.py (this script's folder is on sys.path)

    corpus.write_ndjson(path, n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="claims to generate (ignored with --input)")
    ap.add_argument("--input", type=Path, help="an NDJSON file to check instead of a generated corpus")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument(
        "--workdir",
        type=Path,
        help="where the corpus and outcomes go and stay (default: a temp dir, removed)",
    )
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="fhirplugin-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    src = args.input
    if src is None:
        src = work / f"claims-{args.n}.ndjson"
        if not src.exists():
            t0 = time.perf_counter()
            write_corpus(args.n, src)
            print(
                f"corpus: {args.n:,} claims, {src.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s"
            )
    out = work / "outcomes.ndjson"
    cmd = [sys.executable, "-m", "fhirplugin", "batch", "--out", str(out), str(src)]
    if args.jobs:
        cmd[4:4] = ["--jobs", str(args.jobs)]
    log = work / "batch.log"
    script = shutil.which("script")
    argv = [script, "-q", "-e", "-c", " ".join(cmd), str(log)] if script else cmd
    print(f"running: {' '.join(cmd)}" + (" (under script, for the progress bar)" if script else ""))
    print(f"{'s':>6} {'outcomes MB':>12} {'parent MiB':>11} {'workers MiB (each)':<30}")
    started = time.perf_counter()
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None if script else err
        )
        peak_parent, peak_worker, first = sample(proc, out, args.every, started)
    elapsed = time.perf_counter() - started
    lines = 0
    if out.exists():
        with open(out, "rb") as fh:
            lines = sum(1 for _ in fh)
    print(
        f"exit {proc.returncode}; {lines:,} outcomes in {elapsed:.0f} s ({lines / elapsed:,.0f} resources/s, wall)"
    )
    if first:
        print(
            f"memory: parent {first[0]} MiB at the first sample, {peak_parent} MiB at peak; "
            f"largest worker {first[1]} MiB at the first sample, {peak_worker} MiB at peak"
        )
    if log.exists():
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", log.read_bytes()).decode("utf-8", "replace")
        bars = [ln.strip() for ln in re.split(r"[\r\n]", text) if "checking" in ln and "resources" in ln]
        if bars:
            print(f"progress bar, as last drawn: {bars[-1]}")
        tail = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("Script ")][-14:]
        print("summary (stderr):\n" + "\n".join(tail))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)  # a generated corpus and its outcomes are gigabytes
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
