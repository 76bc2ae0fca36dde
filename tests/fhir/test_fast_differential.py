"""Differential tests: the fast structural pre-check against fhir.resources, and the engine with the
fast path on against the engine with it off.

What must hold, for any input, in R4 and R5:
* ``fast.accepts(x)`` ⇒ fhir.resources finds nothing wrong with ``x`` (the fast path never waves
  through what the reference rejects);
* the engine's findings are identical with ``FHIRPLUGIN_FAST`` on and off.
Inputs are builder-generated Claims / Procedures / ServiceRequests / Bundles, the rule-case inputs,
the benchmark corpus when ``bench/corpus.py`` is present, and mutations of all of them.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from builders import build
from fhirplugin.config import Settings
from fhirplugin.engine import Engine
from fhirplugin.fhir import fast, structure

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "rules" / "cases"
CORPUS = ROOT / "bench" / "corpus.py"
VERSIONS = ("R4", "R5")
HYPO = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------------------------------------ seeds
def rule_case_inputs() -> list[tuple[str, str, bytes, dict]]:
    """(id, version, input bytes, engine config) for every case in tests/rules/cases."""
    out = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for name, case in doc["cases"].items():
            for v in case.get("versions", list(VERSIONS)):
                if "raw" in case:
                    data = case["raw"].encode()
                elif "resource" in case:
                    data = orjson.dumps(case["resource"])
                else:
                    data = orjson.dumps(build(case, v))
                out.append((f"{doc['rule']}-{name}-{v}", v, data, case.get("config") or {}))
    return out


def corpus_claims(n: int, invalid_every: int) -> list[dict]:
    if not CORPUS.is_file():
        return []
    spec = importlib.util.spec_from_file_location("fhirplugin_bench_corpus", CORPUS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.claims(n, seed=7, invalid_every=invalid_every))


RULE_CASES = rule_case_inputs()


def _object(data: bytes):
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


SEED_DOCS = [(v, obj) for _id, v, data, _cfg in RULE_CASES if (obj := _object(data)) is not None]
SEED_DOCS += [("R4", c) for c in corpus_claims(40, invalid_every=5)]

CODES = ["49405", "49406", "49407", "49411", "10030", "75989", "76942", "77012", "99213", "32555"]
ICD = ["K65.1", "C25.0", "R18.8", "J91.8", "N73.9", "C61"]
SITES = ["82849001", "41216001", "15497006", "39607008"]
APPROACHES = ["percutaneous", "transvaginal", "transrectal", "open"]

lines = st.fixed_dictionaries(
    {"code": st.sampled_from(CODES)},
    optional={
        "units": st.integers(1, 4),
        "modifiers": st.lists(st.sampled_from(["59", "XS", "LT", "RT", "26"]), max_size=2, unique=True),
        "site": st.sampled_from(SITES) | st.lists(st.sampled_from(SITES), min_size=1, max_size=2),
        "approach": st.sampled_from(APPROACHES),
        "dx": st.just([1]),
        "date": st.sampled_from(["2026-03-02", "2025-12-31", "2024-02-29"]),
    },
)
procedures = st.fixed_dictionaries(
    {"code": st.sampled_from(CODES)},
    optional={
        "approach": st.sampled_from(APPROACHES),
        "guidance": st.sampled_from(["US", "CT", "RF"]),
        "devices": st.lists(st.sampled_from(["implanted", "removed", "used"]), max_size=2),
        "reasons": st.lists(st.sampled_from(ICD), max_size=2),
        "imaging": st.sampled_from(["US", "CT"]),
        "report": st.booleans(),
        "collections": st.integers(0, 3),
        "site": st.sampled_from(SITES),
    },
)
orders = st.fixed_dictionaries(
    {"code": st.sampled_from(CODES)},
    optional={
        "units": st.integers(1, 3),
        "collections": st.integers(0, 2),
        "site": st.sampled_from(SITES),
        "reasons": st.lists(st.sampled_from(ICD), max_size=2),
        "approach": st.sampled_from(APPROACHES),
    },
)
specs = st.fixed_dictionaries(
    {
        "claim": st.fixed_dictionaries(
            {
                "diagnoses": st.lists(st.sampled_from(ICD), min_size=1, max_size=3, unique=True),
                "lines": st.lists(lines, min_size=1, max_size=4),
            }
        )
    },
    optional={
        "procedures": st.lists(procedures, max_size=2),
        "orders": st.lists(orders, max_size=2),
        "bundle": st.booleans(),
        "claim_as": st.sampled_from(["Claim", "ExplanationOfBenefit", "ChargeItem"]),
    },
)


@st.composite
def built(draw) -> tuple[str, dict]:
    version = draw(st.sampled_from(VERSIONS))
    return version, build(draw(specs), version)


seeds = built() | st.sampled_from(SEED_DOCS).map(lambda vd: (vd[0], copy.deepcopy(vd[1])))

# ---------------------------------------------------------------------------------------- mutants
ODD_VALUES = [
    None, True, False, 0, 1, -1, 2, 2**31 - 1, 2**31, -(2**31) - 1, 10**40, 1.5, -0.0, 1e300, math.inf,
    "", " ", "\n", "\x0b", "a  b", " a", "a ", "abc", "a b", "x" * 300, "a\ud800", "é", "1",
    "2026", "2026-02", "2026-02-29", "2024-02-29", "2026-02-30", "2026-13-01", "2026-03-02T10:00:00Z",
    "2026-03-02T10:00:00", "2026-03-02T24:00:00Z", "2016-12-31T23:59:60Z", "10:00:00",
    "2026-03-02T10:00:00.123456789123+05:30", "urn:oid:1.2.3", "http://example.org", "Patient/p1",
    {}, [], [None], [{}], {"text": "x"}, {"reference": "Patient/p1"}, {"coding": [{"code": "x"}]},
    {"extension": [{"url": "http://e", "valueString": "v"}]}, {"id": "x"}, ["a"], [1],
    [{"url": "http://e", "valueString": "v"}], [{"url": "http://e"}], {"resourceType": "Patient"},
    {"resourceType": "Bogus"}, {"resourceType": "Patient", "id": "p", "gender": "other"},
]  # fmt: skip
EXTRA_KEYS = [
    "foo", "_status", "_code", "_display", "fhir_comments", "resourceType", "id", "extension",
    "modifierExtension", "valueString", "valueBoolean", "servicedPeriod", "servicedDate", "contained",
    "text", "meta", "resource_type", "performedString", "occurrenceDateTime", "Status",
]  # fmt: skip


def paths(value, prefix=()) -> list[tuple]:
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((*prefix, k))
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((*prefix, i))
            out.extend(paths(v, (*prefix, i)))
    return out


def _node(doc, path):
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def mutate_once(draw, doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    op = draw(
        st.sampled_from(
            ["replace", "delete", "add", "wrap", "unwrap", "rename", "copy", "bundle", "contain", "none"]
        )
    )
    if op == "bundle":
        inner = {"resource": doc}
        if draw(st.booleans()):
            inner["fullUrl"] = "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100"
        return {
            "resourceType": "Bundle",
            "type": draw(st.sampled_from(["collection", "batch"])),
            "entry": [inner],
        }
    if op == "contain":  # the resource itself, once more, as a contained resource
        sub = copy.deepcopy(doc)
        sub.pop("contained", None)
        doc["contained"] = [sub]
        return doc
    all_paths = paths(doc)
    if op == "none" or not all_paths:
        return doc
    path = draw(st.sampled_from(all_paths))
    parent, key = _node(doc, path[:-1]), path[-1]
    if op == "replace":
        parent[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
    elif op == "delete":
        del parent[key]
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "unwrap" and isinstance(parent[key], list) and parent[key]:
        parent[key] = parent[key][0]
    elif isinstance(parent, dict) and op == "add":
        parent[draw(st.sampled_from(EXTRA_KEYS))] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
    elif isinstance(parent, dict) and op == "rename" and isinstance(key, str) and key:
        i = draw(st.integers(0, len(key) - 1))
        parent[key[:i] + key[i].swapcase() + key[i + 1 :]] = parent.pop(key)
    elif isinstance(parent, dict) and op == "copy":
        parent[draw(st.sampled_from([*EXTRA_KEYS, *parent.keys()]))] = copy.deepcopy(parent[key])
    return doc


@st.composite
def mutants(draw) -> tuple[str, dict]:
    version, doc = draw(seeds)
    for _ in range(draw(st.integers(0, 3))):
        doc = draw(mutate_once(doc))
    if draw(st.integers(0, 9)) == 0:  # now and then, check it as the other version
        version = "R5" if version == "R4" else "R4"
    return version, doc


# ---------------------------------------------------------------------------------------- helpers
@contextmanager
def fast_path(on: bool):
    """FHIRPLUGIN_FAST as the engine reads it (restored afterwards; hypothesis and monkeypatch don't mix)."""
    before = os.environ.get("FHIRPLUGIN_FAST")
    os.environ["FHIRPLUGIN_FAST"] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["FHIRPLUGIN_FAST"]
        else:
            os.environ["FHIRPLUGIN_FAST"] = before


def reference_findings(doc: dict, version: str) -> list:
    with fast_path(False):
        return structure.validate_tree(doc, version, doc.get("resourceType") or "Resource")


_ENGINES: dict[str, Engine] = {}


def engine_for(config: dict) -> Engine:
    key = orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode()
    if key not in _ENGINES:
        _ENGINES[key] = Engine(Settings(**config))
    return _ENGINES[key]


def _run(doc: dict, version: str, fast_on: bool):
    """The engine's answer, or the exception it raised (equal behaviour includes equal failures)."""
    with fast_path(fast_on):
        try:
            res = engine_for({}).check_object(copy.deepcopy(doc), fhir_version=version)
        except Exception as exc:  # noqa: BLE001 - compared, not hidden: both sides must fail alike
            return f"raised {type(exc).__name__}: {exc}"
    return (res.resource_type, res.resource_id, res.fhir_version, res.findings)


def check_both(doc: dict, version: str):
    return _run(doc, version, True), _run(doc, version, False)


# ------------------------------------------------------------------------------------------ tests
@settings(HYPO, max_examples=250)
@given(case=mutants())
def test_fast_accept_implies_fhir_resources_accepts(case) -> None:
    version, doc = case
    if fast.accepts(doc, version):
        assert reference_findings(doc, version) == [], fast.explain(doc, version)


@settings(HYPO, max_examples=120)
@given(case=mutants())
def test_engine_findings_same_with_fast_path_on_and_off(case) -> None:
    version, doc = case
    on, off = check_both(doc, version)
    assert on == off


@settings(HYPO, max_examples=40)
@given(case=built())
def test_generated_valid_resources_take_the_fast_path(case) -> None:
    """The builder makes valid FHIR: the fast path must prove it, or it is not saving anything."""
    version, doc = case
    assert fast.explain(doc, version) is None
    assert fast.accepts(doc, version)


@pytest.mark.parametrize(("name", "version", "data", "config"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_rule_cases_same_findings(name, version, data, config) -> None:
    engine = engine_for(config)
    with fast_path(True):
        on = engine.check_bytes(data, fhir_version=version)
    with fast_path(False):
        off = engine.check_bytes(data, fhir_version=version)
    assert [r.findings for r in on] == [r.findings for r in off]


def test_corpus_same_findings() -> None:
    docs = corpus_claims(60, invalid_every=3)
    if not docs:
        pytest.skip("bench/corpus.py is not present")
    fast_count = 0
    for doc in docs:
        fast_count += fast.accepts(doc, "R4")
        on, off = check_both(doc, "R4")
        assert not isinstance(on, str), on
        assert on == off
    assert fast_count == 40  # every valid claim took the fast path, no broken one did


# ---------------------------------------------------------------------------- primitives, one by one
def _extension_cases():
    from fhir.resources.extension import Extension as R5Extension
    from fhir.resources.R4B.extension import Extension as R4Extension

    out = []
    for cls in (R4Extension, R5Extension):
        for name in cls.get_one_of_many_fields(None)["value"]:
            spec = fast.table_for(cls).fields[name]
            if spec[0] == 0:  # a primitive the fast path checks
                out.append((cls, name))
    return out


EXTENSION_PRIMITIVES = _extension_cases()
DATEISH = (
    st.from_regex(r"\A[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?"
                  r"(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?\Z")
    | st.from_regex(r"\A[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?\Z")
    | st.dates().map(str)
    | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
)  # fmt: skip
VALUES = (
    st.none() | st.booleans() | st.integers() | st.integers(-(2**31) - 2, 2**31 + 2) | st.floats()
    | st.text(max_size=12) | st.text(alphabet=" \t\r\n\x0b\x1c\xa0\u2028a.-", max_size=6)
    | st.from_regex(r"\A[A-Za-z0-9\-.]{0,3}\Z") | st.from_regex(r"\Aurn:oid:[0-3](\.[0-9]{1,2}){0,3}\Z")
    | DATEISH | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=2), st.none(), max_size=1)
)  # fmt: skip


def test_extension_primitives_cover_the_usual_types() -> None:
    names = {name for cls, name in EXTENSION_PRIMITIVES}
    for expected in (
        "valueString",
        "valueCode",
        "valueDate",
        "valueDateTime",
        "valueInteger",
        "valueDecimal",
    ):
        assert expected in names


@settings(HYPO, max_examples=600)
@given(which=st.sampled_from(EXTENSION_PRIMITIVES), value=VALUES)
def test_primitive_fast_accept_implies_pydantic_accepts(which, value) -> None:
    cls, name = which
    doc = {"url": "http://example.org/x", name: value}
    if fast.element_validator(cls)(doc):
        try:
            cls.model_validate(doc)
        except ValidationError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"fast path accepted {name}={value!r}; fhir.resources says {exc.errors()[0]['msg']}")


