"""Version detection (``fhirplugin.fhir.version.analyse``): µs per resource, this checkout beside
other copies of ``version.py`` in the same run, and the same answer from each. Not a test.

    python bench/version.py                                  # this checkout only
    python bench/version.py --other OLD=/path/to/version.py  # and another version.py beside it

Inputs: the bench corpus (``bench/corpus.py``, Claims), the mixed corpus (``bench/mixed.py``, many
resource types, when ``../shared`` is present) and the examples. Each figure is the least CPU time
of ``--repeat`` passes after a warm-up pass (the tables are built once per process, not measured).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def corpora(n: int) -> dict[str, list[dict]]:
    corpus, mixed = _load("bench_corpus", HERE / "corpus.py"), _load("bench_mixed", HERE / "mixed.py")
    out = {"bench corpus": list(corpus.claims(n))}
    rows = mixed.resources()
    if rows:
        out["mixed corpus"] = rows
    examples = sorted([*ROOT.glob("examples/*/*.json"), *ROOT.glob("profiles/examples/*.json")])
    out["examples"] = [orjson.loads(p.read_bytes()) for p in examples]
    return out


def per_resource(analyse, docs: list[dict], repeat: int) -> float:
    for d in docs:
        analyse(d)
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for d in docs:
            analyse(d)
        best = min(best, time.process_time() - t)
    return best / len(docs) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--other", action="append", default=[], metavar="NAME=PATH", help="another version.py")
    ap.add_argument("-n", type=int, default=2000, help="claims of the bench corpus")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    from fhirplugin.fhir import version

    impls = {"this checkout": version.analyse}
    for spec in args.other:
        name, _, path = spec.partition("=")
        impls[name] = _load(f"bench_version_{len(impls)}", Path(path)).analyse
    data = corpora(args.n)
    print(f"{'input':<14}{'resources':>10}" + "".join(f"{name:>16}" for name in impls) + "   answers")
    differ = 0
    for label, docs in data.items():
        answers = {name: [(d.version, d.conflict, d.evidence, d.misfits) for d in map(fn, docs)] for name, fn in impls.items()}
        first = answers["this checkout"]
        same = all(a == first for a in answers.values())
        differ += not same
        figures = [per_resource(fn, docs, args.repeat) for fn in impls.values()]
        row = f"{label:<14}{len(docs):>10}" + "".join(f"{f:>13.1f} µs" for f in figures)
        print(row + ("   same" if same else "   DIFFERENT"))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
