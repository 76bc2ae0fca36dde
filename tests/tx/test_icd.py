"""ICD-10-CM look-ups (April 2026 code set via simple-icd-10-cm)."""

from __future__ import annotations

import pytest

from fhirplugin.tx import icd


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("K651", "K65.1"),
        (" k65.1 ", "K65.1"),
        ("K65", "K65"),
        ("K65.", "K65"),
        ("t8143xa", "T81.43XA"),
        ("c15-c26", "C15-C26"),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert icd.normalize(raw) == expected


def test_category_is_valid_but_not_billable() -> None:
    assert icd.is_valid("K65")
    assert not icd.is_billable("K65")


@pytest.mark.parametrize("code", ["K65.1", "K651", "k651", " K65.1 ", "T81.43XA", "T8143XA", "C61", "C49.A0"])
def test_billable_leaves_with_or_without_dot(code: str) -> None:
    assert icd.is_valid(code)
    assert icd.is_billable(code)


def test_non_billable_parents() -> None:
    # R10.2 needs a more specific child code in this code set; T81.43 needs its 7th character
    assert icd.is_valid("R10.2") and not icd.is_billable("R10.2")
    assert icd.is_valid("T81.43") and not icd.is_billable("T81.43")


@pytest.mark.parametrize("code", ["C15-C26", "2", "C00-D49", "K65.9X", "ZZZ", "K6", "", "K65..1", "K6.51"])
def test_not_diagnosis_codes(code: str) -> None:
    assert not icd.is_valid(code)
    assert not icd.is_billable(code)


def test_titles() -> None:
    assert icd.title("K651") == "Peritoneal abscess"
    assert icd.title("K65") == "Peritonitis"
    assert "digestive organs" in icd.title("C15-C26")
    assert icd.title("C00-D49").startswith("Neoplasms")
    assert icd.title("Q99.9X") is None


@pytest.mark.parametrize(
    ("code", "ancestor"),
    [
        ("K65.1", "K65"),
        ("K651", "k65"),
        ("K65.1", "K65.1"),
        ("C25.0", "C25"),
        ("C25.0", "C15-C26"),
        ("C25.0", "C00-D49"),
        ("C25.0", "2"),
        ("K68.11", "K65-K68"),
        ("K65.1", "K65-K66"),
        ("T81.43XA", "T81.4"),
    ],
)
def test_is_descendant_or_self(code: str, ancestor: str) -> None:
    assert icd.is_descendant_or_self(code, ancestor)


@pytest.mark.parametrize(
    ("code", "ancestor"),
    [
        ("K65", "K65.1"),
        ("C61", "C15-C26"),
        ("K68.11", "K65-K66"),
        ("K65.1", "C00-D49"),
        ("XX1", "K65"),
        ("K65.1", ""),
        ("K65.1", "Q99.9"),
    ],
)
def test_not_descendant(code: str, ancestor: str) -> None:
    assert not icd.is_descendant_or_self(code, ancestor)


def test_ancestors_and_known() -> None:
    assert icd.ancestors("K651") == ("K65", "K65-K68", "11")
    assert icd.ancestors("nope") == ()
    assert icd.is_known("C15-C26") and icd.is_known("C00-D49") and icd.is_known("K65")
    assert not icd.is_known("C15-C27")
    assert icd.looks_like_range("c15-c27") and not icd.looks_like_range("C15")


def test_code_set_version_names_april_2026() -> None:
    assert "April-2026" in icd.code_set_version()
