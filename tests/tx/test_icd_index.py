"""The ICD-10-CM index (``fhirplugin.tx.icd``) against the simple-icd-10-cm package, and its cache."""

from __future__ import annotations

import copy
import os
import random
import warnings

import orjson
import pytest

from fhirplugin.tx import icd


@pytest.fixture(scope="module")
def lib():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm

    return simple_icd_10_cm


@pytest.fixture(scope="module")
def built() -> dict:
    return icd.build_index()


def test_index_holds_every_item_with_the_package_answers(lib, built) -> None:
    items = built["items"]
    codes = lib.get_all_codes(True)
    assert len(items) == len(set(codes)) > 90_000  # the package lists a few blocks twice
    for code in codes:
        flags, title, ancestors = items[code]
        assert bool(flags & 1) == lib.is_category(code), code
        assert bool(flags & 2) == lib.is_subcategory(code), code
        assert bool(flags & 4) == lib.is_leaf(code), code
        assert bool(flags & 8) == lib.is_chapter(code), code
        assert title == lib.get_description(code), code
        assert ancestors == list(lib.get_ancestors(code)), code


def test_answers_match_the_package(lib) -> None:
    """is_valid, is_billable, title and ancestors through the index = the package's own answers."""
    codes = lib.get_all_codes(True)
    # B10 is both a block and the category inside it
    sample = [*random.Random(7).sample(codes, 3000), "K65", "K65.1", "T81.43XA", "C61", "1", "K65-K68", "B10"]
    for code in sample:
        valid = "-" not in code and not code.isdigit() and (lib.is_category(code) or lib.is_subcategory(code))
        assert icd.is_valid(code) is bool(valid), code
        assert icd.is_billable(code) is bool(valid and lib.is_leaf(code)), code
        assert icd.title(code) == lib.get_description(code), code
        assert list(icd.ancestors(code)) == list(lib.get_ancestors(code)), code
    for bad in ("K99.9", "K6.51", "", "Z", "A00-A99"):
        assert not icd.is_valid(bad) and icd.title(bad) is None and icd.ancestors(bad) == ()


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, built: dict):
    """A clean ``_index`` whose builds are counted (and served from ``built``, not the package)."""
    calls: list[int] = []

    def build() -> dict:
        calls.append(1)
        return copy.deepcopy(built)

    monkeypatch.setattr(icd, "build_index", build)
    icd._index.cache_clear()
    yield calls
    icd._index.cache_clear()


def _answers(index) -> dict:
    return {code: index.get(code) for code in ("K65.1", "K65", "B10", "C15-C26", "1", "T81.43XA", "Z99.99")}


def test_cache_is_written_then_read(tmp_path, monkeypatch, fresh, built) -> None:
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path))
    first = icd._index()
    path = tmp_path / "icd10cm-index.sqlite3"
    assert fresh == [1] and path.is_file()
    assert path.stat().st_mode & 0o444 == 0o444, "readable by a service user other than the builder"
    icd._index.cache_clear()
    again = icd._index()
    assert fresh == [1], "the second process-start read the cache"
    assert again.key == icd._package_key() and again.data_file == built["data_file"]
    assert _answers(again) == _answers(first) == {c: built["items"].get(c) for c in _answers(first)}
    assert again.count == len(built["items"])
    assert not list(tmp_path.glob(".icd10cm-*")), "no temporary file left behind"


def test_cached_index_answers_every_item_like_the_build(tmp_path, monkeypatch, fresh, built) -> None:
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path))
    icd._index()
    icd._index.cache_clear()
    store = icd._index()
    assert fresh == [1]
    for code, item in built["items"].items():
        assert store.get(code) == item, code


def test_forked_process_opens_its_own_connection(tmp_path, monkeypatch, fresh) -> None:
    import multiprocessing

    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path))
    store = icd._index()
    assert store.get("K65.1") is not None  # the parent has a connection open
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply(_title_in_child, ("K65.1",))
    assert got == store.get("K65.1")[1]


def _title_in_child(code: str) -> str:
    store = icd._index()  # the parent's object, inherited by fork
    inherited = store._pid
    title = store.get(code)[1]
    assert inherited != os.getpid() and store._pid == os.getpid(), "the child opened its own connection"
    return title


@pytest.mark.parametrize("damage", ["stale", "broken", "empty", "old-json"])
def test_stale_or_broken_cache_is_rebuilt(tmp_path, monkeypatch, fresh, built, damage: str) -> None:
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path))
    path = tmp_path / "icd10cm-index.sqlite3"
    if damage == "stale":
        stale = {"data_file": "x", "items": {"K65.1": [0, "wrong", []]}}
        icd._write(path, stale, dict(icd._package_key(), version="0.0.1"))
    elif damage == "broken":
        path.write_bytes(b"SQLite format 3\x00 but not really")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        (tmp_path / "icd10cm-index.json").write_bytes(orjson.dumps({"key": icd._package_key(), "items": {}}))
    store = icd._index()
    assert fresh == [1]
    assert store.get("K65.1") == built["items"]["K65.1"]
    icd._index.cache_clear()
    assert icd._index().key == icd._package_key() and fresh == [1]


def test_unwritable_or_disabled_cache_still_answers(tmp_path, monkeypatch, fresh) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(blocker / "sub"))
    assert icd._index().get("K65.1") is not None
    icd._index.cache_clear()
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", "")
    assert icd.cache_dir() is None
    assert icd._index().get("K65.1") is not None
    assert fresh == [1, 1]
    assert list(tmp_path.iterdir()) == [blocker]


@pytest.mark.parametrize("dist", ["simple-icd-10-cm", "fhir.resources", "fhir.core", "pydantic-core", "PyYAML"])
def test_dist_version_reads_what_importlib_metadata_reads(dist: str) -> None:
    from importlib import metadata

    assert icd.dist_version(dist) == metadata.version(dist)
    assert icd.dist_version("no-such-distribution-here") is None
