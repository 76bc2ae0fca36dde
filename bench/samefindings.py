"""Write every finding fhirplugin gives on a fixed set of inputs, to compare two versions byte for byte.

    python bench/samefindings.py OUT_DIR                 # write the outcomes
    python bench/samefindings.py OUT_DIR --compare OLD   # write, then compare file by file with OLD

The inputs (all made here, deterministic): the bench corpus (``bench/corpus.py``, 5,000 claims), the
same with every 7th claim structurally broken, the examples under ``examples/`` and ``profiles/examples``,
the scaling inputs of ``bench/scaling.py`` (one claim with k items and k Procedures; the drainage
example repeated n times in one Bundle), and the mixed corpus of ``bench/mixed.py`` (when
``../shared`` is present). Each input gives one NDJSON file of OperationOutcomes (``fhirplugin batch``
output, in input order) and, for the examples, the text report too. Not a test: a tool for changes
that must not change findings (speed work).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import sys
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent




def inputs() -> dict[str, list[bytes]]:
    corpus, scaling, mixed = importlib.import_module("corpus"), importlib.import_module("scaling"), importlib.import_module("mixed")
    out: dict[str, list[bytes]] = {
        "corpus": [orjson.dumps(c) for c in corpus.claims(5000)],
        "broken": [orjson.dumps(c) for c in corpus.claims(5000, invalid_every=7)],
    }
    examples = sorted([*ROOT.glob("examples/*/*.json"), *ROOT.glob("profiles/examples/*.json")])
    out["examples"] = [orjson.dumps(orjson.loads(p.read_bytes())) for p in examples]
    out["scaling-items"] = [orjson.dumps(scaling.claim_with_items(k)) for k in (1, 5, 20, 100, 500)]
    out["scaling-entries"] = [orjson.dumps(scaling.repeated_bundle(n)) for n in (1, 5, 20, 63)]
    out["scaling-entries"] += [orjson.dumps(scaling.repeated_bundle(n, rename=False)) for n in (2, 20)]
    rows = mixed.resources()
    if rows:
        out["mixed"] = [orjson.dumps(r) for r in rows]
    return out


def write(folder: Path) -> dict[str, str]:
    from fhirplugin.batch import tagged_outcome
    from fhirplugin.config import Settings
    from fhirplugin.engine import Engine
    from fhirplugin.reporters import render

    engine = Engine(Settings())
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, lines in inputs().items():
        results = [r for i, line in enumerate(lines) for r in engine.check_bytes(line, source=f"{name}:{i}")]
        data = b"".join(orjson.dumps(tagged_outcome(r), option=orjson.OPT_SORT_KEYS) + b"\n" for r in results)
        (folder / f"{name}.ndjson").write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()[:16]
        if name == "examples":
            text = io.StringIO()
            render(results, "text", text, color=False)
            (folder / "examples.txt").write_text(text.getvalue())
        print(f"{name:<16} {len(lines):>6} inputs  {len(data):>10,} bytes  sha256 {digests[name]}")
    return digests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--compare", type=Path, help="a folder written by an earlier run")
    args = ap.parse_args()
    write(args.out)
    if not args.compare:
        return 0
    differ = []
    for old in sorted(args.compare.iterdir()):
        new = args.out / old.name
        same = new.is_file() and new.read_bytes() == old.read_bytes()
        print(f"{old.name:<24} {'identical' if same else 'DIFFERENT'}")
        if not same:
            differ.append(old.name)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
