"""CDS Hooks 2.0 feedback (``POST /cds-services/{id}/feedback``), kept in SQLite.

A feedback body is ``{"feedback": [item, ...]}``; each item names a ``card`` (the uuid of a card we
sent), an ``outcome`` (``accepted`` or ``overridden``), an ``outcomeTimestamp`` (RFC 3339 date-time
with a zone), ``acceptedSuggestions`` (``[{"id": <suggestion uuid>}]``, required when accepted) and,
when overridden, an optional ``overrideReason`` (``reason``: a Coding, ``userComment``: text).

A whole body is checked before anything is stored; a bad one raises :class:`FeedbackError` naming the
element (``feedback[1].outcome``). Clients resend feedback, so an item is stored once per
(service, card, outcome, outcomeTimestamp); :meth:`FeedbackStore.record` returns how many items were
new. The item is stored as received (the spec's feedback carries no patient data) with the time it
arrived.

One connection per store, guarded by a lock, so the app may call it from worker threads; several
processes may share a file (SQLite locks it; WAL journal; full fsync on commit).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from fhirplugin.jsontypes import JSONObject
from fhirplugin.service.sqlitefile import open_shared

OUTCOMES = ("accepted", "overridden")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    item TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (service_id, card, outcome, outcome_timestamp)
);
CREATE INDEX IF NOT EXISTS feedback_by_service ON feedback (service_id, id);
"""


class FeedbackError(ValueError):
    """A feedback body that does not follow CDS Hooks 2.0; ``element`` says where."""

    def __init__(self, message: str, element: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.element = element


def _utc(ts: str) -> str:
    """An RFC 3339 timestamp in UTC, canonical (so equal instants compare equal)."""
    dt = datetime.fromisoformat(ts.upper())
    out = dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        out += f".{dt.microsecond:06d}".rstrip("0")
    return out + "Z"


def _string(item: dict, key: str, where: str, *, required: bool) -> str | None:
    v = item.get(key)
    if v is None:
        if required:
            raise FeedbackError(f"{where}.{key} is required.", f"{where}.{key}")
        return None
    if not isinstance(v, str) or not v.strip():
        raise FeedbackError(f"{where}.{key} must be a non-empty string.", f"{where}.{key}")
    return v


def _check_item(item: object, where: str) -> tuple[str, str, str]:
    if not isinstance(item, dict):
        raise FeedbackError(f"{where} must be a JSON object.", where)
    card = _string(item, "card", where, required=True)
    assert card is not None
    try:
        uuid.UUID(card)
    except ValueError:
        raise FeedbackError(
            f"{where}.card must be the uuid of a card (got {card[:40]!r}).", f"{where}.card"
        ) from None
    outcome = _string(item, "outcome", where, required=True)
    if outcome not in OUTCOMES:
        raise FeedbackError(
            f"{where}.outcome must be accepted or overridden (got {str(outcome)[:40]!r}).", f"{where}.outcome"
        )
    ts = _string(item, "outcomeTimestamp", where, required=True)
    assert ts is not None
    try:
        if not _RFC3339.match(ts):
            raise ValueError
        when = _utc(ts)
    except ValueError:
        raise FeedbackError(
            f"{where}.outcomeTimestamp must be an RFC 3339 date-time with a time zone, "
            f"e.g. 2021-12-11T10:05:31Z (got {ts[:40]!r}).",
            f"{where}.outcomeTimestamp",
        ) from None

    accepted = item.get("acceptedSuggestions")
    el = f"{where}.acceptedSuggestions"
    if accepted is not None:
        if not isinstance(accepted, list):
            raise FeedbackError(f"{el} must be an array of {{id}} objects.", el)
        for j, s in enumerate(accepted):
            if not isinstance(s, dict):
                raise FeedbackError(f"{el}[{j}] must be an object with an id.", f"{el}[{j}]")
            _string(s, "id", f"{el}[{j}]", required=True)
    if outcome == "accepted" and not accepted:
        raise FeedbackError(f"{el} is required when the outcome is accepted (the suggestions taken).", el)
    if outcome == "overridden" and accepted:
        raise FeedbackError(f"{el} is only for accepted outcomes; this one is overridden.", el)

    reason = item.get("overrideReason")
    el = f"{where}.overrideReason"
    if reason is not None:
        if outcome != "overridden":
            raise FeedbackError(f"{el} is only for overridden outcomes; this one is accepted.", el)
        if not isinstance(reason, dict):
            raise FeedbackError(f"{el} must be an object (reason, userComment).", el)
        coding = reason.get("reason")
        if coding is not None:
            if not isinstance(coding, dict):
                raise FeedbackError(f"{el}.reason must be a Coding (system, code).", f"{el}.reason")
            _string(coding, "system", f"{el}.reason", required=True)
            _string(coding, "code", f"{el}.reason", required=True)
            if coding.get("display") is not None and not isinstance(coding["display"], str):
                raise FeedbackError(f"{el}.reason.display must be a string.", f"{el}.reason.display")
        comment = reason.get("userComment")
        if comment is not None and not isinstance(comment, str):
            raise FeedbackError(f"{el}.userComment must be a string.", f"{el}.userComment")
    return card, outcome, when


def validate(body: object) -> list[tuple[str, str, str, dict]]:
    """The checked items of a feedback body as (card, outcome, UTC timestamp, item)."""
    if not isinstance(body, dict):
        raise FeedbackError("The feedback request must be a JSON object with a feedback array.", "feedback")
    items = body.get("feedback")
    if not isinstance(items, list):
        raise FeedbackError("feedback is required and must be an array of feedback items.", "feedback")
    out = []
    for i, item in enumerate(items):
        card, outcome, when = _check_item(item, f"feedback[{i}]")
        out.append((card, outcome, when, {k: v for k, v in item.items() if v is not None}))
    return out


class FeedbackStore:
    """Feedback items in an SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        # explicit transactions below; FULL: an acknowledged feedback item survives a power cut
        self._db = open_shared(self.path, _SCHEMA, synchronous="FULL")
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, service_id: str, body: JSONObject) -> int:
        """Store the body's feedback items; returns how many were new (resends count 0)."""
        if not isinstance(service_id, str) or not service_id:
            raise FeedbackError("The service id is missing.", None)
        items = validate(body)
        received = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                new = 0
                for card, outcome, when, item in items:
                    cur.execute(
                        "INSERT OR IGNORE INTO feedback "
                        "(service_id, card, outcome, outcome_timestamp, item, received_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (service_id, card.lower(), outcome, when, json.dumps(item, sort_keys=True), received),
                    )
                    new += cur.rowcount
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return new

    def list(self, service_id: str | None = None, limit: int = 100, before: int | None = None) -> list[dict]:
        """Stored items, newest first: the item as received plus ``id``, ``serviceId``, ``receivedAt``.

        ``before``: only items whose ``id`` is below it (the next page starts below the last ``id``
        of the previous one, so paging is stable while new feedback arrives)."""
        limit = max(0, int(limit))
        sql = "SELECT id, service_id, item, received_at FROM feedback"
        where: list[str] = []
        args: tuple = ()
        if service_id is not None:
            where.append("service_id = ?")
            args += (service_id,)
        if before is not None:
            where.append("id < ?")
            args += (int(before),)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [
            {
                "id": r["id"],
                "serviceId": r["service_id"],
                "receivedAt": r["received_at"],
                **json.loads(r["item"]),
            }
            for r in rows
        ]
