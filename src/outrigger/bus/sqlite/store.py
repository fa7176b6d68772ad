"""The synchronous SQLite side of the embedded bus: schema and one method per statement.

Every method runs on the bus's single database thread. Each write is its own committed
transaction in WAL mode, so a ``kill -9`` of any process using the file loses nothing that
was acknowledged as published, and never loses an unacknowledged message: its lease simply
expires and it is delivered again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outrigger.bus.base import BusMessage, DeadLetter, replay_message
from outrigger.bus.topics import topic_matches
from outrigger.storage.db import sqlite_setup

SCHEMA = """
CREATE TABLE IF NOT EXISTS bindings (
    exchange TEXT NOT NULL, pattern TEXT NOT NULL, queue TEXT NOT NULL,
    PRIMARY KEY (exchange, pattern, queue));
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, routing_key TEXT NOT NULL,
    body BLOB NOT NULL, headers TEXT NOT NULL, message_id TEXT, content_type TEXT,
    visible_at REAL NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0, lease TEXT);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL,
    routing_key TEXT NOT NULL, body BLOB NOT NULL, headers TEXT NOT NULL, message_id TEXT,
    content_type TEXT, reason_code TEXT NOT NULL, reason TEXT NOT NULL,
    attempts INTEGER NOT NULL, pipeline TEXT, failed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS temporary_queues (
    queue TEXT PRIMARY KEY, alive_until REAL NOT NULL);
"""

_INSERT = (
    "INSERT INTO messages (queue, routing_key, body, headers, message_id, content_type,"
    " visible_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_RECEIVE = """
