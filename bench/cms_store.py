"""Benchmark of the CMS store (issue 9): the full practitioner PTP and MUE tables imported, against the
built-in excerpt only, in the same run. Not a test; nothing here asserts a speed.

    python bench/cms_store.py                  # needs ../shared/data/cms (the real July 2024 tables)
    python bench/cms_store.py --claims 4000 --repeat 5 --workdir /tmp/cms-bench

1. writes the real 2024 Q3 practitioner PTP table (active rows, 1.67 M pairs, effective date
   20240701 chosen: the source carries none) in CMS's layout, four tab-separated parts
   ``ccipra-v302r0-f1…f4.txt``, and the practitioner MUE table as CMS's CSV, into a temporary folder
   (never the repository);
2. ``fhirplugin data import`` of that quarter: wall and CPU time;
3. start-up: ``fhirplugin validate`` on one claim, CPU time (user + system) and peak resident memory
   of the process, median of ``--repeat`` runs: built-in only, with the store, and with the same files
   read into memory the old way (``ptp_paths``/``mue_paths`` with the cache off);
4. per-claim cost in ``fhirplugin batch --jobs 1``: CPU time of N claims minus that of N/4 claims,
   divided by 3N/4 (start-up cancels out), built-in vs store;
5. the query the generic PTP rule makes, ``ptp.among(codes of a claim, date)``, µs per claim in
   process: built-in, store, in memory.

Ratios are against the built-in-only run of the same invocation.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "cms"

PTP_HEADER = (
    "CPT codes and descriptions only are copyright American Medical Association. Benchmark copy written "
    "from the CMS 2024 Q3 practitioner table.\r\n"
    "Column1/Column2 Edits\r\n"
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\r\n"
    "\t\t\t\t*=no data\t1=allowed\t\r\n"
    "\t\t\t\t\t9=not applicable\t\r\n"
)
MAI = {"1": "1 Line Edit", "2": "2 Date of Service Edit: Policy", "3": "3 Date of Service Edit: Clinical"}


def write_quarter(folder: Path) -> tuple[int, int]:
    """The CMS-layout practitioner PTP (4 parts) and MUE files; returns (PTP rows, MUE rows)."""
    rows = []
    with gzip.open(SHARED / "ncci-ptp-practitioner-2024q3.csv.gz", "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["deletion_date"] == "*":
                rows.append(
                    f"{r['column1']}\t{r['column2']}\t\t20240701\t*\t{r['modifier_indicator']}\t"
                    f"{r['ptp_edit_rationale']}\r\n"
                )
    quarter = (len(rows) + 3) // 4
    for part in range(4):
        body = "".join(rows[part * quarter : (part + 1) * quarter])
        (folder / f"ccipra-v302r0-f{part + 1}.txt").write_bytes((PTP_HEADER + body).encode("cp1252"))
    mue = 0
    with (
        open(SHARED / "ncci-mue-practitioner-2024q3.csv", newline="", encoding="utf-8") as f,
        open(
            folder / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv", "w", newline="", encoding="cp1252"
        ) as out,
    ):
        out.write('"CPT codes and descriptions only are copyright American Medical Association.",,,\r\n')
        out.write(
            '"HCPCS/\r\nCPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator","MUE Rationale"\r\n'
        )
        w = csv.writer(out, lineterminator="\r\n")
        for r in csv.DictReader(f):
            w.writerow([r["hcpcs_code"], r["mue_value"], MAI[r["mai"]], r["mue_rationale"]])
            mue += 1
    return len(rows), mue


def run_child(args: list[str], env: dict) -> tuple[float, float, int, int]:
    """(wall s, CPU s user+system, peak RSS KiB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode


def fhirplugin(*args: str) -> list[str]:
    return [sys.executable, "-m", "fhirplugin", *args]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--claims", type=int, default=2000, help="claims in the batch runs")
    ap.add_argument("--repeat", type=int, default=5, help="runs per start-up figure (median)")
    ap.add_argument("--workdir", type=Path, help="keep the files here instead of a temporary folder")
    ap.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.write:
        print(*write_quarter(opts.write))
        return
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: the benchmark needs the real CMS tables")
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="fhirplugin-cms-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        bench(work, opts)
    finally:
        if opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, opts) -> None:
    cms = work / "cms-2024q3"
    cms.mkdir(exist_ok=True)
    cache = work / "cache"  # ICD-10-CM index cache of these runs; holds no CMS store
    cache.mkdir(exist_ok=True)
    store = work / "store.sqlite3"
    env = {**os.environ, "FHIRPLUGIN_CACHE_DIR": str(cache)}

    t0 = time.perf_counter()
    # in a child: this process stays small, so the peak RSS of the children it starts is theirs
    # (Linux carries a parent's peak into a forked child)
    out = subprocess.run(
        [sys.executable, __file__, "--write", str(cms)], check=True, capture_output=True, text=True
    )
    n_ptp, n_mue = map(int, out.stdout.split())
    print(f"wrote the CMS-layout quarter: {n_ptp:,} PTP rows (4 parts), {n_mue:,} MUE rows "
          f"in {time.perf_counter() - t0:.1f} s -> {cms}")  # fmt: skip

    if store.exists():
        store.unlink()
    wall, cpu, rss, _ = run_child(fhirplugin("data", "import", "--store", str(store), str(cms)), env)
    print(f"\nfhirplugin data import (whole quarter): {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS "
          f"{rss / 1024:.0f} MB, store {store.stat().st_size / 1e6:.0f} MB   [target < 60 s]")  # fmt: skip

    import corpus  # bench/corpus.py (this script's folder is on sys.path)

    one = work / "one.ndjson"
    corpus.write_ndjson(one, 1)
    one_json = work / "one.json"
    one_json.write_bytes(one.read_bytes().strip())

    configs = {
        "built-in only": "",
        "store": f'[terminology]\nstore = "{store}"\n',
        # the files read into dicts at every start, as before the store: a store path that cannot be
        # written (under /proc) makes fhirplugin fall back to reading them into memory
        "files in memory": (
            f'[terminology]\nstore = "/proc/fhirplugin-bench-no-store.sqlite3"\nptp_paths = ["{cms}"]\n'
            f'mue_paths = ["{cms / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv"}"]\n'
        ),
    }
    cfg_files = {}
    for name, text in configs.items():
        p = work / f"{name.replace(' ', '-')}.toml"
        p.write_text(text)
        cfg_files[name] = p

    def child_env(name: str) -> dict:
        return env

    print(f"\nstart-up: fhirplugin validate on one claim, median of {opts.repeat} runs (CPU = user + system)")
    results = {}
    for name in configs:
        run_child(
            fhirplugin("validate", "--config", str(cfg_files[name]), str(one_json)), child_env(name)
        )  # warm
    for name in configs:
        runs = [
            run_child(
                fhirplugin("validate", "--config", str(cfg_files[name]), str(one_json)), child_env(name)
            )
            for _ in range(opts.repeat)
        ]
        results[name] = (statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs) / 1024,
                         statistics.median(r[0] for r in runs))  # fmt: skip
    base_cpu, base_rss, _ = results["built-in only"]
    print(f"  {'':18} {'CPU s':>7} {'+CPU s':>7} {'ratio':>6} {'RSS MB':>7} {'+RSS MB':>8} {'wall s':>7}")
    for name, (cpu, rss, wall) in results.items():
        print(
            f"  {name:18} {cpu:7.2f} {cpu - base_cpu:+7.2f} {cpu / base_cpu:6.2f} {rss:7.0f} {rss - base_rss:+8.0f} {wall:7.2f}"
        )
    print("  targets for the store: +CPU <= 0.2 s, +RSS <= 50 MB")

    n = opts.claims
    small, big = work / "small.ndjson", work / "big.ndjson"
    corpus.write_ndjson(small, n // 4)
    corpus.write_ndjson(big, n)
    print(f"\nper-claim cost in fhirplugin batch --jobs 1: (CPU({n}) - CPU({n // 4})) / {n - n // 4}")
    per = {}
    for name in ("built-in only", "store", "files in memory"):
        cpus = {}
        for label, path in (("small", small), ("big", big)):
            out = work / f"out-{label}.ndjson"
            args = fhirplugin(
                "batch", "--jobs", "1", "--config", str(cfg_files[name]), "-o", str(out), str(path)
            )
            cpus[label] = statistics.median(run_child(args, env)[1] for _ in range(max(1, opts.repeat // 2)))
        per[name] = (cpus["big"] - cpus["small"]) / (n - n // 4) * 1e6
    for name, us in per.items():
        print(f"  {name:18} {us:8.0f} µs/claim   ratio {us / per['built-in only']:.3f}")
    print("  target for the store: ratio <= 1.10")

    # the engine in this process, steady state (after a first pass), alternating the terminologies
    from fhirplugin.config import Settings
    from fhirplugin.engine import Engine
    from fhirplugin.tx.store import Terminology

    lines = big.read_bytes().splitlines()
    engines = {
        "built-in only": Engine(Settings(), tx=Terminology.load()),
        "store": Engine(Settings(), tx=Terminology.load(store=store)),
        "files in memory": Engine(
            Settings(),
            tx=Terminology.load(
                ptp_paths=[cms], mue_paths=[cms / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv"]
            ),
        ),
    }
    best = dict.fromkeys(engines, float("inf"))
    issues = {}
    for _ in range(3):
        for name, engine in engines.items():
            t0 = time.process_time()
            results = list(engine.check_lines(lines))
            best[name] = min(best[name], time.process_time() - t0)
            issues[name] = sum(len(r.findings) for r in results)
    print(f"\nengine in process, {n} claims, best of 3 (CPU): the same claims, each terminology")
    for name, cpu in best.items():
        print(f"  {name:18} {cpu / n * 1e6:8.0f} µs/claim   ratio {cpu / best['built-in only']:.3f}"
              f"   {issues[name]} findings")  # fmt: skip
    print("  (the full tables find more than the excerpt: more findings to build; 'files in memory' also")
    print("   holds millions of long-lived objects, which makes Python's full garbage collections rarer)")

    # the query the generic PTP rule makes, in this process

    claims = list(corpus.claims(n))
    groups = []
    for c in claims:
        codes = [it["productOrService"]["coding"][0]["code"] for it in c["item"]]
        groups.append((codes, date.fromisoformat(c["billablePeriod"]["start"])))
    tables = {name: engine.tx for name, engine in engines.items()}
    t0 = time.perf_counter()
    Terminology.load(ptp_paths=[cms], mue_paths=[cms / "MCR_MUE_PractitionerServices_Eff_07-01-2024.csv"])
    load_mem = time.perf_counter() - t0
    print(f"\nptp.among(codes of one claim, date) + mue.get per code, in process, {n} claims "
          f"(reading the files into memory took {load_mem:.1f} s)")  # fmt: skip
    timing = {}
    hits = {}
    for name, tx in tables.items():
        passes = []
        for _ in range(3):  # pass 1: cold caches; passes 2-3: the code sets again (a batch repeats them)
            t0 = time.process_time()
            found = 0
            for codes, dos in groups:
                found += len(tx.ptp.among(codes, dos))
                for code in codes:
                    tx.mue.get(code, dos)
            passes.append(time.process_time() - t0)
        timing[name] = (passes[0] / n * 1e6, min(passes[1:]) / n * 1e6)
        hits[name] = found
    print(f"  {'':18} {'first pass':>11} {'again':>8}")
    for name, (cold, warm) in timing.items():
        print(f"  {name:18} {cold:8.1f} µs {warm:5.1f} µs   {hits[name]:6d} PTP edits found per pass")


if __name__ == "__main__":
    main()
