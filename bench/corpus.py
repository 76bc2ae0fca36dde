"""A deterministic corpus of FHIR R4 Claims for the benchmark and the batch tests.

``claims(n, seed)`` yields plain dicts: professional claims with 1–7 lines, ICD-10-CM diagnoses and
pointers, CPT codes (some unknown to the built-in table, some with modifiers, units and body sites),
approach extensions, and a few per cent with coding problems the rules report. With
``invalid_every=k`` every k-th claim is also structurally invalid (a bad date, an unknown element, a
missing required element), so the fallback to fhir.resources is exercised too. Same ``n`` and ``seed``,
same bytes.

    python bench/corpus.py 1000000 claims.ndjson        # NDJSON, one claim per line
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

from fhirplugin.fhir.case import CPT, ICD10CM, SNOMED
from fhirplugin.fhir.extract import APPROACH_SYSTEM
from fhirplugin.fhir.extract import EXT_APPROACH as APPROACH_EXT

# codes from the built-in table, plus a few common ones it does not hold (GEN001 warnings)
CODES = [
    "10030", "10160", "32550", "32553", "45000", "49082", "49083", "49405", "49406", "49407",
    "49411", "49418", "55876", "58800", "58820", "75989", "76942", "77002", "77003", "77012",
    "99213", "99214", "71046", "36415",
]  # fmt: skip
ICD = ["K65.1", "K65.0", "C25.0", "R18.8", "J91.8", "N73.9", "K63.0", "C61", "E11.9", "I10", "K65"]
MODIFIERS = ["59", "XS", "LT", "RT", "26", "TC", "76", "11"]
SITES = ["82849001", "41216001", "15497006", "39607008", "818983003"]
APPROACHES = ["percutaneous", "transvaginal", "transrectal", "open"]


def _cc(system: str, code: str, display: str | None = None) -> dict:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return {"coding": [c]}


def claim(i: int, rnd: random.Random) -> dict:
    date = f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
    dx = rnd.sample(ICD, rnd.randint(1, 3))
    res: dict = {
        "resourceType": "Claim",
        "id": f"claim-{i}",
        "meta": {"lastUpdated": f"{date}T08:{rnd.randint(0, 59):02d}:00Z"},
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.9999", "value": f"CLM{i:09d}"}],
        "status": "active",
        "type": _cc("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
        "use": "claim",
        "patient": {"reference": f"Patient/p{rnd.randint(1, 50000)}"},
        "billablePeriod": {"start": date, "end": date},
        "created": f"{date}T17:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}-05:00",
        "insurer": {"reference": "Organization/payer1"},
        "provider": {"reference": f"Practitioner/dr{rnd.randint(1, 400)}"},
        "priority": _cc("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/cov{i}"}}],
        "diagnosis": [
            {"sequence": k + 1, "diagnosisCodeableConcept": _cc(ICD10CM, code)} for k, code in enumerate(dx)
        ],
    }
    items = []
    total = 0.0
    for k in range(rnd.randint(1, 7)):
        code = rnd.choice(CODES)
        price = round(rnd.uniform(20, 900), 2)
        units = rnd.choice((1, 1, 1, 1, 2, 3))
        item: dict = {
            "sequence": k + 1,
            "diagnosisSequence": sorted(rnd.sample(range(1, len(dx) + 1), rnd.randint(1, len(dx)))),
            "productOrService": _cc(CPT, code),
            "servicedDate": date,
            "quantity": {"value": units},
            "unitPrice": {"value": price, "currency": "USD"},
            "net": {"value": round(price * units, 2), "currency": "USD"},
        }
        total += item["net"]["value"]
        if rnd.random() < 0.3:
            item["modifier"] = [_cc(CPT, m) for m in rnd.sample(MODIFIERS, rnd.randint(1, 2))]
        if rnd.random() < 0.3:
            item["bodySite"] = _cc(SNOMED, rnd.choice(SITES))
        if rnd.random() < 0.2:
            item["extension"] = [
                {"url": APPROACH_EXT, "valueCodeableConcept": _cc(APPROACH_SYSTEM, rnd.choice(APPROACHES))}
            ]
        if rnd.random() < 0.05:  # a pointer to a diagnosis that is not there (GEN004)
            item["diagnosisSequence"].append(len(dx) + 2)
        items.append(item)
    res["item"] = items
    res["total"] = {"value": round(total, 2), "currency": "USD"}
    return res


def _break(res: dict, rnd: random.Random) -> None:
    """Make a claim structurally invalid in one of a few common ways."""
    kind = rnd.randrange(4)
    if kind == 0:
        res["created"] = "2026-02-30"
    elif kind == 1:
        res["item"][0]["productOrservice"] = res["item"][0].pop("productOrService")
    elif kind == 2:
        del res["patient"]
    else:
        res["item"][0]["quantity"]["value"] = "two"


def claims(n: int, seed: int = 20260302, *, invalid_every: int = 0) -> Iterator[dict]:
    rnd = random.Random(seed)
    for i in range(n):
        res = claim(i, rnd)
        if invalid_every and i % invalid_every == invalid_every - 1:
            _break(res, rnd)
        yield res


def write_ndjson(path: Path, n: int, seed: int = 20260302, *, invalid_every: int = 0) -> Path:
    with open(path, "wb") as fh:
        fh.writelines(orjson.dumps(res) + b"\n" for res in claims(n, seed, invalid_every=invalid_every))
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python bench/corpus.py", description="Write a deterministic corpus of FHIR R4 Claims as NDJSON."
    )
    ap.add_argument("count", nargs="?", type=int, default=20000, help="claims to write (default: 20000)")
    ap.add_argument("out", nargs="?", type=Path, help="output file (default: claims-COUNT.ndjson)")
    ap.add_argument(
        "invalid_every",
        nargs="?",
        type=int,
        default=0,
        help="make every k-th claim structurally invalid (default: 0, none)",
    )
    ap.add_argument("--seed", type=int, default=20260302, help="random seed (default: 20260302)")
    args = ap.parse_args(argv)
    if args.count < 0:
        ap.error("count must be 0 or more")
    out = args.out or Path(f"claims-{args.count}.ndjson")
    write_ndjson(out, args.count, args.seed, invalid_every=args.invalid_every)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