UPDATE messages SET deliveries = deliveries + 1, lease = ?, visible_at = ?
WHERE seq IN (SELECT seq FROM messages WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?)
RETURNING seq, routing_key, body, headers, message_id, content_type, deliveries
"""

_REQUEUE = "UPDATE messages SET lease = NULL, visible_at = ? WHERE seq = ? AND lease = ?"

Row = tuple[int, BusMessage, int]


class SqliteQueueStore:
    def __init__(self, path: Path, synchronous: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        sqlite_setup(self._db, synchronous)
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def bind(self, exchange: str, patterns: Sequence[str], queue: str) -> None:
        with self._tx():
            self._db.executemany(
                "INSERT OR IGNORE INTO bindings VALUES (?, ?, ?)",
                [(exchange, p, queue) for p in patterns],
            )

    # -- temporary queues (followers) ---------------------------------------------------

    def hold_temporary(self, queue: str, until: float) -> None:
        """Keep the temporary ``queue`` alive until ``until`` (its consumer's heartbeat)."""
        with self._tx():
            self._db.execute(
                "INSERT INTO temporary_queues VALUES (?, ?)"
                " ON CONFLICT (queue) DO UPDATE SET alive_until = excluded.alive_until",
                (queue, until),
            )

    def drop_queue(self, queue: str) -> None:
        """Remove ``queue``: its bindings, its messages and its heartbeat."""
        with self._tx():
            self._drop(queue)

    def reap(self, now: float) -> int:
        """Drop the temporary queues whose consumer stopped beating (a killed follower)."""
        with self._tx():
            dead = self._db.execute(
                "SELECT queue FROM temporary_queues WHERE alive_until < ?", (now,)
            ).fetchall()
            for (queue,) in dead:
                self._drop(queue)
        return len(dead)

    def _drop(self, queue: str) -> None:
        for table in ("bindings", "messages", "temporary_queues"):
            self._db.execute(f"DELETE FROM {table} WHERE queue = ?", (queue,))

    def publish_many(self, items: Sequence[tuple[BusMessage, str]], now: float) -> list[int]:
        """Route and insert several messages in one transaction; per message, how many
        queues took it."""
        bindings: dict[str, list[tuple[str, str]]] = {}
        params: list[tuple[Any, ...]] = []
        counts: list[int] = []
        for message, exchange in items:
            if exchange == "":
                queues = [message.routing_key]
            else:
                if exchange not in bindings:
                    bindings[exchange] = self._db.execute(
                        "SELECT pattern, queue FROM bindings WHERE exchange = ?", (exchange,)
                    ).fetchall()
                rows = bindings[exchange]
                queues = sorted({q for p, q in rows if topic_matches(p, message.routing_key)})
            headers = json.dumps(dict(message.headers))
            params.extend(
                (
                    q,
                    message.routing_key,
                    message.body,
                    headers,
                    message.message_id,
                    message.content_type,
                    now,
                )
                for q in queues
            )
            counts.append(len(queues))
        with self._tx():
            self._db.executemany(_INSERT, params)
        return counts

    def receive(self, queue: str, limit: int, lease: str, now: float, until: float) -> list[Row]:
        rows = self._db.execute(_RECEIVE, (lease, until, queue, now, limit)).fetchall()
        rows.sort(key=lambda r: r[0])
        return [(r[0], _message(r[1:6]), r[6]) for r in rows]

    def settle_many(self, items: Sequence[tuple[int, str, bool, bool]], now: float) -> list[bool]:
        """Ack/drop (delete) or requeue messages in one transaction, each only if we still
        hold its lease; per item, whether it was ours to settle."""
        done = []
        with self._tx():
            for seq, lease, ack, requeue in items:
                if ack or not requeue:
                    cur = self._db.execute(
                        "DELETE FROM messages WHERE seq = ? AND lease = ?", (seq, lease)
                    )
                else:
                    cur = self._db.execute(
                        _REQUEUE,
                        (now, seq, lease),
                    )
                done.append(cur.rowcount == 1)
        return done

    def extend(self, seqs: Sequence[int], lease: str, until: float) -> None:
        with self._tx():
            self._db.executemany(
                "UPDATE messages SET visible_at = ? WHERE seq = ? AND lease = ?",
                [(until, s, lease) for s in seqs],
            )

    def depth(self, queue: str, now: float) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM messages WHERE queue = ? AND visible_at <= ?", (queue, now)
        ).fetchone()
        return int(row[0])

    # -- dead letters -------------------------------------------------------------------

    def put_dead_letter(self, letter: DeadLetter) -> None:
        m = letter.message
        with self._tx():
            self._db.execute(
                "INSERT OR IGNORE INTO dead_letters (id, queue, routing_key, body, headers,"
                " message_id, content_type, reason_code, reason, attempts, pipeline, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    letter.id,
                    letter.source_queue,
                    m.routing_key,
                    m.body,
                    json.dumps(dict(m.headers)),
                    m.message_id,
                    m.content_type,
                    letter.reason_code,
                    letter.reason,
                    letter.attempts,
                    letter.pipeline,
                    letter.failed_at.isoformat(),
                ),
            )

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        rows = self._db.execute(
            "SELECT routing_key, body, headers, message_id, content_type, reason_code, reason,"
            " attempts, queue, pipeline, id, failed_at FROM dead_letters ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [_letter(r) for r in rows]

    def count_dead_letters(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def replay(self, queue: str, ids: Sequence[str] | None, now: float) -> int:
        letters = self.dead_letters(limit=2**31)
        chosen = [x for x in letters if ids is None or x.id in ids]
        with self._tx():  # one transaction: a letter is either replayed or still dead
            for letter in chosen:
                m = replay_message(letter, queue)
                self._db.execute(
                    _INSERT,
                    (
                        queue,
                        m.routing_key,
                        m.body,
                        json.dumps(dict(m.headers)),
                        m.message_id,
                        m.content_type,
                        now,
                    ),
                )
                self._db.execute("DELETE FROM dead_letters WHERE id = ?", (letter.id,))
        return len(chosen)


def _message(cols: Sequence[Any]) -> BusMessage:
    routing_key, body, headers, message_id, content_type = cols
    return BusMessage(bytes(body), routing_key, json.loads(headers), message_id, content_type)


def _letter(r: Sequence[Any]) -> DeadLetter:
    failed_at = datetime.fromisoformat(r[11]).astimezone(UTC)
    return DeadLetter(
        message=_message(r[0:5]),
        reason_code=r[5],
        reason=r[6],
        attempts=r[7],
        source_queue=r[8],
        pipeline=r[9],
        id=r[10],
        failed_at=failed_at,
    )
