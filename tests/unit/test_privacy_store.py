"""Persisted vaults: the ``VaultStore`` contract on every backend, and sealing with AES-GCM."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from outrigger.errors import ConfigError
from outrigger.privacy import (
    MemoryVaultStore,
    PersistedVaults,
    SqlVaultStore,
    Vault,
    VaultCipher,
    VaultSealError,
    VaultStore,
)
from outrigger.storage.db import Database
from outrigger.storage.schema import metadata


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    base: str = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> AsyncIterator[VaultStore]:
    if request.param == "memory":
        yield MemoryVaultStore(clock)
        return
    url = (
        f"sqlite:///{tmp_path / 'vaults.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    db = Database(url)
    metadata.create_all(db.engine)  # the real deployment gets the table from a migration
    made = SqlVaultStore(db, clock)
    yield made
    await made.close()
    db.dispose()


# --- the VaultStore contract -------------------------------------------------------------


async def test_put_get_replace_delete(store: VaultStore) -> None:
    assert isinstance(store, VaultStore)
    assert await store.get("v1") is None
    await store.put("v1", b"\x00sealed\xff", 60)
    assert await store.get("v1") == b"\x00sealed\xff"
    await store.put("v1", b"second", 60)
    assert await store.get("v1") == b"second"
    await store.delete("v1")
    assert await store.get("v1") is None
    await store.delete("v1")  # deleting a missing vault is not an error


async def test_expiry_and_purge(store: VaultStore, clock: Clock) -> None:
    await store.put("short", b"a", 10)
    await store.put("long", b"b", 100)
    clock.now += 10
    assert await store.get("short") is None
    assert await store.get("long") == b"b"
    assert await store.purge_expired() == 1
    assert await store.purge_expired() == 0
    clock.now += 100
    assert await store.purge_expired() == 1


# --- sealing -----------------------------------------------------------------------------


@pytest.fixture
def cipher() -> VaultCipher:
    return VaultCipher([bytes(range(32))])


def _vault() -> Vault:
    vault = Vault()
    vault.placeholder("PERSON", "Asha Rao")
    vault.placeholder("IN_AADHAAR", "4991 1866 5246")
    return vault


async def test_persisted_vault_round_trip_and_expiry(
    store: VaultStore, cipher: VaultCipher, clock: Clock
) -> None:
    vaults = PersistedVaults(store, cipher, ttl_s=3600)
    await vaults.save("evt-1", _vault())
    sealed = await store.get("evt-1")
    assert sealed is not None
    assert b"Asha" not in sealed and b"4991" not in sealed  # stored encrypted
    loaded = await vaults.load("evt-1")
    assert loaded is not None
    assert loaded.rehydrate("<PERSON_1> <AADHAAR_1>") == "Asha Rao 4991 1866 5246"
    clock.now += 3600
    assert await vaults.load("evt-1") is None
    assert await vaults.load("never-saved") is None


async def test_sealed_vault_is_bound_to_its_id_and_detects_tampering(
    cipher: VaultCipher, clock: Clock
) -> None:
    store = MemoryVaultStore(clock)
    vaults = PersistedVaults(store, cipher, ttl_s=60)
    await vaults.save("evt-1", _vault())
    sealed = await store.get("evt-1")
    assert sealed is not None
    await store.put("evt-2", sealed, 60)  # copied to another id
    with pytest.raises(VaultSealError):
        await vaults.load("evt-2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    await store.put("evt-1", tampered, 60)
    with pytest.raises(VaultSealError):
        await vaults.load("evt-1")


def test_key_rotation_and_unknown_keys() -> None:
    old, new = bytes(32), bytes([7]) * 32
    sealed_with_old = VaultCipher([old]).seal(b"data", "v")
    rotated = VaultCipher([new, old])
    assert rotated.open(sealed_with_old, "v") == b"data"
    assert rotated.seal(b"data", "v")[1:5] != sealed_with_old[1:5]  # new key seals
    with pytest.raises(VaultSealError, match="key ring"):
        VaultCipher([new]).open(sealed_with_old, "v")
    with pytest.raises(VaultSealError):
        rotated.open(b"junk", "v")


def test_keys_from_a_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "vault.keys"
    first, second = VaultCipher.generate_key(), VaultCipher.generate_key()
    path.write_text(f"{first}\n{second}\n")
    cipher = VaultCipher.from_secret_file(path)
    assert VaultCipher.from_secret_file(path).open(cipher.seal(b"x", "v"), "v") == b"x"
    path.write_text("not base64 !!!\n")
    with pytest.raises(ConfigError):
        VaultCipher.from_secret_file(path)
    with pytest.raises(ConfigError, match="32 bytes"):
        VaultCipher([b"short"])
    with pytest.raises(ConfigError):
        VaultCipher([])
