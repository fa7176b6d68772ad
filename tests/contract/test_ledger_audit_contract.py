"""Tenants, keys, the ledger and the audit chain behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from outrigger.storage.audit import GENESIS, AuditEntry, AuditStore, Window, record_hash
from outrigger.storage.db import Database
from outrigger.storage.factory import open_database
from outrigger.storage.ledger import LedgerRecord, LedgerStore
from outrigger.storage.schema import audit_log
from outrigger.storage.tenants import Tenant, TenantError, TenantStore


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


def entry(i: int, tenant: str = "acme") -> AuditEntry:
    return AuditEntry(
        time.time(), uuid.uuid4().hex, tenant, "chat", "chat-default", "primary", "m",
        f"{i:064x}", f"{i + 1:064x}", 10 + i, 5, 0.001 * i, "ok", None,
    )  # fmt: skip


def record(tenant: str, feature: str, tokens_in: int, cost: float) -> LedgerRecord:
    return LedgerRecord(
        uuid.uuid4().hex, time.time(), "2026-11", tenant, feature, "chat-default", "primary",
        tokens_in, 3, cost, 12.5, "miss", "ok", None,
    )  # fmt: skip


def test_keys_are_stored_as_hashes_and_stop_working_when_revoked_or_expired(
    db: Database,
) -> None:
    store = TenantStore(db)
    store.create_tenant(Tenant("acme", "Acme", "free", "in"))
    with pytest.raises(TenantError):
        store.create_tenant(Tenant("acme", "Again", "free"))
    key, info = store.create_key("acme", "ci")
    assert info.prefix in key and key not in str(store.list_keys("acme"))
    with db.engine.connect() as conn:
        stored = conn.execute(sa.text("select key_hash, prefix from api_keys")).all()
    assert all(key not in value for row in stored for value in row)
    found = store.authenticate(key)
    assert found is not None and found[0] == Tenant("acme", "Acme", "free", "in", key_id=info.id)
    assert store.authenticate(key + "x") is None
    assert store.revoke_key(info.prefix) and not store.revoke_key(info.prefix)
    assert store.authenticate(key) is None
    expired, _ = store.create_key("acme", "old", expires_at=time.time() - 1)
    assert store.authenticate(expired) is None
    with pytest.raises(TenantError):
        store.create_key("nobody")


def test_ledger_usage_sums_per_feature_and_never_mixes_tenants(db: Database) -> None:
    ledger = LedgerStore(db)
    rows = [
        record("a", "chat", 10, 0.5),
        record("a", "chat", 20, 0.25),
        record("a", "claims", 5, 1.0),
    ]
    ledger.write([*rows, record("b", "chat", 99, 9.0)])
    ledger.write(rows[:1])  # a retried flush writes nothing twice
    usage = {line.feature: line for line in ledger.usage("a", "2026-11")}
    assert usage["chat"].calls == 2 and usage["chat"].tokens_in == 30
    assert usage["chat"].cost_usd == pytest.approx(0.75)
    assert usage["claims"].calls == 1
    assert ledger.count_calls("a", "2026-11") == 3 and ledger.count_calls("a", "2026-10") == 0


@pytest.fixture
def chain(db: Database) -> AuditStore:
    audit = AuditStore(db)
    audit.append([entry(i) for i in range(3)])
    audit.append([entry(i) for i in range(3, 6)])
    return audit


def test_an_untouched_chain_verifies(chain: AuditStore) -> None:
    assert chain.verify() == (6, None)
    assert [r["seq"] for r in chain.records(batch=4)] == [1, 2, 3, 4, 5, 6]


def test_an_edited_record_is_named(chain: AuditStore, db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 4).values(tokens_in=1))
    _, broken = chain.verify()
    assert broken is not None and broken.seq == 4 and "edited" in broken.reason


def test_a_deleted_record_is_named(chain: AuditStore, db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 3))
    _, broken = chain.verify()
    assert broken is not None and broken.seq == 3 and "missing" in broken.reason


def test_reordered_records_are_named(chain: AuditStore, db: Database) -> None:
    # Swap records 2 and 5 wholesale (content, links and hashes), keeping the numbering.
    with db.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(seq=-2))
        conn.execute(audit_log.update().where(audit_log.c.seq == 5).values(seq=2))
        conn.execute(audit_log.update().where(audit_log.c.seq == -2).values(seq=5))
    _, broken = chain.verify()
    assert broken is not None and broken.seq == 2 and "does not follow" in broken.reason


def test_a_record_rewritten_with_a_fresh_hash_breaks_the_next_link(
    chain: AuditStore, db: Database
) -> None:
    from outrigger.storage.audit import record_hash

    with db.engine.begin() as conn:
        row = dict(conn.execute(sa.select(audit_log).where(audit_log.c.seq == 3)).one()._mapping)
        row["tokens_out"] = 999
        forged = record_hash(3, row["prev_hash"], row)
        conn.execute(
            audit_log.update().where(audit_log.c.seq == 3).values(tokens_out=999, hash=forged)
        )
    _, broken = chain.verify()
    assert broken is not None and broken.seq == 4


def test_records_from_before_the_actor_column_still_verify(db: Database) -> None:
    """A record written before revision 0004 was hashed without ``actor`` and ``detail``:
    read back with both NULL it verifies; a record that names its actor has it hashed."""
    old = {k: v for k, v in vars(entry(0)).items() if k not in ("actor", "detail")}
    digest = record_hash(1, GENESIS, old)
    with db.engine.begin() as conn:
        conn.execute(audit_log.insert().values(**old, seq=1, prev_hash=GENESIS, hash=digest))
    audit = AuditStore(db)
    audit.append([AuditEntry(*list(vars(entry(1)).values())[:14], actor="key-1", detail="{}")])
    assert audit.verify() == (2, None)
    with db.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(actor="key-2"))
    _, broken = audit.verify()
    assert broken is not None and broken.seq == 2


def test_a_page_holds_one_tenants_records_in_the_window(db: Database) -> None:
    audit = AuditStore(db)
    audit.append([entry(i, tenant="ab"[i % 2]) for i in range(6)])
    assert [r["seq"] for r in audit.page("a", Window(), 10)] == [1, 3, 5]
    assert [r["seq"] for r in audit.page("a", Window(after=1), 1)] == [3]
    assert audit.page("a", Window(since=time.time() + 60), 10) == []
    assert len(audit.page("b", Window(until=time.time() + 60), 10)) == 3
