"""How the cost of one input grows with its size: claim lines, and Bundle entries. Not a test.

    python bench/scaling.py                  # both tables
    python bench/scaling.py --http           # and 504-/1,600-entry Bundles over $validate (TestClient)

Table 1: one R4 Claim with k items (drainage codes with imaging guidance, all on one date for one
patient and provider: one session) and k Procedures in one Bundle, item i linked to Procedure i by
``procedureSequence``. Table 2: the drainage example (``examples/drainage/bundle.json``, 8 entries) repeated n times
in one Bundle, ids renamed per copy, same patient, provider and date (so every claim shares one
session). Each row: CPU time (``time.process_time``, best of ``--repeat``) of ``Engine.check_bytes``
per input and per line/entry, and the ratio of the per-line cost to the one at the second size (5
items / 5 copies); the fhirkit-rs peer (structure only) beside it when installed, in the same run.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
CPT = "http://www.ama-assn.org/go/cpt"
DRAINS = ["49406", "49405", "10030", "49407"]
GUIDANCE = ["76942", "77012", "75989", "77002"]


def _cc(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def claim_with_items(k: int) -> dict:
    """A Bundle: one Claim with k items and k Procedures (item i documented by Procedure i through
    ``Claim.procedure`` and ``procedureSequence``; same date, patient and provider: one session)."""
    items, entries = [], []
    for i in range(k):
        code = DRAINS[i % 4] if i % 2 == 0 else GUIDANCE[(i // 2) % 4]
        items.append(
            {
                "sequence": i + 1,
                "productOrService": _cc(CPT, code),
                "diagnosisSequence": [1],
                "procedureSequence": [i + 1],
                "servicedDate": "2026-03-02",
                "quantity": {"value": 1},
            }
        )
        entries.append(
            {
                "fullUrl": f"http://example.org/fhir/Procedure/p{i}",
                "resource": {
                    "resourceType": "Procedure",
                    "id": f"p{i}",
                    "status": "completed",
                    "code": _cc(CPT, code),
                    "subject": {"reference": "Patient/example"},
                    "performedDateTime": "2026-03-02",
                },
            }
        )
    claim = {
        "resourceType": "Claim",
        "id": f"claim-{k}",
        "status": "active",
        "type": _cc("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
        "use": "claim",
        "patient": {"reference": "Patient/example"},
        "created": "2026-03-02",
        "provider": {"reference": "Practitioner/ir-1"},
        "priority": _cc("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/example"}}],
        "diagnosis": [
            {"sequence": 1, "diagnosisCodeableConcept": _cc("http://hl7.org/fhir/sid/icd-10-cm", "K65.1")}
        ],
        "procedure": [
            {"sequence": i + 1, "procedureReference": {"reference": f"Procedure/p{i}"}} for i in range(k)
        ],
        "item": items,
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "http://example.org/fhir/Claim/c", "resource": claim}, *entries],
    }


def _rename(value, ids: set[str], suffix: str):
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if key in ("reference", "fullUrl") and isinstance(v, str) and v.rsplit("/", 1)[-1] in ids:
                out[key] = v + suffix
            else:
                out[key] = _rename(v, ids, suffix)
        if isinstance(out.get("resourceType"), str) and out.get("id") in ids:
            out["id"] = out["id"] + suffix
        return out
    if isinstance(value, list):
        return [_rename(v, ids, suffix) for v in value]
    return value


def repeated_bundle(n: int, rename: bool = True) -> dict:
    """The drainage example's entries n times in one Bundle (ids renamed per copy unless ``rename=False``)."""
    example = orjson.loads((ROOT / "examples/drainage/bundle.json").read_bytes())
    ids = {e["resource"]["id"] for e in example["entry"] if "id" in e["resource"]}
    entries = []
    for i in range(n):
        copy_ = copy.deepcopy(example["entry"])
        entries.extend(_rename(copy_, ids, f"-{i}") if rename and i else copy_)
    return {**example, "id": f"drainage-x{n}", "entry": entries}


