"""Published-corpus throughput beside the bench corpus, and the cost of a new resource type mid-batch.

    python bench/published.py               # best of 3, one core, same run
    python bench/published.py --repeat 5

Throughput (resources/s, ``Engine.check_bytes`` per resource, in-process, after warm-up) over:

- the bench corpus (``bench/corpus.py``: generated R4 Claims);
- the published corpus: every Claim, Procedure, ServiceRequest, ExplanationOfBenefit and ChargeItem
  example of the HL7 FHIR R4 and R5 example packages (npm, fetched into the test cache as
  ``tests/published.py`` does), and every Bundle of those packages that holds one, each checked at
  its detected version.

Then, each in a fresh interpreter: the time of the first ExplanationOfBenefit after a Claim without
a prebuild (a worker meeting a new type mid-run) and with ``fhirplugin.engine.prebuild()`` done at
start-up, and what the prebuild costs. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _corpus_module():
    return importlib.import_module("corpus")  # bench/corpus.py (this script's folder is on sys.path)


def published_corpus() -> tuple[list[bytes], list[bytes]]:
    """(single resources, Bundles holding one) of the two HL7 example packages."""
    from published import CHECKED, PACKAGES, examples, fetch

    singles: list[bytes] = []
    bundles: list[bytes] = []
    for name, ver in PACKAGES.values():
        path, why = fetch(name, ver)
        if path is None:
            sys.exit(f"published corpus unavailable: {why}")
        singles.extend(data for _name, data in examples(path))
        with tarfile.open(path) as tf:
            for member in tf:
                if not member.name.startswith("package/Bundle-") or not member.name.endswith(".json"):
                    continue
                data = tf.extractfile(member).read()
                if any(f'"resourceType":"{t}"'.encode() in data.replace(b" ", b"") for t in CHECKED):
                    bundles.append(data)
    return singles, bundles


def rate(engine, docs: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for d in docs:
            engine.check_bytes(d)
        best = min(best, time.perf_counter() - t)
    return len(docs) / best


_FIRST_EOB = """
import sys, time, orjson
sys.path.insert(0, {tests!r})
from builders import build
from fhirplugin.engine import Engine, prebuild
e = Engine()
claim = orjson.dumps(build({{"claim": {{"lines": [{{"code": "49406"}}]}}}}, "R4"))
eob = orjson.dumps(build({{"claim": {{"lines": [{{"code": "49406"}}]}}, "claim_as": "ExplanationOfBenefit"}}, "R4"))
t = time.perf_counter()
if {prebuild}:
    prebuild()
pre = time.perf_counter() - t
e.check_bytes(claim)
t = time.perf_counter(); e.check_bytes(eob); first = time.perf_counter() - t
t = time.perf_counter(); e.check_bytes(eob); again = time.perf_counter() - t
print(pre, first, again)
"""


def first_eob(prebuild: bool) -> tuple[float, float, float]:
    code = _FIRST_EOB.format(tests=str(HERE.parent / "tests"), prebuild=prebuild)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    pre, first, again = (float(x) for x in out.split())
    return pre, first, again


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="bench-corpus claims (default 2,000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    args = ap.parse_args()

    from fhirplugin.engine import Engine, prebuild

    engine = Engine()
    prebuild()
    bench = [orjson.dumps(c) for c in _corpus_module().claims(args.n)]
    singles, bundles = published_corpus()
    rate(engine, bench[:200] + singles + bundles, 1)  # warm every cache once
    r_bench = rate(engine, bench, args.repeat)
    r_single = rate(engine, singles, args.repeat)
    r_bundle = rate(engine, bundles, args.repeat)
    print(f"{'corpus':<48} {'resources':>9} {'resources/s':>12} {'× bench':>8}")
    print(f"{'bench corpus (generated R4 Claims)':<48} {len(bench):>9,} {r_bench:>12,.0f} {1:>8.2f}")
    print(
        f"{'published: Claim/Procedure/SR/EOB/ChargeItem':<48} {len(singles):>9,} {r_single:>12,.0f} "
        f"{r_single / r_bench:>8.2f}"
    )
    print(
        f"{'published: Bundles holding them':<48} {len(bundles):>9,} {r_bundle:>12,.0f} {r_bundle / r_bench:>8.2f}"
    )
    print()
    cold = first_eob(False)
    warm = first_eob(True)
    print("first ExplanationOfBenefit after a Claim, fresh interpreter (ms):")
    print(f"  without prebuild: first {cold[1] * 1e3:8.1f}   next {cold[2] * 1e3:6.2f}")
    print(
        f"  with prebuild:    first {warm[1] * 1e3:8.1f}   next {warm[2] * 1e3:6.2f}   "
        f"(prebuild at start-up: {warm[0] * 1e3:.0f} ms)"
    )


if __name__ == "__main__":
    main()
