"""FeedbackStore: CDS Hooks 2.0 feedback checked, stored once, listed back, kept across restarts."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

from fhirplugin.service.feedback import FeedbackError, FeedbackStore

SVC = "fhirplugin-order-sign"
CARD = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
SUGGESTION = "e56e1945-20b3-4393-8503-a1a20fd73152"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
EXAMPLES = SHARED / "reference" / "cds-hooks" / "examples"


def accepted(card: str = CARD, ts: str = "2021-12-11T10:05:31Z") -> dict:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": SUGGESTION}],
        "outcomeTimestamp": ts,
    }


def overridden(card: str = CARD, ts: str = "2021-12-11T10:06:00Z", **reason) -> dict:
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": ts}
    if reason:
        item["overrideReason"] = reason
    return item


@pytest.fixture
def store():
    with FeedbackStore(":memory:") as s:
        yield s


def test_record_and_list(store):
    reason = {
        "reason": {"system": "https://fhirplugin.dev/fhir/CodeSystem/override-reason", "code": "documented"}
    }
    body = {"feedback": [accepted(), overridden(str(uuid.uuid4()), userComment="see op note", **reason)]}
    assert store.record(SVC, body) == 2
    rows = store.list(SVC)
    assert [r["outcome"] for r in rows] == ["overridden", "accepted"]  # newest first
    assert rows[1]["acceptedSuggestions"] == [{"id": SUGGESTION}]
    assert rows[0]["overrideReason"]["userComment"] == "see op note"
    assert rows[0]["overrideReason"]["reason"]["code"] == "documented"
    assert all(r["serviceId"] == SVC and r["receivedAt"].endswith("Z") for r in rows)


def test_resend_is_idempotent(store):
    body = {"feedback": [accepted()]}
    assert store.record(SVC, body) == 1
    assert store.record(SVC, body) == 0
    # the same instant written another way is the same feedback
    assert store.record(SVC, {"feedback": [accepted(CARD.upper(), "2021-12-11T11:05:31+01:00")]}) == 0
    # a later outcome on the same card, or the same card on another service, is new
    assert store.record(SVC, {"feedback": [overridden()]}) == 1
    assert store.record("fhirplugin-order-select", body) == 1
    # duplicates inside one body count once
    twice = {"feedback": [accepted(ts="2022-01-01T00:00:00.5Z"), accepted(ts="2022-01-01T00:00:00.50Z")]}
    assert store.record(SVC, twice) == 1
    assert len(store.list(SVC)) == 3
    assert len(store.list()) == 4


def test_list_filters_and_limits(store):
    for i in range(5):
        store.record(SVC, {"feedback": [overridden(str(uuid.uuid4()), f"2021-12-11T10:0{i}:00Z")]})
    store.record("other", {"feedback": [accepted()]})
    assert len(store.list(SVC, limit=2)) == 2
    assert [r["outcomeTimestamp"] for r in store.list(SVC, limit=2)] == [
        "2021-12-11T10:04:00Z",
        "2021-12-11T10:03:00Z",
    ]
    assert [r["serviceId"] for r in store.list("other")] == ["other"]
    assert store.list("nobody") == []


@pytest.mark.parametrize(
    ("body", "element", "words"),
    [
        ([], "feedback", "JSON object"),
        ({}, "feedback", "required"),
        ({"feedback": {"card": CARD}}, "feedback", "array"),
        ({"feedback": ["x"]}, "feedback[0]", "object"),
        ({"feedback": [{**accepted(), "card": None}]}, "feedback[0].card", "required"),
        ({"feedback": [{**accepted(), "card": "card-1"}]}, "feedback[0].card", "uuid"),
        (
            {"feedback": [accepted(), {**accepted(), "outcome": "dismissed"}]},
            "feedback[1].outcome",
            "accepted or overridden",
        ),
        (
            {"feedback": [{**accepted(), "outcomeTimestamp": "yesterday"}]},
            "feedback[0].outcomeTimestamp",
            "RFC 3339",
        ),
        (
            {"feedback": [{**accepted(), "outcomeTimestamp": "2021-12-11T10:05:31"}]},
            "feedback[0].outcomeTimestamp",
            "time zone",
        ),
        (
            {"feedback": [{**accepted(), "acceptedSuggestions": None}]},
            "feedback[0].acceptedSuggestions",
            "required",
        ),
        (
            {"feedback": [{**accepted(), "acceptedSuggestions": [{}]}]},
            "feedback[0].acceptedSuggestions[0].id",
            "required",
        ),
        (
            {"feedback": [{**accepted(), "acceptedSuggestions": "x"}]},
            "feedback[0].acceptedSuggestions",
            "array",
        ),
        (
            {"feedback": [{**overridden(), "acceptedSuggestions": [{"id": "s"}]}]},
            "feedback[0].acceptedSuggestions",
            "only",
        ),
        (
            {"feedback": [{**accepted(), "overrideReason": {"userComment": "no"}}]},
            "feedback[0].overrideReason",
            "only",
        ),
        (
            {"feedback": [overridden(reason={"code": "x"})]},
            "feedback[0].overrideReason.reason.system",
            "required",
        ),
        ({"feedback": [overridden(reason="wrong")]}, "feedback[0].overrideReason.reason", "Coding"),
        ({"feedback": [overridden(userComment=5)]}, "feedback[0].overrideReason.userComment", "string"),
    ],
)
def test_bad_bodies_name_the_element(store, body, element, words):
    with pytest.raises(FeedbackError) as e:
        store.record(SVC, body)
    assert e.value.element == element
    assert element in str(e.value) and words in str(e.value)
    assert store.list() == []  # nothing stored from a body that failed


def test_a_bad_item_stores_nothing_of_its_body(store):
    with pytest.raises(FeedbackError):
        store.record(SVC, {"feedback": [accepted(), {"card": CARD}]})
    assert store.list() == []


def test_null_optionals_are_absent(store):
    assert (
        store.record(
            SVC, {"feedback": [{**overridden(), "overrideReason": None, "acceptedSuggestions": None}]}
        )
        == 1
    )
    row = store.list()[0]
    assert "overrideReason" not in row and "acceptedSuggestions" not in row


def test_survives_reopening_the_file(tmp_path):
    db = tmp_path / "sub" / "feedback.sqlite3"
    with FeedbackStore(db) as s:
        assert s.record(SVC, {"feedback": [accepted()]}) == 1
    with FeedbackStore(db) as s:
        assert [r["card"] for r in s.list(SVC)] == [CARD]
        assert s.record(SVC, {"feedback": [accepted()]}) == 0


def test_concurrent_writers(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    counts: list[int] = []

    def go(n: int) -> None:
        for i in range(10):
            body = {"feedback": [overridden(str(uuid.uuid4()), f"2021-12-11T10:{n:02d}:{i:02d}Z")]}
            counts.append(store.record(SVC, body))
            counts.append(store.record(SVC, body))  # resend: must not double up under contention

    threads = [threading.Thread(target=go, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 80
    assert len(store.list(SVC, limit=1000)) == 80
    store.close()


@pytest.mark.parametrize(
    "name",
    [
        "spec2.0_feedback-accepted.json",
        "spec2.0_feedback-overridden-no-reason.json",
        "spec2.0_feedback-overridden-with-reason.json",
    ],
)
def test_spec_examples_are_accepted(store, name):
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip("../shared (CDS Hooks examples) is not present")
    body = json.loads(path.read_text())
    assert store.record(SVC, body) == 1
    assert store.record(SVC, body) == 0
    assert store.list(SVC)[0]["card"] == body["feedback"][0]["card"]