def cpu(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def table(title: str, unit: str, sizes: list[int], make, engine, repeat: int, peer, cap: int) -> None:
    print(f"\n{title}")
    print(
        f"{'size':>6} {'bytes':>10} {'ms/input':>10} {'µs/' + unit:>12} {'× at 5':>7} {'peer µs/' + unit:>14}"
    )
    base = None
    for size in [n for n in sizes if n <= cap]:
        body = orjson.dumps(make(size))
        secs = cpu(lambda body=body: engine.check_bytes(body), repeat)
        per = secs / size * 1e6
        if size == 5:
            base = per
        peer_per = "-"
        if peer is not None:
            peer_per = f"{cpu(lambda body=body: peer.validate(body), repeat) / size * 1e6:.1f}"
        ratio = f"{per / base:.2f}" if base else "-"
        print(f"{size:>6} {len(body):>10,} {secs * 1e3:>10.2f} {per:>12.1f} {ratio:>7} {peer_per:>14}")


def http(engine_settings, copies: tuple[int, ...] = (63, 200)) -> None:
    """POST the repeated drainage Bundle to ``$validate`` (TestClient, the app in this process)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from fhirplugin.service.app import create_app

    headers = {"Content-Type": "application/fhir+json"}
    print()
    with TestClient(create_app(engine_settings)) as client:
        client.post("/fhir/Bundle/$validate", content=orjson.dumps(repeated_bundle(1)), headers=headers)
        for n in copies:
            body = orjson.dumps(repeated_bundle(n))
            t0, c0 = time.perf_counter(), time.process_time()
            r = client.post("/fhir/Bundle/$validate", content=body, headers=headers)
            wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            issues = len(r.json().get("issue", []))
            print(
                f"$validate, {8 * n}-entry Bundle ({len(body) / 1e6:.2f} MB): HTTP {r.status_code}, {issues} "
                f"issues, {cpu_s * 1e3:.0f} ms CPU, {wall * 1e3:.0f} ms wall (TestClient, app in-process)"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", type=Path, help="print the same tables for another checkout first (same run)")
    ap.add_argument("--cap", type=int, default=10**9, help="skip Bundle copies above this (--before: 63)")
    ap.add_argument(
        "--http", action="store_true", help="also time 504- and 1600-entry Bundles over $validate"
    )
    args = ap.parse_args()
    if args.before:
        import os
        import subprocess
        import sys

        print(f"== before: {args.before}")
        env = dict(os.environ, PYTHONPATH=str(args.before.resolve()))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--repeat", str(args.repeat), "--cap", "63"]
        subprocess.run(cmd + (["--http"] if args.http else []), env=env, check=False, cwd=args.before)
        print("== this checkout")
    from fhirplugin.config import Settings
    from fhirplugin.engine import Engine

    try:
        import fhirkit as peer
    except ImportError:
        peer = None
    engine = Engine(Settings())
    engine.check_bytes(orjson.dumps(claim_with_items(5)))  # warm: models, tables, caches
    engine.check_bytes(orjson.dumps(repeated_bundle(5)))
    print(f"peer: {'fhirkit-rs ' + peer.__version__ if peer else 'fhirkit-rs not installed'}")
    table(
        "one Claim with k items and k Procedures (one session)",
        "item",
        [1, 5, 20, 100, 500],
        claim_with_items,
        engine,
        args.repeat,
        peer,
        10**9,  # every size: the cap is for the Bundle copies (the old code took minutes at 200)
    )
    table(
        "the drainage example repeated n times in one Bundle (8 entries each)",
        "copy",
        [1, 5, 20, 63, 200],
        repeated_bundle,
        engine,
        args.repeat,
        peer,
        args.cap,
    )
    if args.http:
        http(Settings(), tuple(n for n in (63, 200) if n <= args.cap))


if __name__ == "__main__":
    main()
