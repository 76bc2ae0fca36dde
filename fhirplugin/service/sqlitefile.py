"""The SQLite files the service keeps beside each other (feedback, seen ``jti`` values): opened the
same way, shared by the worker processes of one host."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_shared(path: str, schema: str, *, synchronous: str) -> sqlite3.Connection:
    """A connection to ``path`` (or ``":memory:"``), its folder made, in WAL mode with the given
    ``synchronous`` level for a file, with ``schema`` applied. The caller serialises use with a lock
    (``check_same_thread`` is off) and writes explicit transactions (autocommit otherwise)."""
    memory = path == ":memory:"
    if not memory:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        path if memory else str(Path(path).expanduser()),
        timeout=30,
        check_same_thread=False,
        isolation_level=None,
    )
    if not memory:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db