def _check_primitive(cls, name, value) -> None:
    doc = {"url": "http://example.org/x", name: value}
    if fast.element_validator(cls)(doc):
        try:
            cls.model_validate(doc)
        except ValidationError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"fast path accepted {name}={value!r}; fhir.resources says {exc.errors()[0]['msg']}")


# every type limit, explicitly: the bounds a hand-written checker gets wrong one way or the other
LIMITS = [
    *(("valueInteger", v) for v in (2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 0, -0, True, False, 1.0, 1.5)),
    *(("valuePositiveInt", v) for v in (0, 1, -1, 2**31 - 1, 2**31, True)),
    *(("valueUnsignedInt", v) for v in (-1, 0, 1, 2**31 - 1, 2**31, False)),
    *(
        ("valueInteger64", v)
        for v in (2**63 - 1, 2**63, -(2**63), -(2**63) - 1, "9223372036854775807", "1.0")
    ),
    *(("valueDecimal", v) for v in (0, -0.0, 1e308, 1e-308, 1e400, True, "1.0")),
    *(
        ("valueDate", v)
        for v in ("0001", "9999-12-31", "2024-02-29", "2023-02-29", "2024-13", "2024-00-10", "24")
    ),
    *(
        ("valueDateTime", v)
        for v in (
            "2024-02-29T23:59:59Z",
            "2024-02-29T24:00:00Z",
            "2024-02-29T23:59:60Z",
            "2024-02-29T10:00:00+14:00",
            "2024-02-29T10:00:00+15:00",
            "2024-02-29T10:00",
        )
    ),
    *(
        ("valueTime", v)
        for v in ("00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:59.999999", "7:00:00")
    ),
    *(("valueInstant", v) for v in ("2024-02-29T23:59:59.123Z", "2024-02-29", "2024-02-29T23:59:59")),
    *(("valueCode", v) for v in ("a", " a", "a ", "a  b", "a b", "")),
    *(("valueId", v) for v in ("a" * 64, "a" * 65, "A-z.0", "a_b")),
    *(("valueOid", v) for v in ("urn:oid:1.2.3", "urn:oid:3.1", "urn:oid:1.02", "1.2.3")),
    *(("valueBoolean", v) for v in (True, False, 0, 1, "true")),
]


