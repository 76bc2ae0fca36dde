"""The ICD-10-CM index (``fhirplugin.tx.icd``) against the simple-icd-10-cm package, and its cache."""

from __future__ import annotations

import copy
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


def test_cache_is_written_then_read(tmp_path, monkeypatch, fresh) -> None:
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path))
    first = icd._index()
    path = tmp_path / "icd10cm-index.json"
    assert fresh == [1] and path.is_file()
    assert path.stat().st_mode & 0o444 == 0o444, "readable by a service user other than the builder"
    icd._index.cache_clear()
    again = icd._index()
    assert fresh == [1], "the second process-start read the cache"
    assert again["items"] == first["items"] and again["key"] == icd._package_key()
    assert not list(tmp_path.glob(".icd10cm-*")), "no temporary file left behind"


@pytest.mark.parametrize("damage", ["stale", "broken", "not-an-object"])
def test_stale_or_broken_cache_is_rebuilt(tmp_path, monkeypatch, fresh, damage: str) -> None:
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(tmp_path))
    path = tmp_path / "icd10cm-index.json"
    if damage == "stale":
        key = dict(icd._package_key(), version="0.0.1")
        path.write_bytes(orjson.dumps({"key": key, "items": {"K65.1": [0, "wrong", []]}}))
    elif damage == "broken":
        path.write_bytes(b'{"key": {"format"')
    else:
        path.write_bytes(b"[1, 2]")
    doc = icd._index()
    assert fresh == [1]
    assert doc["items"]["K65.1"][1] != "wrong"
    assert orjson.loads(path.read_bytes())["key"] == icd._package_key()


def test_unwritable_or_disabled_cache_still_answers(tmp_path, monkeypatch, fresh) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", str(blocker / "sub"))
    assert "K65.1" in icd._index()["items"]
    icd._index.cache_clear()
    monkeypatch.setenv("FHIRPLUGIN_CACHE_DIR", "")
    assert icd.cache_dir() is None
    assert "K65.1" in icd._index()["items"]
    assert fresh == [1, 1]
    assert list(tmp_path.iterdir()) == [blocker]
