"""The compiled fast-path tables (``fhirplugin.fhir.compiled``): the same tables as the models give,
cached and rebuilt like the ICD-10-CM index, and no model built for input the fast path accepts."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from fhirplugin.fhir import compiled, fast

ROOT = Path(__file__).resolve().parents[2]


def _model(rtype: str, version: str):
    if version == "R5":
        from fhir.resources import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    return get_fhir_model_class(rtype)


def _spec(t: fast._Table, seen: dict, key: str) -> None:
    """The table as plain data, nested tables by name (to compare two builds of one table)."""
    if key in seen:
        return
    fields = {}
    seen[key] = (t.name, t.version, t.supported, t.required, t.groups_required, t.resource, fields)
    for alias, (kind, many, arg, group) in t.fields.items():
        if kind == fast._PRIM:
            data = arg.spec
        elif kind == fast._CPLX:
            data = arg.key
            _spec(arg.resolve(), seen, arg.key)
        else:
            data = None
        fields[alias] = (kind, many, data, group)


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path))
    compiled._store.cache_clear()
    compiled._TABLES.clear()
    yield tmp_path
    compiled._store.cache_clear()
    compiled._TABLES.clear()


@pytest.mark.parametrize("version", ["R4B", "R5"])
def test_compiled_tables_equal_the_tables_of_the_models(fresh, version) -> None:
    checked = 0
    for rtype in compiled.RESOURCES:
        try:
            cls = _model(rtype, version)
        except ValueError:
            continue
        live, made = {}, {}
        _spec(fast.table_for(cls), live, "root")
        table = compiled.resource_table(rtype, version)
        assert table is not compiled.MISSING and table is not None, rtype
        _spec(table, made, "root")
        assert made == live, rtype
        checked += 1
    assert checked >= 40
    assert list(fresh.glob(f"fhir-tables-{version}-*.marshal")), "written to the cache folder"


@pytest.mark.parametrize("version", ["R4B", "R5"])
def test_type_names_are_the_names_the_models_answer_for(fresh, version) -> None:
    names = compiled.type_names(version)
    module = sys.modules[_model("Claim", version).__module__.rsplit(".", 1)[0] + ".fhirtypes"]
    every = sorted(a[:-4] for a in dir(module) if a.endswith("Type") and a[0].isupper())
    sample = [*random.Random(5).sample(every, 40), "Claim", "Bundle", "Coding", "Resource", "Element"]
    for name in sample:
        try:
            _model(name, version)
            known = True
        except (ValueError, ImportError, AttributeError):
            known = False
        assert (name in names) is known, name
    for name in ("Claimx", "claim", "Cpt", "NotAType"):
        assert name not in names


def test_stale_or_broken_file_is_rebuilt_and_unwritable_folder_falls_back(fresh, monkeypatch) -> None:
    path = compiled._path("R4B")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not marshal data")
    assert compiled.resource_table("Claim", "R4B") not in (None, compiled.MISSING)
    key = compiled._key("R4B")
    import marshal

    assert marshal.loads(path.read_bytes())["key"] == key
    compiled._store.cache_clear()
    stale = dict(key, packages={**key["packages"], "fhir.resources": "0.0.1"})
    path.write_bytes(marshal.dumps({"key": stale, "resources": {}, "tables": {}, "types": []}))
    assert compiled.resource_table("Claim", "R4B") not in (None, compiled.MISSING)
    compiled._store.cache_clear()
    blocker = fresh / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(blocker / "sub"))
    assert compiled.resource_table("Claim", "R4B") is compiled.MISSING  # the fast module reads the models
    compiled._store.cache_clear()
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", "")
    assert compiled.type_names("R4B") is None
    assert fast.accepts(json.loads((ROOT / "examples/drainage/bundle.json").read_text()), "R4")


_PROBE = """
import json, sys
from fhirplugin.engine import Engine
engine = Engine()
results = engine.check_bytes(open(sys.argv[1], "rb").read())
models = sorted(m for m in sys.modules if m.startswith(("fhir.resources", "fhir_core")))
print(json.dumps({"models": models, "rules": sorted({f.rule_id for r in results for f in r.findings})}))
"""


def _probe(tmp_path: Path, doc: dict, cache: Path) -> dict:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc))
    env = dict(os.environ, FHIRPLUGIN_CACHE_DIR=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    return json.loads(out.stdout)


def test_no_model_is_imported_for_input_the_fast_path_accepts(tmp_path) -> None:
    cache = tmp_path / "cache"
    doc = json.loads((ROOT / "examples/drainage/bundle.json").read_text())
    first = _probe(tmp_path, doc, cache)  # compiles the tables into the cache
    again = _probe(tmp_path, doc, cache)
    assert first["rules"] == again["rules"] and "DRN001" in again["rules"]
    assert again["models"] == [], "no fhir.resources module imported at all"
    broken = json.loads(json.dumps(doc))
    broken["entry"][0]["resource"]["created"] = "2026-02-30"
    fallback = _probe(tmp_path, broken, cache)
    assert "STR001" in fallback["rules"]
    assert "fhir.resources.R4B.claim" in fallback["models"], "the reference path builds the models"


def test_two_installations_sharing_a_cache_folder_keep_their_own_tables(fresh, monkeypatch) -> None:
    """Another fhirplugin (other code or other fhir.resources) beside this one writes its own file: the
    two do not rebuild each other's tables at every alternation."""
    assert compiled.resource_table("Claim", "R4B") not in (None, compiled.MISSING)
    ours = compiled._path("R4B")
    assert ours is not None and ours.is_file()
    written = ours.stat().st_mtime_ns
    real_key = compiled._key
    monkeypatch.setattr(compiled, "_key", lambda v: dict(real_key(v), source="another-checkout"))
    compiled._store.cache_clear()
    compiled._TABLES.clear()
    assert compiled.resource_table("Claim", "R4B") not in (None, compiled.MISSING)
    theirs = compiled._path("R4B")
    assert theirs is not None and theirs != ours and theirs.is_file()
    assert ours.stat().st_mtime_ns == written  # ours left as it was
    monkeypatch.setattr(compiled, "_key", real_key)
    compiled._store.cache_clear()
    compiled._TABLES.clear()