@pytest.mark.parametrize(("name", "value"), LIMITS, ids=[f"{n}={v!r}"[:60] for n, v in LIMITS])
def test_primitive_fast_accept_implies_pydantic_accepts_at_every_limit(name, value) -> None:
    matches = [cls for cls, n in EXTENSION_PRIMITIVES if n == name]
    if not matches:
        pytest.skip(f"no extension value type {name} in these models")
    for cls in matches:
        _check_primitive(cls, name, value)


@pytest.mark.slow
@settings(HYPO, max_examples=5000, derandomize=False)
@given(which=st.sampled_from(EXTENSION_PRIMITIVES), value=VALUES)
def test_primitive_fast_accept_implies_pydantic_accepts_long_run(which, value) -> None:
    """The same property on a larger, random budget (a bound off by one shows up here)."""
    _check_primitive(*which, value)


# ------------------------------------------------------------------ strict FHIR JSON (null, "", {}, [])
STRICT_BAD = [None, "", {}, []]


@settings(HYPO, max_examples=150)
@given(case=built(), data=st.data())
def test_null_and_empty_values_are_located_structure_errors_on_both_paths(case, data) -> None:
    """``null`` (outside a primitive array's ``_`` twin), empty strings, objects and arrays are not FHIR
    JSON: the reference path reports each at its place, the fast path declines, the engine agrees."""
    version, doc = case
    candidates = [p for p in paths(doc) if p[-1] != "resourceType"]
    path = data.draw(st.sampled_from(candidates))
    bad = copy.deepcopy(data.draw(st.sampled_from(STRICT_BAD)))
    parent, key = _node(doc, path[:-1]), path[-1]
    parent[key] = bad
    assert not fast.accepts(doc, version)
    where = structure.loc_to_path(doc["resourceType"], path)
    found = reference_findings(doc, version)
    assert any(f.rule_id == "STR001" and f.expression == [where] for f in found), (where, found)
    on, off = check_both(doc, version)
    assert on == off


def test_null_allowed_only_to_line_up_a_primitive_array_with_its_extensions() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [
            {
                "given": ["Ann", "Lee"],
                "_given": [None, {"extension": [{"url": "http://e", "valueString": "v"}]}],
            }
        ],
    }
    assert reference_findings(patient, "R4") == []
    patient["name"][0]["_given"] = None
    assert [f.expression for f in reference_findings(patient, "R4")] == [["Patient.name[0]._given"]]
