"""Would typed decoding check a claim's structure faster than the fast walk? A probe, not a test.

    pip install msgspec && python bench/typed_decoding.py [N]

Decodes the bench corpus (``bench/corpus.py``) with msgspec into hand-written Structs for the R4 Claim
elements the corpus uses (unknown elements forbidden, FHIR string/code patterns, positiveInt ranges;
no date, choice or primitive-extension checks, so it does less than the fast path) and times it,
streamed on one core, beside ``orjson.loads`` and ``fhirplugin.fhir.fast.accepts``. msgspec is not a
dependency of fhirplugin; this only measures what it would buy (README, Speed).
"""

import gc
import importlib.util
import sys
import time
from typing import Annotated, Literal

import orjson

try:
    import msgspec
    from msgspec import Meta, Struct
except ImportError:
    sys.exit("this probe needs msgspec: pip install msgspec")

from fhirplugin.fhir import fast

Str = Annotated[str, Meta(min_length=1, pattern=r"[ \r\n\t\S]+")]
Code = Annotated[str, Meta(pattern=r"^[^\s]+(\s[^\s]+)*$")]
Uri = Annotated[str, Meta(min_length=1)]
Pos = Annotated[int, Meta(ge=1, le=2147483647)]
Dec = int | float


class Coding(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    system: Uri | None = None
    code: Code | None = None
    display: Str | None = None
    version: Str | None = None


class CC(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    coding: Annotated[list[Coding], Meta(min_length=1)] | None = None
    text: Str | None = None


class Ext(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    url: Uri
    valueCodeableConcept: CC | None = None
    valueString: Str | None = None


class Ref(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    reference: Str | None = None
    display: Str | None = None


class Period(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    start: Str | None = None
    end: Str | None = None


class Meta_(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    lastUpdated: Str | None = None


class Ident(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    system: Uri | None = None
    value: Str | None = None


class Qty(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    value: Dec | None = None


class Money(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    value: Dec | None = None
    currency: Code | None = None


class Ins(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    sequence: Pos
    focal: bool
    coverage: Ref


class Dx(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    sequence: Pos
    diagnosisCodeableConcept: CC | None = None


class Item(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    sequence: Pos
    productOrService: CC
    diagnosisSequence: list[Pos] | None = None
    servicedDate: Str | None = None
    quantity: Qty | None = None
    unitPrice: Money | None = None
    net: Money | None = None
    modifier: list[CC] | None = None
    bodySite: CC | None = None
    extension: list[Ext] | None = None


class Claim(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    resourceType: Literal["Claim"]
    id: Str | None = None
    meta: Meta_ | None = None
    identifier: list[Ident] | None = None
    status: Code
    type: CC
    use: Code
    patient: Ref
    billablePeriod: Period | None = None
    created: Str
    insurer: Ref | None = None
    provider: Ref
    priority: CC
    insurance: list[Ins]
    diagnosis: list[Dx] | None = None
    item: list[Item] | None = None
    total: Money | None = None


dec = msgspec.json.Decoder(Claim)
_corpus = importlib.import_module("corpus")  # bench/corpus.py (this script's folder is on sys.path)
lines = [orjson.dumps(c) for c in _corpus.claims(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)]
ok = 0
for l in lines:
    try:
        dec.decode(l)
        ok += 1
    except msgspec.ValidationError as e:
        print(e)
        break
print("decoded", ok)
vals = [orjson.loads(l) for l in lines]
fast.accepts(vals[0], "R4")


def t(fn):
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / len(lines) * 1e6


gc.freeze()


def ms():
    for l in lines:
        dec.decode(l)


def oj():
    for l in lines:
        orjson.loads(l)


def fa():
    for v in vals:
        fast.accepts(v, "R4")


print(f"msgspec decode+validate {t(ms):.1f} us/claim")
print(f"orjson.loads            {t(oj):.1f} us/claim")
print(f"fast.accepts (dict)     {t(fa):.1f} us/claim")
