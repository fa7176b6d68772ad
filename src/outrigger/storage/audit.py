"""The tamper-evident audit trail: an append-only hash chain of LLM calls.

Each record stores the hash of the one before it and its own hash over its content plus
that link. Editing a record breaks its own hash; deleting or reordering records breaks the
links (and the sequence numbers). Appends take a write lock so that replicas sharing the
database extend one chain. Hashes of prompts and answers are stored, never the text.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from outrigger.storage.bulk import insert_rows
from outrigger.storage.db import Database, lock_writes
from outrigger.storage.schema import audit_log

GENESIS = "0" * 64
_AUDIT_LOCK = 0x6F72617564697400  # "oraudit"


@dataclass(frozen=True)
class AuditEntry:
    """What the proxy knows about a call; the chain fields are added on append."""

    ts: float
    call_id: str
    tenant_id: str
    feature: str
    alias: str
    deployment: str | None
    model: str | None
    prompt_hash: str
    response_hash: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    status: str
    trace_id: str | None
    #: The API key (its id) the call or the read came with; None for pipeline calls.
    actor: str | None = None
    #: For reads of the trail: what was read (JSON); None for LLM calls.
    detail: str | None = None
    #: Guard marks of the call, comma-separated (``injection``, ``injection_blocked``, ...).
    flags: str | None = None


#: Fields added after records were first written: hashed only when set, so the records
#: written before them keep verifying.
LATER_FIELDS = frozenset({"actor", "detail", "flags"})


@dataclass(frozen=True)
class Window:
    """A range of the trail: records after ``after`` (a seq), written in [since, until)."""

    after: int = 0
    since: float | None = None
    until: float | None = None


def sha256_text(text: str) -> str:
    """SHA-256 of ``text`` as UTF-8. A lone surrogate (which strict UTF-8 refuses, and the
    proxy never lets through) is hashed as its three WTF-8 bytes rather than failing:
    valid text hashes exactly as before."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def record_hash(seq: int, prev_hash: str, entry: dict[str, Any]) -> str:
    content = {
        k: v
        for k, v in entry.items()
        if k not in ("seq", "prev_hash", "hash") and not (v is None and k in LATER_FIELDS)
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return sha256_text(f"{seq}\n{prev_hash}\n{canonical}")


#: The tenant of records about the deployment as a whole (models, dead letters): no real
#: tenant id starts with an underscore.
DEPLOYMENT = "_deployment"
#: ``status`` of a change made by an operator (console or CLI); reads of the trail are "read".
ADMIN = "admin"


def action_entry(
    tenant_id: str,
    actor: str | None,
    feature: str,
    action: str,
    detail: Mapping[str, Any],
    status: str,
) -> AuditEntry:
    """A record of something done rather than an LLM call: who (``actor``), what
    (``feature.action``, e.g. ``admin.key.revoke`` or ``audit.read``) and its details as
    canonical JSON (kept in ``detail``, hashed as the record's prompt)."""
    text = json.dumps({"action": action, **detail}, sort_keys=True, separators=(",", ":"))
    return AuditEntry(
        time.time(), uuid.uuid4().hex, tenant_id, feature, f"{feature}.{action}", None, None,
        sha256_text(text), sha256_text(""), 0, 0, 0.0, status, None, actor, text[:1000],
    )  # fmt: skip


@dataclass(frozen=True)
class Break:
    seq: int
    reason: str


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: (call_id, ts) of entries whose append failed: the failure may have come after
        #: the commit (the connection lost before its reply), so when the writer hands
        #: them over again, those already in the trail are not appended a second time.
        self._uncertain: set[tuple[str, float]] = set()

    def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        try:
            self._append(entries)
        except Exception:
            self._uncertain.update((e.call_id, e.ts) for e in entries)
            raise
        self._uncertain.difference_update((e.call_id, e.ts) for e in entries)

    def _already_written(
        self, conn: sa.Connection, entries: Sequence[AuditEntry]
    ) -> set[tuple[str, float]]:
        """Which of the uncertain ``entries`` the trail already holds (only looked up
        after a failure, so a healthy append pays nothing for it)."""
        doubtful = {e.call_id for e in entries if (e.call_id, e.ts) in self._uncertain}
        if not doubtful:
            return set()
        c = audit_log.c
        query = sa.select(c.call_id, c.ts).where(c.call_id.in_(sorted(doubtful)))
        return {(r[0], r[1]) for r in conn.execute(query)}

    def _append(self, entries: Sequence[AuditEntry]) -> None:
        with self.db.engine.begin() as conn:
            lock_writes(conn, _AUDIT_LOCK)
            written = self._already_written(conn, entries)
            entries = [e for e in entries if (e.call_id, e.ts) not in written]
            if not entries:
                return
            last = conn.execute(
                sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc())
            ).first()
            seq, prev = (last[0], last[1]) if last else (0, GENESIS)
            rows = []
            for entry in entries:
                seq += 1
                row = dict(vars(entry))  # flat entries: no asdict deep copy
                digest = record_hash(seq, prev, row)
                rows.append({**row, "seq": seq, "prev_hash": prev, "hash": digest})
                prev = digest
            insert_rows(conn, audit_log, rows)

    def record_action(
        self, tenant_id: str, actor: str, action: str, detail: Mapping[str, Any]
    ) -> AuditEntry:
        """Chain an operator's change now (not through the batching writer), the same way
        whether it was made in the console or with the CLI: ``actor`` is the console's API
        key id or ``cli:<user>``, ``tenant_id`` the tenant changed (``DEPLOYMENT`` for
        models and dead letters)."""
        entry = action_entry(tenant_id, actor, ADMIN, action, detail, ADMIN)
        self.append([entry])
        return entry

    def records(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every record in chain order, read in pages."""
        after = 0
        while True:
            query = sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq)
            with self.db.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(query.limit(batch))]
            if not rows:
                return
            yield from rows
            after = rows[-1]["seq"]

    def page(self, tenant_id: str | None, window: Window, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` records of ``tenant_id`` (None: of every tenant) in ``window``,
        in chain order."""
        c = audit_log.c
        query = sa.select(audit_log).where(c.seq > window.after)
        if tenant_id is not None:
            query = query.where(c.tenant_id == tenant_id)
        if window.since is not None:
            query = query.where(c.ts >= window.since)
        if window.until is not None:
            query = query.where(c.ts < window.until)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.seq).limit(limit))
            return [dict(r._mapping) for r in rows]

    def verify(self) -> tuple[int, Break | None]:
        """How many records were checked, and the first broken link (None: intact)."""
        expected_seq, prev, count = 1, GENESIS, 0
        for row in self.records():
            count += 1
            seq = row["seq"]
            if seq != expected_seq:
                return count, Break(expected_seq, f"record {expected_seq} is missing (deleted)")
            if row["prev_hash"] != prev:
                return count, Break(
                    seq, f"record {seq} does not follow record {seq - 1} (reordered or replaced)"
                )
            if record_hash(seq, prev, row) != row["hash"]:
                return count, Break(seq, f"record {seq} was edited after it was written")
            prev, expected_seq = row["hash"], seq + 1
        return count, None
