"""The seen-``jti`` store that refuses a replayed client JWT (CDS Hooks 2.0: a ``jti`` is used once).

:meth:`add` records ``(iss, jti)`` until the token's ``exp`` (plus leeway) and raises
:class:`Replayed` when the pair is already recorded and not yet expired.

* :class:`SqliteReplayStore` (what ``fhirplugin serve`` uses): a table in an SQLite file, by default
  beside the feedback store (``service.replay_db``). Every worker process of ``--workers N`` opens the
  same file, so a token accepted by one worker is refused by all the others, and a restart remembers
  every ``jti`` until it expires. The insert is one transaction on a primary key, so two workers racing
  with the same token cannot both win. WAL journal, ``synchronous=NORMAL``: a committed ``jti``
  survives a killed process (only a power loss of the host could drop the last ones).
* :class:`RedisReplayStore` (``service.replay_url = "redis://host:port/db"``): for several hosts
  behind one name, a ``SET NX`` with the expiry on a shared Redis server. Needs the ``redis`` package
  (``pip install 'fhirplugin[redis]'``).
* :class:`MemoryReplayStore`: this process only (library use and tests).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fhirplugin.service.sqlitefile import open_shared


class Replayed(Exception):
    """The ``(iss, jti)`` pair was seen before and has not expired."""


class MemoryReplayStore:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def add(self, iss: str, jti: str, until: float) -> None:
        now = time.time()
        with self._lock:
            if now >= self._next_purge:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                self._next_purge = now + 60
            if self._seen.get((iss, jti), 0.0) > now:
                raise Replayed
            self._seen[(iss, jti)] = until

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jti_seen (
    iss TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX IF NOT EXISTS jti_seen_by_expiry ON jti_seen (expires);
"""


class SqliteReplayStore:
    """Seen ``jti`` values in an SQLite file shared by the worker processes and kept across restarts."""

    purge_interval = 60.0  # seconds between deletions of expired rows

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._next_purge = 0.0
        self._db = open_shared(self.path, _SCHEMA, synchronous="NORMAL")

    def add(self, iss: str, jti: str, until: float) -> None:
        now = time.time()
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if now >= self._next_purge:
                    cur.execute("DELETE FROM jti_seen WHERE expires <= ?", (now,))
                    self._next_purge = now + self.purge_interval
                else:  # an expired row for this very pair may be reused
                    cur.execute(
                        "DELETE FROM jti_seen WHERE iss = ? AND jti = ? AND expires <= ?", (iss, jti, now)
                    )
                cur.execute(
                    "INSERT OR IGNORE INTO jti_seen (iss, jti, expires) VALUES (?, ?, ?)", (iss, jti, until)
                )
                fresh = cur.rowcount == 1
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        if not fresh:
            raise Replayed

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jti_seen").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisReplayStore:
    """Seen ``jti`` values on a Redis server (several hosts): ``SET key NX EXAT exp``."""

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError:
            raise RuntimeError(
                "service.replay_url needs the redis package: pip install 'fhirplugin[redis]'"
            ) from None
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def add(self, iss: str, jti: str, until: float) -> None:
        key = f"fhirplugin:jti:{len(iss)}:{iss}:{jti}"
        if not self._redis.set(key, b"1", nx=True, exat=max(int(until) + 1, int(time.time()) + 1)):
            raise Replayed

    def close(self) -> None:
        self._redis.close()


def replay_store(settings):
    """The store ``fhirplugin serve`` uses for these service settings."""
    if settings.replay_url:
        return RedisReplayStore(settings.replay_url)
    path = settings.replay_db
    if path is None:
        fb = Path(settings.feedback_db)
        path = ":memory:" if str(fb) == ":memory:" else fb.with_name(fb.stem + "-jti.sqlite3")
    return SqliteReplayStore(path)
