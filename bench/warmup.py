"""``fhirplugin batch --jobs 1`` against ``--jobs 2``, on the bench corpus and on a mixed corpus. Not a test.

    python bench/warmup.py                    # 20,000 claims and 20,000 mixed resources
    python bench/warmup.py --n 5000 --before /tmp/base

Each run is a fresh ``python -m fhirplugin batch --jobs J --out /dev/null FILE`` process, so worker
start-up and warm-up count. Printed per corpus and jobs: wall time, resources/s, CPU time of the
command and its workers (``getrusage(RUSAGE_CHILDREN)``), and two ratios: the speed-up of
``--jobs 2`` over ``--jobs 1`` (wall; bounded by what the other work on the machine leaves free) and
the CPU ``--jobs 2`` spends over ``--jobs 1`` (load-independent: above 1.0 is work each worker repeats,
such as building models or tables). The load average is printed beside them. Mixed corpus:
``bench/mixed.py`` (CDS Hooks examples under ../shared: Bundles, orders, Patients, Coverage,
Parameters, StructureDefinitions...); claims: ``bench/corpus.py`` with every 50th claim broken.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent




def run(path: Path, jobs: int, env: dict) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "fhirplugin", "batch", "--jobs", str(jobs), "--out", os.devnull, str(path)],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="resources per corpus")
    ap.add_argument("--repeat", type=int, default=2, help="runs per figure; the fastest counts")
    ap.add_argument("--before", type=Path, help="another checkout to measure beside this one")
    args = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="fhirplugin-pyc-")
    trees = [("this checkout", dict(env, PYTHONPATH=str(ROOT)))]
    if args.before:
        trees.insert(0, ("before", dict(env, PYTHONPATH=str(args.before.resolve()))))
    with tempfile.TemporaryDirectory(prefix="fhirplugin-warmup-") as tmp:
        corpora = {
            "claims": importlib.import_module("corpus").write_ndjson(Path(tmp) / "claims.ndjson", args.n, invalid_every=50),
        }
        if importlib.import_module("mixed").resources():
            corpora["mixed"] = importlib.import_module("mixed").write_ndjson(Path(tmp) / "mixed.ndjson", args.n)
        for _, tree_env in trees:  # warm caches and byte code
            run(corpora["claims"], 1, tree_env)
        print(
            f"{args.n:,} resources per corpus; fastest of {args.repeat}; load average {os.getloadavg()[0]:.1f}"
        )
        print(
            f"{'tree':<14} {'corpus':<7} {'jobs':>4} {'wall s':>7} {'res/s':>8} {'CPU s':>7} "
            f"{'speed-up':>9} {'CPU ×':>6}"
        )
        for label, tree_env in trees:
            for name, path in corpora.items():
                base = None
                for jobs in (1, 2):
                    best = min((run(path, jobs, tree_env) for _ in range(args.repeat)), key=lambda r: r[0])
                    wall, cpu, rc = best
                    if jobs == 1:
                        base = (wall, cpu)
                    speed = f"{base[0] / wall:.2f}" if jobs == 2 else "-"
                    more = f"{cpu / base[1]:.2f}" if jobs == 2 else "-"
                    print(
                        f"{label:<14} {name:<7} {jobs:>4} {wall:>7.2f} {args.n / wall:>8,.0f} {cpu:>7.2f} "
                        f"{speed:>9} {more:>6}" + (f"  exit {rc}" if rc not in (0, 1) else "")
                    )
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
